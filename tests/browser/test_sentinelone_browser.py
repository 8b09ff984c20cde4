"""SentinelOne's Customers tab in a real browser: the matching method, the unmapped list, Import customers
and Import sites filling the mapping table, mapping one site by hand and removing a mapping."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User
from portal.domain.integrations.models import Connection
from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES
from tests.conftest import TEST_PASSWORD
from tests.integrations.sentinelone.conftest import make_world
from tests.serving import served

pytestmark = pytest.mark.browser
FIXTURE = CONSOLES["usea1"]


async def _sign_in(page: Any, live_server: str, user: User) -> None:
    await page.goto(f"{live_server}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")


async def test_the_mapping_table_and_its_import_buttons(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, settings, sessionmaker
) -> None:
    emulator_app, state = create_emulator(console="usea1")
    with served(emulator_app, what="the SentinelOne emulator") as console_url:
        async with httpx.AsyncClient() as http:
            world = await make_world(settings, sessionmaker, state, http)
        async with session_scope(sessionmaker) as session:
            connection = await session.get(Connection, world.connection_id)
            assert connection is not None
            connection.config = {**connection.config, "console_url": console_url}
        admin = await make_user(Role.ADMIN)
        page = browser_page
        await _sign_in(page, live_server, admin)
        await page.goto(f"{live_server}/integrations/connections/{world.connection_id}")
        await page.click("[data-testid=connection-tabs] >> text=Customers")
        await page.wait_for_url(f"{live_server}/integrations/connections/{world.connection_id}/customers")
        await page.locator("[data-testid=unmapped-table]").wait_for()
        assert await page.locator("[data-testid=no-mappings]").is_visible()
        for account in FIXTURE.accounts:
            assert await page.locator(f"[data-testid=unmapped-row][data-remote='{account.id}']").count() == 1

        await page.click("[data-testid=import-sites]")  # before customers: refused, with why
        await page.locator(".flash", has_text="Import customers first").wait_for()

        await page.click("[data-testid=import-customers]")
        await page.locator(".flash", has_text="3 clients created").wait_for()
        assert await page.locator("[data-testid=mapping-row][data-kind=account]").count() == 3
        northwind = FIXTURE.account("Northwind Traders")
        row = page.locator(f"[data-testid=mapping-row][data-remote='{northwind.id}']")
        assert "Northwind Traders" in await row.inner_text()

        await page.click("[data-testid=import-sites]")
        sites = sum(len(account.sites) for account in FIXTURE.accounts)
        await page.locator(".flash", has_text=f"{sites} sites created").wait_for()
        assert await page.locator("[data-testid=mapping-row][data-kind=site]").count() == sites
        assert await page.locator("[data-testid=all-mapped]").is_visible()

        seattle = FIXTURE.site("Seattle HQ")
        mapping = page.locator(f"[data-testid=mapping-row][data-remote='{seattle.id}']")
        await mapping.locator("[data-testid=remove-mapping]").click()
        await mapping.locator("[data-testid=remove-mapping-confirm]").click()
        await page.wait_for_url(f"{live_server}/integrations/connections/{world.connection_id}/customers")
        unmapped = page.locator(f"[data-testid=unmapped-row][data-remote='{seattle.id}']")
        await unmapped.wait_for()
        assert "covered by its account" in await unmapped.inner_text()
        await unmapped.locator("select[name=client_id]").select_option(label="Northwind Traders")
        await unmapped.locator("[data-testid=map-button]").click()
        await page.locator(".flash", has_text="Seattle HQ mapped to Northwind Traders").wait_for()
        assert await page.locator(f"[data-testid=mapping-row][data-remote='{seattle.id}']").count() == 1

        await page.check("[data-testid=method-site]")
        await page.click("[data-testid=save-method]")
        await page.locator(".flash", has_text="Matching method saved").wait_for()
        assert await page.locator("[data-testid=import-sites]").is_disabled()
    assert browser_problems == []

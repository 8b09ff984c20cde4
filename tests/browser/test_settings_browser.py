"""An administrator sets up a limited analyst and changes an SLA, then finds it in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.domain.accounts.models import Role, User
from tests.conftest import TEST_PASSWORD
from tests.domain.test_settings_helpers import make_client

pytestmark = pytest.mark.browser


async def test_admin_creates_a_limited_analyst_and_changes_an_sla(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    acme = await make_client(sessionmaker, "Acme Corp")
    await make_client(sessionmaker, "Globex")
    page = browser_page

    await page.goto(f"{live_server}/login")
    await page.fill("#email", admin.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")

    await page.click("nav.nav >> text=Settings")
    await page.wait_for_url(f"{live_server}/settings")
    await page.click("[data-testid=settings-card-users]")
    await page.click("[data-testid=new-user]")
    await page.fill("#email", "limited.analyst@msp.example")
    await page.fill("#display_name", "Limited Analyst")
    await page.select_option("#role", "analyst")
    await page.check("[data-testid=scope-limited]")
    await page.get_by_label("Acme Corp").check()
    await page.click("[data-testid=user-save]")  # no password typed: one is generated and shown once

    password = (await page.locator("[data-testid=issued-password]").inner_text()).strip()
    assert len(password) >= 20
    assert await page.locator("h1").inner_text() == "Limited Analyst"
    assert await page.get_by_label("Acme Corp").is_checked()
    assert not await page.get_by_label("Globex").is_checked()
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "limited.analyst@msp.example"))
        assert user is not None
        assert (user.role, user.all_clients, user.client_ids) == ("analyst", False, frozenset({acme.id}))

    await page.click(".settings-nav >> text=Priorities")
    row = page.locator("tr[data-name='P2 - High']")
    await row.get_by_label("First response target of P2 - High in minutes").fill("45")
    await row.locator("[data-testid=save]").click()
    await page.wait_for_url(f"{live_server}/settings/priorities")
    assert "Priority “P2 - High” saved." in await page.locator("#flashes").inner_text()
    assert await row.get_by_label("First response target of P2 - High in minutes").input_value() == "45"

    await page.click(".settings-nav >> text=Audit log")
    await page.select_option("#object_type", "priority")  # filters swap the results in place (HTMX)
    await page.wait_for_url(lambda url: "object_type=priority" in url)
    entries = page.locator("[data-testid=audit-row]")
    await entries.first.wait_for()
    assert await entries.count() == 1
    text = await entries.first.inner_text()
    assert "priority.update" in text
    assert "P2 - High" in text
    assert admin.email in text
    assert "sla_response_minutes" in text
    assert "60" in text
    assert "45" in text

    await page.select_option("#object_type", "user")
    await page.wait_for_url(lambda url: "object_type=user" in url)
    await page.locator("[data-action='user.create']").wait_for()
    assert "Acme Corp" in await page.locator("[data-action='user.create']").inner_text()
    assert browser_problems == []

"""An admin finds a client, walks through its tabs and adds a site, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.clients.service import create_client
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


async def test_admin_searches_opens_a_client_and_adds_a_site(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    scope = Scope(user_id=admin.id, role=Role.ADMIN, all_clients=True, client_ids=frozenset(), label=admin.email)
    async with session_scope(sessionmaker) as session:
        for name, reference in (("Acme Corp", "AC-1"), ("Globex", "GX-2"), ("Initech", "IN-3")):
            await create_client(session, scope, name, reference, "")
    page = browser_page

    await page.goto(f"{live_server}/login?next=/clients")
    await page.fill("#email", admin.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/clients")
    rows = page.locator("[data-testid=client-row]")
    assert await rows.count() == 3

    # Live search: typing narrows the list through htmx and the address bar follows.
    async with page.expect_response(lambda r: "/clients?q=" in r.url and r.status == 200):
        await page.fill("[data-testid=client-search]", "gx")
    await page.wait_for_function("document.querySelectorAll('[data-testid=client-row]').length === 1")
    assert await rows.first.locator("td").first.inner_text() == "Globex"
    assert page.url.endswith("/clients?q=gx")

    await rows.first.locator("a").first.click()
    await page.wait_for_url(f"{live_server}/clients/*")
    client_url = page.url
    assert await page.locator("[data-testid=client-name]").inner_text() == "Globex"
    assert await page.locator("[data-testid=client-tabs] a[aria-current=page]").get_attribute("data-tab") == (
        "overview"
    )

    await page.click("[data-testid=client-tabs] a[data-tab=integrations]")
    await page.wait_for_url(f"{client_url}/integrations")
    assert "No integrations connected yet" in await page.locator("[data-testid=client-integrations]").inner_text()

    await page.click("[data-testid=client-tabs] a[data-tab=sites]")
    await page.wait_for_url(f"{client_url}/sites")
    assert await page.locator("[data-testid=client-tabs] a[aria-current=page]").get_attribute("data-tab") == "sites"
    assert await page.locator("[data-testid=site-row]").count() == 1

    await page.fill("#new-site-name", "Rotterdam DC")
    await page.fill("#new-site-address", "Waalhaven 12")
    await page.click("[data-testid=add-site]")
    new_row = page.locator("[data-testid=site-row][data-site='Rotterdam DC']")
    await new_row.wait_for()
    assert "Waalhaven 12" in await new_row.inner_text()
    assert await page.locator("[data-testid=site-row]").count() == 2
    assert "added" in await page.locator("[data-testid=sites-notice]").inner_text()
    # The add form was swapped with the list (htmx), so it is empty and ready for the next site.
    assert await page.input_value("#new-site-name") == ""

    # A plain reload shows the same: the site is stored, not only drawn.
    await page.reload()
    assert await page.locator("[data-testid=site-row][data-site='Rotterdam DC']").count() == 1
    assert await page.locator("[data-testid=client-tabs] a[data-tab=sites] .tab-count").inner_text() == "2"
    assert browser_problems == []

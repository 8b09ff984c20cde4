"""Integrations in a real browser: adding a connection (a refused form, then a saved one), walking its
tabs, mapping and linking a client, a running sync refreshing itself, and the sync health page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.clients.service import create_client
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.models import RunOutcome, SyncRun
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

SECRET = "browser-client-secret-123"


async def _sign_in(page: Any, live_server: str, user: User) -> None:
    await page.goto(f"{live_server}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")


async def test_admin_adds_a_connection_after_fixing_a_field(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    page = browser_page
    await _sign_in(page, live_server, admin)

    await page.click("nav.nav >> text=Integrations")
    await page.wait_for_url(f"{live_server}/integrations")
    await page.click("[data-testid=vendor-acme]")
    await page.wait_for_url(f"{live_server}/integrations/new?vendor=acme")
    assert "/authcallback" in await page.locator("[data-testid=redirect-uri]").inner_text()

    await page.fill("#name", "Acme EU")
    await page.fill("#api_url", "acme.test")  # no scheme: refused
    await page.fill("#login_url", "https://login.acme.test")
    await page.fill("#client_id", "socdesk-app")
    await page.fill("#client_secret", SECRET)
    await page.click("[data-testid=save-connection]")
    error = page.locator("#api_url-error")
    await error.wait_for()
    assert "http(s) address" in await error.inner_text()
    assert await page.get_attribute("#api_url", "aria-invalid") == "true"
    assert await page.input_value("#name") == "Acme EU"  # what was typed stays...
    assert await page.input_value("#client_secret") == ""  # ...but never a secret
    assert SECRET not in await page.content()

    await page.fill("#api_url", "https://acme.test")
    await page.fill("#client_secret", SECRET)
    await page.click("[data-testid=save-connection]")
    await page.wait_for_url(f"{live_server}/integrations/connections/*")
    assert await page.locator("[data-testid=connection-name]").inner_text() == "Acme EU"
    assert "created" in await page.locator("#flashes").inner_text()
    assert await page.locator("[data-testid=reauth-banner]").is_visible()  # sign in next
    assert SECRET not in await page.content()
    async with sessionmaker() as session:
        connection = await session.scalar(select(Connection))
        assert connection is not None
        assert connection.config["api_url"] == "https://acme.test"
    assert browser_problems == []


async def test_admin_walks_the_tabs_maps_and_links_a_client(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    scope = Scope(admin.id, Role.ADMIN, True, frozenset(), admin.email)
    async with session_scope(sessionmaker) as session:
        await create_client(session, scope, "Globex")
        connection = Connection(
            vendor="acme", name="Acme EU", status=ConnectionStatus.CONNECTED.value,
            config={"api_url": "https://acme.test", "login_url": "https://acme.test", "client_id": "app"},
            schedules={"cases": {"enabled": True, "minutes": 15}},
        )  # fmt: skip
        session.add(connection)
    page = browser_page
    await _sign_in(page, live_server, admin)
    base = f"{live_server}/integrations/connections/{connection.id}"
    await page.goto(base)
    assert await page.locator("[data-testid=missing-mappings]").is_visible()

    # Tabs swap in place (htmx) and the address follows.
    tabs = page.locator("[data-testid=connection-tabs]")
    for key, path in (
        ("runs", "/runs"),
        ("watermarks", "/watermarks"),
        ("requests", "/requests"),
        ("events", "/events"),
    ):
        await tabs.locator(f"a[data-tab={key}]").click()
        await page.wait_for_url(base + path)
        await page.wait_for_selector(f"[data-testid=connection-tabs] a[data-tab={key}][aria-current=page]")

    await tabs.locator("a[data-tab=mappings]").click()
    await page.wait_for_url(base + "/mappings")
    await page.select_option("#mapping-ticket_type", label="Alert")
    await page.click("[data-testid=save-mappings]")
    await page.wait_for_url(base + "/mappings")
    assert "Mappings saved." in await page.locator("#flashes").inner_text()
    assert await page.locator("[data-testid=missing-mappings]").count() == 0

    await page.locator("[data-testid=connection-tabs] a[data-tab=clients]").click()
    await page.wait_for_url(base + "/clients")
    await page.select_option("#new-link-client_id", label="Globex")
    await page.click("[data-testid=add-link]")  # the tenant is missing
    await page.locator("#new-link-tenant-error").wait_for()
    await page.fill("#new-link-tenant", "globex-tenant")
    await page.click("[data-testid=add-link]")
    row = page.locator("[data-testid=link-health-row][data-client=Globex]")
    await row.wait_for()
    assert "globex-tenant" in await row.inner_text()
    async with sessionmaker() as session:
        link = await session.scalar(select(ClientLink))
        assert link is not None
        assert link.remote_scope == "globex-tenant"

    # Sync now answers in the flash region without leaving the page.
    await row.locator("[data-testid=sync-now]").click()
    notice = page.locator("[data-testid=notice]")
    await notice.wait_for()
    assert "Sync of Cases of Globex (globex-tenant) queued." in await notice.inner_text()
    assert page.url == base + "/clients"
    assert browser_problems == []


async def test_sync_health_shows_links_and_a_running_sync_updates_itself(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    scope = Scope(admin.id, Role.ADMIN, True, frozenset(), admin.email)
    async with session_scope(sessionmaker) as session:
        globex = await create_client(session, scope, "Globex")
        connection = Connection(
            vendor="acme", name="Acme EU", status=ConnectionStatus.CONNECTED.value, mappings={"ticket_type": "x"},
            schedules={"cases": {"enabled": True, "minutes": 15}},
        )  # fmt: skip
        session.add(connection)
        await session.flush()
        link = ClientLink(connection_id=connection.id, client_id=globex.id, remote_scope="g-1")
        session.add(link)
        await session.flush()
        run = SyncRun(connection_id=connection.id, client_link_id=link.id, entity="cases", trigger="manual", pages=1)
        session.add(run)
    page = browser_page
    await _sign_in(page, live_server, admin)
    await page.click("nav.nav >> text=Sync health")
    await page.wait_for_url(f"{live_server}/sync-health")
    card = page.locator("[data-testid=sync-connection][data-name='Acme EU']")
    assert await card.locator("[data-testid=link-health-row][data-client=Globex]").count() == 1
    progress = card.locator(f"#run-{run.id} [data-testid=run-progress]")
    assert "page 1" in await progress.inner_text()

    # The worker moves on; the row polls itself every 2 s and shows it, then stops polling.
    async with session_scope(sessionmaker) as session:
        stored = await session.get(SyncRun, run.id)
        assert stored is not None
        stored.pages, stored.created = 3, 12
        stored.outcome, stored.finished_at = RunOutcome.SUCCEEDED.value, utcnow()
    await page.wait_for_selector(f"#run-{run.id}[data-outcome=succeeded]", timeout=10_000)
    finished = page.locator(f"#run-{run.id}")
    assert await finished.get_attribute("hx-trigger") is None
    assert "12" in await finished.inner_text()

    await page.click("[data-testid=all-runs]")
    await page.wait_for_url(f"{live_server}/sync-health/runs")
    await page.select_option("[data-testid=runs-outcome]", "failed")
    await page.wait_for_url("**/sync-health/runs?*outcome=failed")
    await page.locator("text=No sync runs").wait_for()
    assert browser_problems == []

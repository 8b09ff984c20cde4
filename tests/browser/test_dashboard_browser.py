"""The live dashboard in a real browser: imports appear without a reload, scope holds, a dropped stream is said."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.tickets import service
from portal.domain.tickets.models import Priority, TicketSource, TicketType
from tests.conftest import TEST_PASSWORD
from tests.live.support import limit_to, make_clients, make_ticket, publishing  # noqa: F401  (a fixture)
from tests.sync.harness import make_world
from workers.queue import JobQueue, enqueue_sync
from workers.settings import build_worker

pytestmark = pytest.mark.browser


async def _sign_in(page: Any, base: str, email: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{base}/")


async def _live(page: Any) -> None:
    await page.wait_for_selector("[data-live-status=live]", timeout=10_000)


def _open_count(page: Any) -> Any:
    return page.locator("[data-testid=figure-open] .figure")


async def test_a_case_imported_by_the_worker_appears_on_an_open_dashboard(
    live_server: str, browser_page: Any, browser_problems: list[str], settings: Settings, sessionmaker, make_user
) -> None:
    world = await make_world(settings, sessionmaker)
    admin = await make_user(Role.ADMIN)
    page = browser_page
    await _sign_in(page, live_server, admin.email)
    await _live(page)
    assert await _open_count(page).inner_text() == "0"
    loads = []
    page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)

    world.case("Ransomware note on FS01")
    queue = await JobQueue.connect(str(settings.redis_url))
    try:
        await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
    finally:
        await queue.close()
    worker = build_worker(
        settings, str(settings.database_url), str(settings.redis_url), burst=True, poll_delay=0, cron_jobs=[],
        http_client=world.runtime.http,
    )  # fmt: skip
    try:
        await worker.main()
    finally:
        await worker.close()

    latest = page.locator("[data-testid=latest-ticket]", has_text="Ransomware note on FS01")
    await latest.wait_for(timeout=5_000)
    assert await _open_count(page).inner_text() == "1"
    assert loads == []  # no reload: the fragment was swapped in
    assert browser_problems == []


@pytest.mark.usefixtures("publishing")
async def test_a_limited_analysts_dashboard_never_shows_another_clients_numbers(
    live_server: str, browser_page: Any, browser_problems: list[str], sessionmaker, make_user
) -> None:
    mine, theirs = await make_clients(sessionmaker, "Northwind", "Globex")
    await make_ticket(sessionmaker, mine, summary="Northwind phishing")
    for n in range(3):
        await make_ticket(sessionmaker, theirs, summary=f"Globex malware {n}")
    analyst = await make_user(Role.ANALYST)
    await limit_to(sessionmaker, analyst, mine)
    page = browser_page
    await _sign_in(page, live_server, analyst.email)
    await _live(page)
    assert await _open_count(page).inner_text() == "1"

    await make_ticket(sessionmaker, theirs, summary="Globex lateral movement")
    await page.wait_for_timeout(1500)  # had the event reached this page, it would have refreshed by now
    assert await _open_count(page).inner_text() == "1"

    await make_ticket(sessionmaker, mine, summary="Northwind impossible travel")
    await page.locator("[data-testid=latest-ticket]", has_text="Northwind impossible travel").wait_for(timeout=5_000)
    assert await _open_count(page).inner_text() == "2"
    content = await page.content()
    assert "Globex" not in content
    clients = await page.locator("[data-testid=client-row]").all_inner_texts()
    assert [row.split("\t")[0].strip() for row in clients] == ["Northwind"]
    assert browser_problems == []


@pytest.mark.usefixtures("publishing")
async def test_when_the_stream_drops_the_page_says_so_and_refreshes_periodically(
    live_server: str, browser_page: Any, browser_problems: list[str], sessionmaker, make_user
) -> None:
    [client_id] = await make_clients(sessionmaker, "Northwind")
    admin = await make_user(Role.ADMIN)
    page = browser_page
    await page.route("**/live/stream**", lambda route: route.abort())
    await _sign_in(page, live_server, admin.email)
    status = page.locator("[data-testid=live-status]")
    await page.wait_for_selector("[data-live-status=polling]", timeout=10_000)
    assert "refreshing every 15 s" in await status.inner_text()

    await make_ticket(sessionmaker, client_id, summary="Seen by polling")
    await page.locator("[data-testid=latest-ticket]", has_text="Seen by polling").wait_for(timeout=20_000)

    await page.unroute("**/live/stream**")
    await page.wait_for_selector("[data-live-status=live]", timeout=70_000)  # the extension keeps retrying
    assert await status.inner_text() == "Live"
    # htmx logs each htmx:sseError it raises (the aborted stream) to the console as "[object Event]".
    assert [problem for problem in browser_problems if problem != "[object Event]"] == []


@pytest.mark.usefixtures("publishing")
async def test_sync_health_follows_a_connection_that_needs_sign_in_again(
    live_server: str, browser_page: Any, browser_problems: list[str], settings: Settings, sessionmaker, make_user
) -> None:
    world = await make_world(settings, sessionmaker)
    admin = await make_user(Role.ADMIN)
    page = browser_page
    await _sign_in(page, live_server, admin.email)
    await page.goto(f"{live_server}/sync-health")
    await _live(page)
    card = page.locator("[data-testid=sync-connection]").first
    assert await card.get_attribute("data-health") != "needs_reauth"

    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, world.connection_id)
        assert connection is not None
        connection.status = ConnectionStatus.NEEDS_REAUTH.value  # as a refused token refresh does
    await page.wait_for_selector("[data-testid=sync-connection][data-health=needs_reauth]", timeout=5_000)
    assert browser_problems == []


@pytest.mark.usefixtures("publishing")
async def test_the_incident_view_colours_by_severity_and_follows_new_alerts(
    live_server: str, browser_page: Any, browser_problems: list[str], sessionmaker, make_user
) -> None:
    [client_id] = await make_clients(sessionmaker, "Northwind")
    admin = await make_user(Role.ADMIN)
    page = browser_page
    await _sign_in(page, live_server, admin.email)
    await page.goto(f"{live_server}/tickets?source=security")
    await _live(page)
    assert await page.locator("h1").inner_text() == "Incidents and alerts"
    assert await page.locator("[data-testid=ticket-row]").count() == 0

    await make_ticket(sessionmaker, client_id, summary="Raised by hand")  # manual: not an incident view row
    async with session_scope(sessionmaker) as session:
        ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
        assert ticket_type is not None
        critical = await session.scalar(select(Priority).where(Priority.rank == 1))
        assert critical is not None
        new = service.NewTicket(
            client_id=client_id,
            ticket_type_id=ticket_type.id,
            summary="Ransomware beacon",
            priority_id=critical.id,
            source=TicketSource.ACME,
            opened_at=utcnow() - timedelta(hours=1),  # past its 15-minute response target
        )
        await service.create_ticket(session, Scope.system(), new)
    row = page.locator("[data-testid=ticket-row]", has_text="Ransomware beacon")
    await row.wait_for(timeout=5_000)
    assert await row.get_attribute("class") == "sev-row sev-row-1 sla-breached"
    assert await page.locator("[data-testid=ticket-row]").count() == 1
    assert browser_problems == []

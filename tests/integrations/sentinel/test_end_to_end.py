"""Sentinel end to end: a real browser, a real worker process, real PostgreSQL and Redis, the emulator over HTTP.

An administrator signs in to Microsoft for a customer tenant through the emulator's sign-in and
consent pages, links a client to its workspace with the picker, and the worker imports the last
7 days of incidents. A comment written in Sentinel shows on the ticket; a note synced from socdesk
shows in Sentinel and does not come back after three more sync cycles; closing the ticket as
TruePositive/SuspiciousActivity closes the incident with those values; reopening it in Sentinel
reopens the ticket.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import SyncState
from portal.domain.tickets.models import Status, Ticket, TicketAction
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.state import SentinelState
from portal.integrations.sentinel.emulator.times import from_ticks
from tests.conftest import TEST_PASSWORD
from tests.integrations.sentinel.world import default_mappings
from tests.serving import served, start_worker
from workers.queue import JobQueue, enqueue_sync, nudge_outbox

pytestmark = pytest.mark.browser

WOODGROVE = fixtures.TENANTS[1]


@pytest.fixture
def microsoft() -> Iterator[tuple[SentinelState, str]]:
    app, state = create_emulator(SentinelState())
    with served(app, what="the Sentinel emulator") as url:
        yield state, url


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not await check():  # noqa: ASYNC110  (another process writes)
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


async def test_sentinel_end_to_end(
    settings: Settings, sessionmaker, live_server: str, browser_page: Any, browser_problems: list[str], make_user,
    microsoft: tuple[SentinelState, str],
) -> None:  # fmt: skip
    state, emulator_url = microsoft
    state.identity.register_client(
        fixtures.DEMO_CLIENT_ID,
        fixtures.DEMO_CLIENT_SECRET,
        [f"{live_server}/authcallback"],
        name=fixtures.DEMO_APP_NAME,
    )
    workspace = state.workspace(WOODGROVE.workspace)
    since = state.clock.now() - timedelta(days=7)
    expected = {i.name for i in workspace.incidents.values() if from_ticks(i.modified) >= since}
    assert 0 < len(expected) < len(workspace.incidents)

    admin: User = await make_user(Role.ADMIN)
    box = SecretBox.from_settings(settings)
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="sentinel", name="Sentinel (e2e)", status="needs_reauth",
            config={"client_id": fixtures.DEMO_CLIENT_ID, "cloud": "public", "login_url": emulator_url,
                    "arm_url": emulator_url, "api_version": "2025-06-01", "page_size": 5},
            mappings=await default_mappings(session),
            secrets_ciphertext=box.seal({"client_secret": fixtures.DEMO_CLIENT_SECRET}),
        )  # fmt: skip
        customer = Client(name=WOODGROVE.client_name)
        customer.sites = [Site(name="Head office", is_main=True)]
        session.add_all([connection, customer])
        await session.flush()
        connection_id, client_id = connection.id, customer.id

    page = browser_page
    await page.goto(f"{live_server}/login")
    await page.fill("#email", admin.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")

    # Sign in with Microsoft for the customer tenant: the emulator's sign-in, then its consent screen.
    await page.goto(f"{live_server}/integrations/connections/{connection_id}/tenants")
    await page.fill("[data-testid=sentinel-sign-in-tenant]", WOODGROVE.tenant_id)
    await page.click("[data-testid=sentinel-sign-in]")
    await page.wait_for_url(f"{emulator_url}/**")
    await page.fill("#login", WOODGROVE.admin_upn)
    await page.fill("#passwd", fixtures.DEMO_PASSWORD)
    await page.click("button[value=signin]")
    await page.click("button[value=accept]")
    await page.wait_for_url(f"{live_server}/integrations/connections/{connection_id}")
    await page.goto(f"{live_server}/integrations/connections/{connection_id}/tenants")
    assert await page.locator(f"[data-testid=sentinel-tenant-row][data-tenant='{WOODGROVE.tenant_id}']").count() == 1

    # The client's workspace, chosen with the picker (ARM lists what the signed-in account sees).
    await page.goto(f"{live_server}/clients/{client_id}/integrations?connection={connection_id}")
    await page.fill("#client-link-tenant_id", WOODGROVE.tenant_id)
    await page.click("[data-testid=sentinel-find-workspaces]")
    await page.click(f"[data-testid=sentinel-pick-workspace][data-workspace='{WOODGROVE.workspace}']")
    await page.wait_for_function(
        "name => document.querySelector('#client-link-workspace_name').value === name", arg=WOODGROVE.workspace
    )
    assert await page.input_value("#client-link-subscription_id") == WOODGROVE.subscription_id
    assert await page.input_value("#client-link-resource_group") == WOODGROVE.resource_group
    await page.click("[data-testid=link-client]")
    await page.wait_for_load_state()
    async with session_scope(sessionmaker) as session:
        link = await session.scalar(select(ClientLink).where(ClientLink.client_id == client_id))
        assert link is not None
        assert link.settings["workspace_name"] == WOODGROVE.workspace
        link_id = link.id

    async def imported() -> dict[str, Any]:
        async with session_scope(sessionmaker) as session:
            rows = await session.execute(
                select(ExternalLink.remote_id, ExternalLink.local_id).where(
                    ExternalLink.connection_id == connection_id, ExternalLink.local_type == "ticket"
                )
            )
            return {remote_id.rsplit("/", 1)[1]: local_id for remote_id, local_id in rows.all()}

    async def run_finished() -> bool:
        async with session_scope(sessionmaker) as session:
            sync = await session.scalar(select(SyncState).where(SyncState.client_link_id == link_id))
            return sync is not None and sync.run_id is None and sync.last_success_at is not None

    async def notes_of(ticket_id: Any) -> list[tuple[str, str | None]]:
        async with session_scope(sessionmaker) as session:
            actions = await session.scalars(
                select(TicketAction)
                .where(TicketAction.ticket_id == ticket_id, TicketAction.kind == "note")
                .order_by(TicketAction.created_at)
            )
            return [(a.body, a.external_author) for a in actions.all()]

    async def ticket_closed(ticket_id: Any) -> bool:
        async with session_scope(sessionmaker) as session:
            closed = await session.scalar(
                select(Status.is_closed).join(Ticket, Ticket.status_id == Status.id).where(Ticket.id == ticket_id)
            )
            return bool(closed)

    queue = await JobQueue.connect(str(settings.redis_url))
    worker = start_worker(settings)
    try:

        async def sync_cycle() -> None:
            async with session_scope(sessionmaker) as session:
                sync = await session.scalar(select(SyncState).where(SyncState.client_link_id == link_id))
                before = sync.last_success_at if sync else None
            await enqueue_sync(queue, connection_id, link_id, "incidents", trigger="manual")

            async def advanced() -> bool:
                async with session_scope(sessionmaker) as session:
                    sync = await session.scalar(select(SyncState).where(SyncState.client_link_id == link_id))
                    return sync is not None and sync.run_id is None and sync.last_success_at not in (None, before)

            await _until(advanced, "a sync cycle")

        # 7 days of incidents, one ticket each.
        await sync_cycle()
        assert set(await imported()) == expected

        # A comment written in Sentinel appears on the ticket, under its author's name.
        target = max(expected, key=lambda name: workspace.incidents[name].modified)
        incident = workspace.incidents[target]
        ticket_id = (await imported())[target]
        author = {
            "objectId": "c0ffee00-0000-4000-8000-000000000001",
            "email": WOODGROVE.analyst_upn,
            "name": "Alex Wilber",
        }
        state.put_comment(workspace, incident, "e2e-comment-1", "Blocked the sender domain", author)
        await sync_cycle()
        assert ("Blocked the sender domain", "Alex Wilber") in await notes_of(ticket_id)

        # A socdesk note with "sync to Sentinel" becomes a comment, and never comes back as a second note.
        await page.goto(f"{live_server}/tickets/{ticket_id}")
        await page.fill("[data-testid=note-body]", "Mailbox rules cleaned up")
        await page.check("[data-testid=sync-to-source]")
        await page.click("[data-testid=add-note]")
        await page.locator("[data-testid=timeline]", has_text="Mailbox rules cleaned up").wait_for()
        await nudge_outbox(queue)

        async def commented() -> bool:
            return any("Mailbox rules cleaned up" in c.message for c in incident.comments.values())

        await _until(commented, "the note as a Sentinel comment")
        for _ in range(3):
            await sync_cycle()
        notes = await notes_of(ticket_id)
        assert [body for body, _ in notes].count("Mailbox rules cleaned up") == 1
        assert sum("Mailbox rules cleaned up" in c.message for c in incident.comments.values()) == 1

        # Closing in socdesk closes the incident with the same classification and reason.
        await page.goto(f"{live_server}/tickets/{ticket_id}")
        await page.click("[data-testid=close-panel] summary")
        await page.select_option("[data-testid=close-classification]", "TruePositive")
        await page.select_option("[data-testid=close-reason]", "SuspiciousActivity")
        await page.fill("[data-testid=close-form] textarea[name=note]", "Phishing confirmed; user retrained")
        await page.click("[data-testid=close-submit]")
        await page.locator("[data-testid=classification]").wait_for()
        await nudge_outbox(queue)

        async def incident_closed() -> bool:
            return incident.status == "Closed"

        await _until(incident_closed, "the incident closed in Sentinel")
        assert (incident.classification, incident.classification_reason) == ("TruePositive", "SuspiciousActivity")
        assert incident.classification_comment == "Phishing confirmed; user retrained"

        # Reopened in Sentinel: the ticket reopens.
        reopened = {**state.writable(incident), "status": "Active", "classification": None}
        reopened |= {"classificationReason": None, "classificationComment": None}
        state.update_incident(workspace, incident, reopened)
        await sync_cycle()
        assert not await ticket_closed(ticket_id)
        assert await run_finished()
        assert browser_problems == []
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
        await queue.close()

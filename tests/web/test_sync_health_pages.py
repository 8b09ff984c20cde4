"""Sync health and the client Integrations tab through the real app: what each role sees, scoping
(404 across clients), and the administrators' retry and link actions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.models import (
    FailedJob,
    OutboundRequest,
    OutboxMessage,
    OutboxStatus,
    RunOutcome,
    SyncRun,
    SyncState,
)
from portal.domain.tickets.models import Ticket, TicketType
from tests.conftest import csrf_token, sign_in
from workers.queue import JobQueue

HTMX = {"HX-Request": "true"}


class Estate:
    connection: Connection
    globex: Client
    initech: Client
    globex_link: ClientLink
    initech_link: ClientLink
    initech_run: SyncRun
    failed_job: FailedJob
    message: OutboxMessage


async def _estate(sessionmaker) -> Estate:
    """One Acme connection serving Globex (healthy) and Initech (failing), a failed job and a failed outbox message."""
    estate = Estate()
    now = utcnow()
    async with session_scope(sessionmaker) as session:
        ticket_type = await session.scalar(select(TicketType).limit(1))
        assert ticket_type is not None
        estate.connection = Connection(
            vendor="acme", name="Acme EU", mappings={"ticket_type": str(ticket_type.id)},
            schedules={"cases": {"enabled": True, "minutes": 15}}, credential_expires_at=now + timedelta(days=3),
        )  # fmt: skip
        estate.globex, estate.initech = Client(name="Globex"), Client(name="Initech")
        session.add_all([estate.connection, estate.globex, estate.initech])
        await session.flush()
        estate.globex_link = ClientLink(
            connection_id=estate.connection.id, client_id=estate.globex.id, remote_scope="g-1"
        )
        estate.initech_link = ClientLink(
            connection_id=estate.connection.id, client_id=estate.initech.id, remote_scope="i-1"
        )
        session.add_all([estate.globex_link, estate.initech_link])
        await session.flush()
        session.add_all(
            [
                SyncState(
                    connection_id=estate.connection.id, client_link_id=estate.globex_link.id, entity="cases",
                    last_success_at=now,
                ),
                SyncState(
                    connection_id=estate.connection.id, client_link_id=estate.initech_link.id, entity="cases",
                    last_failure_at=now, consecutive_failures=4, last_error="Initech tenant answered 503",
                ),
            ]
        )  # fmt: skip
        estate.initech_run = SyncRun(
            connection_id=estate.connection.id, client_link_id=estate.initech_link.id, entity="cases",
            trigger="schedule", outcome=RunOutcome.FAILED.value, error="Initech tenant answered 503",
        )  # fmt: skip
        session.add(estate.initech_run)
        session.add(
            OutboundRequest(
                connection_id=estate.connection.id, correlation_id="c", method="GET", url="https://acme.test/x",
                status_code=429, duration_ms=3, error_kind="rate_limited",
            )
        )  # fmt: skip
        estate.failed_job = FailedJob(
            task="sync-page", job_id="sync-page:x", args=["a", None, "cases"], tries=5, error="boom"
        )
        session.add(estate.failed_job)
        site = Site(client_id=estate.globex.id, name="Main", is_main=True)
        session.add(site)
        await session.flush()
        ticket = Ticket(
            client_id=estate.globex.id, site_id=site.id, ticket_type_id=ticket_type.id,
            priority_id=ticket_type.default_priority_id, status_id=ticket_type.default_status_id, summary="Phish",
        )  # fmt: skip
        session.add(ticket)
        await session.flush()
        estate.message = OutboxMessage(
            connection_id=estate.connection.id, ticket_id=ticket.id, operation="comment", remote_type="case",
            remote_id="case-1", status=OutboxStatus.FAILED.value, attempts=8, last_error="Acme answered 500",
        )  # fmt: skip
        session.add(estate.message)
    return estate


async def _limit(sessionmaker, user: User, *client_ids: uuid.UUID) -> None:
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.all_clients = False
        session.add_all(UserClient(user_id=user.id, client_id=client_id) for client_id in client_ids)


async def _jobs(app: Litestar) -> int:
    queue = await JobQueue.connect(app.state.settings.redis_url)
    try:
        return await queue.depth()
    finally:
        await queue.close()


async def test_admin_sees_every_connection_link_and_failure(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    page = await client.get("/sync-health")
    assert page.status_code == 200
    assert 'href="/sync-health" aria-current="page"' in page.text
    assert 'data-testid="sync-connection" data-name="Acme EU" data-health="failing"' in page.text
    # Globex syncs fine, but the connection's credential expires within 7 days: degraded.
    assert 'data-client="Globex" data-health="degraded"' in page.text
    assert 'data-client="Initech" data-health="failing"' in page.text
    assert "Initech tenant answered 503" in page.text
    assert 'data-testid="rate-limited">1<' in page.text
    assert 'data-testid="credential-expiry">Expires' in page.text  # within 7 days: a warning
    assert 'data-testid="queue-depth">0<' in page.text
    assert 'data-testid="failed-job" data-task="sync-page"' in page.text
    assert "Acme answered 500" in page.text
    assert 'data-testid="retry-job"' in page.text
    assert 'data-testid="retry-outbox"' in page.text
    assert 'data-testid="sync-now"' in page.text
    fragment = await client.get("/sync-health", headers=HTMX)
    assert fragment.text.lstrip().startswith('<section id="sync-overview"')
    assert 'hx-trigger="every 30s, sse:sync, live-poll"' in fragment.text  # live, and the clocks move on their own

    runs = await client.get("/sync-health/runs?outcome=failed")
    assert f'id="run-{estate.initech_run.id}"' in runs.text
    assert f'id="run-{estate.initech_run.id}"' not in (await client.get("/sync-health/runs?outcome=succeeded")).text
    detail = await client.get(f"/sync-health/runs/{estate.initech_run.id}")
    assert detail.status_code == 200
    assert 'data-testid="run-error">Initech tenant answered 503' in detail.text


async def test_an_analyst_sees_only_their_clients_and_cannot_retry(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    analyst = await make_user(Role.ANALYST)
    await _limit(sessionmaker, analyst, estate.globex.id)
    await sign_in(client, analyst.email)
    page = await client.get("/sync-health")
    assert page.status_code == 200
    assert 'data-client="Globex"' in page.text
    assert "Initech" not in page.text
    assert 'data-testid="failed-job"' not in page.text  # connection-level: all-clients users only
    assert "Acme answered 500" in page.text  # the outbox message is about a Globex ticket
    assert 'data-testid="retry-outbox"' not in page.text
    assert 'data-testid="sync-now"' not in page.text
    assert 'href="/integrations"' not in page.text
    assert (await client.get(f"/sync-health/runs/{estate.initech_run.id}")).status_code == 404
    assert "Initech" not in (await client.get("/sync-health/runs")).text
    token = await csrf_token(client, "/profile")
    for url in (
        f"/sync-health/failed-jobs/{estate.failed_job.id}/retry",
        f"/sync-health/outbox/{estate.message.id}/retry",
    ):
        response = await client.post(url, data={"_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, url
    async with sessionmaker() as session:
        job = await session.get(FailedJob, estate.failed_job.id)
        assert job is not None
        assert job.retried_at is None


async def test_a_user_without_linked_clients_sees_no_connection(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    await _estate(sessionmaker)
    viewer = await make_user(Role.VIEWER)
    async with session_scope(sessionmaker) as session:
        other = Client(name="Hooli")
        session.add(other)
    await _limit(sessionmaker, viewer, other.id)
    await sign_in(client, viewer.email)
    page = await client.get("/sync-health")
    assert "Acme EU" not in page.text
    assert "No connections to show" in page.text


async def test_admin_retries_a_failed_job_and_a_failed_outbox_message(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    token = await csrf_token(client, "/profile")
    url = f"/sync-health/failed-jobs/{estate.failed_job.id}/retry"
    retried = await client.post(url, data={"_csrf_token": token}, headers=HTMX)
    assert retried.status_code == 200
    assert "Job sync-page queued again." in retried.text
    assert await _jobs(app) == 1
    again = await client.post(url, data={"_csrf_token": token}, headers=HTMX)
    assert "already retried" in again.text
    assert await _jobs(app) == 1

    outbox = await client.post(
        f"/sync-health/outbox/{estate.message.id}/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert outbox.status_code == 303
    assert outbox.headers["location"] == "/sync-health#outbox"
    assert await _jobs(app) == 2  # the relay was nudged
    async with sessionmaker() as session:
        job = await session.get(FailedJob, estate.failed_job.id)
        message = await session.get(OutboxMessage, estate.message.id)
    assert job is not None
    assert (job.retried_at is not None, job.retried_by_id) == (True, admin.id)
    assert message is not None
    assert (message.status, message.attempts) == (OutboxStatus.PENDING.value, 0)
    after = await client.get("/sync-health")
    assert "Acme answered 500" not in after.text  # no longer among the failed


async def test_client_integrations_tab_lists_links_and_lets_an_admin_link_a_connection(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    tab = await client.get(f"/clients/{estate.initech.id}/integrations")
    assert tab.status_code == 200
    assert 'data-testid="link-health-row" data-client="Initech" data-health="failing"' in tab.text
    assert "Acme Cases (test vendor)" in tab.text
    assert "Initech tenant answered 503" in tab.text
    assert 'data-testid="choose-connection"' in tab.text
    assert 'data-testid="link-form"' not in tab.text  # a connection is chosen first

    async with session_scope(sessionmaker) as session:
        hooli = Client(name="Hooli")
        session.add(hooli)
        await session.flush()
        session.add(Site(client_id=hooli.id, name="Main", is_main=True))
    chosen = await client.get(f"/clients/{hooli.id}/integrations?connection={estate.connection.id}")
    assert 'data-testid="link-form"' in chosen.text
    assert 'id="client-link-tenant"' in chosen.text
    token = await csrf_token(client, "/profile")
    url = f"/clients/{hooli.id}/integrations"
    refused = await client.post(url, data={"_csrf_token": token, "connection_id": str(estate.connection.id)})
    assert refused.status_code == 422
    assert "Acme tenant is required." in refused.text
    linked = await client.post(
        url,
        data={"_csrf_token": token, "connection_id": str(estate.connection.id), "tenant": "hooli-1"},
        follow_redirects=False,
    )
    assert linked.status_code == 303
    listing = await client.get(url)
    assert 'data-client="Hooli"' in listing.text
    assert "hooli-1" in listing.text


async def test_client_integrations_tab_is_scoped_and_read_only_for_analysts(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    analyst = await make_user(Role.ANALYST)
    await _limit(sessionmaker, analyst, estate.globex.id)
    await sign_in(client, analyst.email)
    mine = await client.get(f"/clients/{estate.globex.id}/integrations")
    assert mine.status_code == 200
    assert 'data-client="Globex"' in mine.text
    assert 'data-testid="choose-connection"' not in mine.text
    assert 'data-testid="sync-now"' not in mine.text
    assert (await client.get(f"/clients/{estate.initech.id}/integrations")).status_code == 404
    token = await csrf_token(client, "/profile")
    denied = await client.post(
        f"/clients/{estate.globex.id}/integrations",
        data={"_csrf_token": token, "connection_id": str(estate.connection.id), "tenant": "x"},
        follow_redirects=False,
    )
    assert denied.status_code == 403


async def test_needs_reauth_connection_is_flagged_everywhere(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    async with session_scope(sessionmaker) as session:
        stored = await session.get(Connection, estate.connection.id)
        assert stored is not None
        stored.status = ConnectionStatus.NEEDS_REAUTH.value
        stored.status_message = "Access was revoked or expired — reconnect (sign in again) to resume syncing."
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    health = await client.get("/sync-health")
    assert 'data-name="Acme EU" data-health="needs_reauth"' in health.text
    assert "Access was revoked or expired" in health.text
    page = await client.get(f"/integrations/connections/{estate.connection.id}")
    assert 'data-testid="reauth-banner"' in page.text
    assert 'data-testid="reconnect"' in page.text


async def test_the_wait_a_vendor_asked_for_shows_while_it_lasts(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    estate = await _estate(sessionmaker)
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    page = await client.get("/sync-health")
    assert 'data-testid="throttled-until"' not in page.text  # nobody asked to wait

    async with session_scope(sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.client_link_id == estate.initech_link.id))
        assert state is not None
        state.throttled_until = utcnow() + timedelta(seconds=90)
    page = await client.get("/sync-health")
    assert 'data-testid="throttled-until"' in page.text
    assert "as the vendor asked" in page.text

    async with session_scope(sessionmaker) as session:  # a wait that has passed is not shown
        state = await session.scalar(select(SyncState).where(SyncState.client_link_id == estate.initech_link.id))
        assert state is not None
        state.throttled_until = utcnow() - timedelta(seconds=5)
    page = await client.get("/sync-health")
    assert 'data-testid="throttled-until"' not in page.text

"""Sync health on the real database: the state rules, counters, logs, and what a limited user sees."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync import health
from portal.domain.sync.health import HealthState
from portal.domain.sync.models import (
    FailedJob,
    InboundEvent,
    OutboundRequest,
    OutboxMessage,
    OutboxStatus,
    RunOutcome,
    SyncRun,
    SyncState,
)
from portal.domain.sync.outbox_retry import retry_outbox_message
from portal.domain.tickets.models import Ticket, TicketType


def _scope(role: Role = Role.ADMIN, clients: tuple[uuid.UUID, ...] | None = None) -> Scope:
    return Scope(None if clients is None else uuid.uuid4(), role, clients is None, frozenset(clients or ()), "t")


ADMIN = _scope()


class Estate:
    """Two clients on one Acme connection, each with a link and a cases scope."""

    connection: Connection
    globex: Client
    initech: Client
    globex_link: ClientLink
    initech_link: ClientLink


async def _estate(session: AsyncSession, name: str = "Acme", **connection_values) -> Estate:
    estate = Estate()
    estate.connection = Connection(
        vendor="acme", name=name, mappings={"ticket_type": "x"}, schedules={"cases": {"enabled": True, "minutes": 15}}
    )
    for key, value in connection_values.items():
        setattr(estate.connection, key, value)
    suffix = "" if name == "Acme" else f" of {name}"  # client names are unique
    estate.globex, estate.initech = Client(name="Globex" + suffix), Client(name="Initech" + suffix)
    session.add_all([estate.connection, estate.globex, estate.initech])
    await session.flush()
    estate.globex_link = ClientLink(connection_id=estate.connection.id, client_id=estate.globex.id, remote_scope="g")
    estate.initech_link = ClientLink(connection_id=estate.connection.id, client_id=estate.initech.id, remote_scope="i")
    session.add_all([estate.globex_link, estate.initech_link])
    await session.flush()
    return estate


def _state(estate: Estate, link: ClientLink | None, entity: str = "cases", **values) -> SyncState:
    return SyncState(
        connection_id=estate.connection.id, client_link_id=link.id if link else None, entity=entity, **values
    )


@pytest.fixture
async def estate(sessionmaker: async_sessionmaker[AsyncSession]) -> Estate:
    async with session_scope(sessionmaker) as session:
        return await _estate(session)


async def _link_state(sessionmaker, estate: Estate, link_attr: str, **values) -> HealthState:
    async with session_scope(sessionmaker) as session:
        session.add(_state(estate, getattr(estate, link_attr), **values))
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, estate.connection.id)
    return next(link for link in found.links if link.link.id == getattr(estate, link_attr).id).summary.health


async def test_state_rules(sessionmaker, estate: Estate) -> None:
    now = utcnow()
    assert await _link_state(sessionmaker, estate, "globex_link", last_success_at=now) is HealthState.HEALTHY
    # A failure newer than the last success: degraded; three in a row: failing.
    assert (
        await _link_state(
            sessionmaker, estate, "initech_link", last_success_at=now - timedelta(minutes=5), last_failure_at=now,
            consecutive_failures=2,
        )
        is HealthState.DEGRADED
    )  # fmt: skip
    async with session_scope(sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.client_link_id == estate.initech_link.id))
        assert state is not None
        state.consecutive_failures = 3
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, estate.connection.id)
    by_client = {link.client.name: link.summary for link in found.links}
    assert by_client["Initech"].health is HealthState.FAILING
    assert by_client["Initech"].consecutive_failures == 3
    assert found.summary.health is HealthState.FAILING  # the connection is as bad as its worst enabled link


async def test_overdue_scope_and_expiring_credential_degrade(sessionmaker, estate: Estate) -> None:
    now = utcnow()
    # No success for more than twice the 15-minute schedule.
    assert (
        await _link_state(sessionmaker, estate, "globex_link", last_success_at=now - timedelta(minutes=31))
        is HealthState.DEGRADED
    )
    async with session_scope(sessionmaker) as session:
        fresh = await _estate(session, name="Fresh", credential_expires_at=now + timedelta(days=6))
        for link in (fresh.globex_link, fresh.initech_link):
            session.add(_state(fresh, link, last_success_at=now, newest_remote_at=now - timedelta(hours=5)))
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, fresh.connection.id)
    assert found.credential is not None
    assert found.credential.level == "warning"
    assert found.summary.health is HealthState.DEGRADED
    # A quiet remote side (newest change 5 h ago) is a lag shown, not a problem.
    assert found.summary.lag is not None
    assert found.summary.lag >= timedelta(hours=5)
    assert health.expiry(now - timedelta(seconds=1), now).level == "expired"  # type: ignore[union-attr]
    assert health.expiry(now + timedelta(days=8), now).level == "ok"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ConnectionStatus.DISABLED, HealthState.DISABLED),
        (ConnectionStatus.NEEDS_REAUTH, HealthState.NEEDS_REAUTH),
        (ConnectionStatus.ERROR, HealthState.FAILING),
    ],
)
async def test_connection_status_decides_first(sessionmaker, status: ConnectionStatus, expected: HealthState) -> None:
    async with session_scope(sessionmaker) as session:
        estate = await _estate(session, status=status.value, status_message="why")
        session.add(_state(estate, estate.globex_link, last_success_at=utcnow()))
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, estate.connection.id)
    assert found.summary.health is expected
    assert {link.summary.health for link in found.links} == {expected}


async def test_a_disabled_link_is_disabled_and_does_not_count_for_the_connection(sessionmaker, estate: Estate) -> None:
    async with session_scope(sessionmaker) as session:
        link = await session.get(ClientLink, estate.initech_link.id)
        assert link is not None
        link.enabled = False
        session.add(_state(estate, estate.initech_link, consecutive_failures=9, last_failure_at=utcnow()))
        session.add(_state(estate, estate.globex_link, last_success_at=utcnow()))
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, estate.connection.id)
    assert {item.client.name: item.summary.health for item in found.links} == {
        "Globex": HealthState.HEALTHY,
        "Initech": HealthState.DISABLED,
    }
    assert found.summary.health is HealthState.HEALTHY


async def test_counters_running_runs_and_missing_mappings(sessionmaker, estate: Estate) -> None:
    now = utcnow()
    async with session_scope(sessionmaker) as session:
        stored = await session.get(Connection, estate.connection.id)
        assert stored is not None
        stored.mappings = {}

        def request(at, status_code=None, error_kind=None) -> OutboundRequest:
            return OutboundRequest(
                connection_id=estate.connection.id, correlation_id="c", at=at, method="GET", url="https://a.test/x",
                status_code=status_code, duration_ms=5, error_kind=error_kind,
            )  # fmt: skip

        session.add_all(
            [
                request(now - timedelta(minutes=10), 429, "rate_limited"),
                request(now - timedelta(minutes=50), 429, "rate_limited"),
                request(now - timedelta(hours=2), 429, "rate_limited"),  # outside the hour, inside the day
                request(now - timedelta(hours=3), 200),
                request(now - timedelta(hours=4), None, "unavailable"),  # no answer at all
                request(now - timedelta(days=2), 500, "unavailable"),  # too old
            ]
        )
        session.add(
            SyncRun(
                connection_id=estate.connection.id, client_link_id=estate.globex_link.id, entity="cases",
                trigger="manual", pages=3, created=12,
            )
        )  # fmt: skip
    async with sessionmaker() as session:
        found = await health.connection_health(session, ADMIN, estate.connection.id)
    assert found.rate_limited_last_hour == 2
    assert found.outbound_failures_24h == 4
    assert [(row.run.pages, row.run.created, row.link and row.link.id) for row in found.running] == [
        (3, 12, estate.globex_link.id)
    ]
    assert found.missing_mappings == ["Ticket type for cases"]


async def test_a_limited_user_sees_only_their_links_runs_and_logs(sessionmaker, estate: Estate) -> None:
    async with session_scope(sessionmaker) as session:
        other = await _estate(session, name="Unrelated")
        session.add_all(
            [
                _state(estate, estate.globex_link),
                _state(estate, estate.initech_link),
                _state(estate, None, entity="alerts"),
            ]
        )
        for link in (estate.globex_link, estate.initech_link, None):
            session.add(
                SyncRun(
                    connection_id=estate.connection.id,
                    client_link_id=link.id if link else None,
                    entity="cases",
                    trigger="schedule",
                    outcome=RunOutcome.SUCCEEDED.value,
                )
            )
        session.add(
            InboundEvent(
                connection_id=estate.connection.id, delivery_id="d1", signature="valid", size=10, outcome="queued"
            )
        )
        session.add(FailedJob(task="sync-page", job_id="j", args=[], tries=3, error="boom"))
    globex_only = _scope(Role.ANALYST, (estate.globex.id,))
    nobody = _scope(Role.ANALYST, (uuid.uuid4(),))
    async with sessionmaker() as session:
        everything = await health.overview(session, ADMIN)
        mine = await health.overview(session, globex_only)
        assert [item.connection.name for item in everything] == ["Acme", "Unrelated"]
        [seen] = mine
        assert [link.client.name for link in seen.links] == ["Globex"]
        assert seen.scopes == []  # the connection-level scope is for all-clients users only
        assert [scope.state.client_link_id for scope in everything[0].scopes] == [None]
        assert await health.overview(session, nobody) == []
        with pytest.raises(NotFoundError):
            await health.connection_health(session, globex_only, other.connection.id)
        with pytest.raises(NotFoundError):
            await health.client_link_health(session, globex_only, estate.initech.id)
        assert [
            item.client.name for item in await health.client_link_health(session, globex_only, estate.globex.id)
        ] == ["Globex"]

        runs = await health.recent_runs(session, globex_only)
        assert [row.client.name for row in runs.rows if row.client] == ["Globex"]
        assert len(runs.rows) == 1
        assert len((await health.recent_runs(session, ADMIN)).rows) == 3
        assert len((await health.recent_runs(session, ADMIN, outcome="failed")).rows) == 0
        theirs = next(row for row in (await health.recent_runs(session, ADMIN)).rows if row.link is None)
        with pytest.raises(NotFoundError):
            await health.get_run(session, globex_only, theirs.run.id)

        assert (await health.inbound_events(session, globex_only, estate.connection.id)).rows == []
        assert len((await health.inbound_events(session, ADMIN, estate.connection.id)).rows) == 1
        assert await health.failed_jobs(session, globex_only) == []
        assert len(await health.failed_jobs(session, ADMIN)) == 1


async def test_outbound_requests_page_newest_first_by_id(sessionmaker, estate: Estate) -> None:
    async with session_scope(sessionmaker) as session:
        for number in range(5):
            session.add(
                OutboundRequest(
                    connection_id=estate.connection.id, correlation_id=str(number), method="GET",
                    url=f"https://a.test/{number}", status_code=200, duration_ms=1,
                )
            )  # fmt: skip
    async with sessionmaker() as session:
        first = await health.outbound_requests(session, ADMIN, estate.connection.id, limit=2)
        second = await health.outbound_requests(session, ADMIN, estate.connection.id, before=first.next_before, limit=2)
        last = await health.outbound_requests(session, ADMIN, estate.connection.id, before=second.next_before, limit=2)
        limited = await health.outbound_requests(session, _scope(Role.ADMIN, (estate.globex.id,)), estate.connection.id)
    assert [row.correlation_id for row in first.rows + second.rows + last.rows] == ["4", "3", "2", "1", "0"]
    assert last.next_before is None
    assert limited.rows == []  # none of these calls was about one of their tickets


async def _ticket(session: AsyncSession, client: Client) -> Ticket:
    site = Site(client_id=client.id, name="Main", is_main=True)
    session.add(site)
    ticket_type = await session.scalar(select(TicketType).limit(1))
    assert ticket_type is not None
    await session.flush()
    ticket = Ticket(
        client_id=client.id,
        site_id=site.id,
        ticket_type_id=ticket_type.id,
        priority_id=ticket_type.default_priority_id,
        status_id=ticket_type.default_status_id,
        summary="x",
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def test_outbox_summary_and_retry(sessionmaker, estate: Estate, make_user) -> None:
    async with session_scope(sessionmaker) as session:
        globex_ticket = await _ticket(session, estate.globex)
        initech_ticket = await _ticket(session, estate.initech)

        def message(ticket: Ticket, status: OutboxStatus) -> OutboxMessage:
            return OutboxMessage(
                connection_id=estate.connection.id, ticket_id=ticket.id, operation="comment", remote_type="case",
                remote_id="c-1", status=status.value, attempts=8, last_error="503",
            )  # fmt: skip

        failed_mine = message(globex_ticket, OutboxStatus.FAILED)
        failed_theirs = message(initech_ticket, OutboxStatus.FAILED)
        session.add_all([failed_mine, failed_theirs, message(globex_ticket, OutboxStatus.PENDING)])
    user = await make_user(Role.ADMIN)
    limited = Scope(user.id, Role.ADMIN, False, frozenset({estate.globex.id}), user.email)
    async with sessionmaker() as session:
        everything = await health.outbox_summary(session, ADMIN)
        mine = await health.outbox_summary(session, limited)
    assert (everything.pending, everything.failed, len(everything.failed_messages)) == (1, 2, 2)
    assert (mine.pending, mine.failed) == (1, 1)
    assert [row.message.id for row in mine.failed_messages] == [failed_mine.id]

    async with session_scope(sessionmaker) as session:
        with pytest.raises(NotFoundError):
            await retry_outbox_message(session, limited, failed_theirs.id)
        retried = await retry_outbox_message(session, limited, failed_mine.id)
        assert (retried.status, retried.attempts) == (OutboxStatus.PENDING.value, 0)
        assert retried.next_attempt_at <= utcnow()
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError):
            await retry_outbox_message(session, limited, failed_mine.id)  # it is pending now
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.retry"))
    assert entry is not None
    assert entry.client_id == estate.globex.id

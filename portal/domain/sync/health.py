"""Sync health: how each connection and client link is doing, for the staff who rely on them.

Read-only and scoped: links (and their runs and cursors) of clients the user may not see are
left out, and connection-level records (no client link) are shown only to users who see every
client. A connection is visible to a limited user only through a link to one of their clients.

States, worst first:

- ``disabled``: the connection (or the link) is switched off;
- ``needs_reauth``: the vendor refused the credentials for good, someone must sign in again;
- ``failing``: the connection is in error, or a scope failed 3 times in a row;
- ``degraded``: a scope's last failure is newer than its last success, a scope is overdue (no
  success for twice its schedule: a quiet remote side is not a lag, a sync that stopped
  succeeding is), or the credential expires within 7 days (or has expired);
- ``healthy``: none of these.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.clients.models import Client
from portal.domain.clients.service import get_client
from portal.domain.errors import NotFoundError
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.engine import entity_enabled, schedule_minutes
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
from portal.domain.sync.visibility import visible_sync_rows
from portal.domain.tickets.models import Ticket
from portal.integrations.catalog import MANIFESTS
from portal.integrations.manifest import EntitySpec, Manifest

FAILING_AFTER = 3  # consecutive failures of one scope
EXPIRY_WARNING = timedelta(days=7)
RATE_LIMIT_WINDOW = timedelta(hours=1)
FAILURE_WINDOW = timedelta(hours=24)


class HealthState(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Expiry:
    at: datetime
    level: str  # ok, warning (within 7 days), expired


def expiry(at: datetime | None, now: datetime) -> Expiry | None:
    if at is None:
        return None
    if at <= now:
        return Expiry(at, "expired")
    return Expiry(at, "warning" if at <= now + EXPIRY_WARNING else "ok")


@dataclass(frozen=True)
class ScopeHealth:
    """One sync scope (connection, client link or none, entity) as it stands."""

    state: SyncState
    entity_label: str
    minutes: int | None  # the schedule, None when the entity is not on a schedule
    lag: timedelta | None  # now - the newest remote change seen
    overdue: bool
    failing: bool
    failure_newer: bool


def _spec(manifest: Manifest | None, entity: str) -> EntitySpec | None:
    if manifest is None:
        return None
    try:
        return manifest.entity(entity)
    except KeyError:
        return None


def scope_health(connection: Connection, state: SyncState, now: datetime) -> ScopeHealth:
    spec = _spec(MANIFESTS.get(connection.vendor), state.entity)
    minutes = schedule_minutes(connection, spec) if spec and entity_enabled(connection, spec) else None
    # Measured from the last success, or from when the scope was first seen if it never had one.
    since = state.last_success_at or state.created_at
    overdue = minutes is not None and since is not None and now - since > timedelta(minutes=2 * minutes)
    failure_newer = state.last_failure_at is not None and (
        state.last_success_at is None or state.last_failure_at > state.last_success_at
    )
    return ScopeHealth(
        state=state,
        entity_label=spec.label if spec else state.entity,
        minutes=minutes,
        lag=now - state.newest_remote_at if state.newest_remote_at else None,
        overdue=overdue,
        failing=state.consecutive_failures >= FAILING_AFTER,
        failure_newer=failure_newer,
    )


@dataclass(frozen=True)
class Summary:
    health: HealthState
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str = ""
    consecutive_failures: int = 0
    next_run_at: datetime | None = None
    lag: timedelta | None = None
    throttled_until: datetime | None = None  # the latest wait a vendor asked for (Retry-After), while it lasts


def judge(
    status: str, scopes: Sequence[ScopeHealth], credential: Expiry | None, *, enabled: bool = True
) -> HealthState:
    if status == ConnectionStatus.DISABLED.value or not enabled:
        return HealthState.DISABLED
    if status == ConnectionStatus.NEEDS_REAUTH.value:
        return HealthState.NEEDS_REAUTH
    if status == ConnectionStatus.ERROR.value or any(scope.failing for scope in scopes):
        return HealthState.FAILING
    if (credential is not None and credential.level != "ok") or any(s.failure_newer or s.overdue for s in scopes):
        return HealthState.DEGRADED
    return HealthState.HEALTHY


def _newest(values: Iterable[datetime | None]) -> datetime | None:
    return max((value for value in values if value is not None), default=None)


def summarise(
    connection: Connection, scopes: Sequence[ScopeHealth], credential: Expiry | None, *, enabled: bool = True
) -> Summary:
    states = [scope.state for scope in scopes]
    last_failed = max(
        (state for state in states if state.last_failure_at), key=lambda state: state.last_failure_at or 0, default=None
    )
    return Summary(
        health=judge(connection.status, scopes, credential, enabled=enabled),
        last_success_at=_newest(state.last_success_at for state in states),
        last_failure_at=last_failed.last_failure_at if last_failed else None,
        last_error=last_failed.last_error if last_failed else "",
        consecutive_failures=max((state.consecutive_failures for state in states), default=0),
        next_run_at=min((state.next_run_at for state in states if state.next_run_at), default=None),
        lag=max((scope.lag for scope in scopes if scope.lag is not None), default=None),
        throttled_until=max((state.throttled_until for state in states if state.throttled_until), default=None),
    )


@dataclass(frozen=True)
class LinkHealth:
    link: ClientLink
    client: Client
    connection: Connection
    summary: Summary
    scopes: list[ScopeHealth]

    @property
    def vendor_label(self) -> str:
        manifest = MANIFESTS.get(self.connection.vendor)
        return manifest.display_name if manifest else self.connection.vendor

    @property
    def entities(self) -> list[EntitySpec]:
        """What syncs per client link (each has its own "Sync now")."""
        manifest = MANIFESTS.get(self.connection.vendor)
        return [spec for spec in manifest.entities if spec.per_client] if manifest else []


@dataclass(frozen=True)
class ConnectionHealth:
    connection: Connection
    manifest: Manifest | None
    summary: Summary
    scopes: list[ScopeHealth]  # connection-level (only for users who see every client)
    links: list[LinkHealth]
    credential: Expiry | None
    rate_limited_last_hour: int = 0
    outbound_failures_24h: int = 0
    running: list[RunRow] = field(default_factory=list)
    missing_mappings: list[str] = field(default_factory=list)

    @property
    def vendor_label(self) -> str:
        return self.manifest.display_name if self.manifest else self.connection.vendor

    @property
    def entities(self) -> list[EntitySpec]:
        """What syncs once for the whole connection (not per client link)."""
        return [spec for spec in self.manifest.entities if not spec.per_client] if self.manifest else []


# ---------------------------------------------------------------- queries


def _visible_connections(access: Scope) -> ColumnElement[bool]:
    if access.all_clients:
        return true()
    return Connection.id.in_(select(ClientLink.connection_id).where(access.clients(ClientLink.client_id)))


async def _counts(
    session: AsyncSession, ids: list[uuid.UUID], *conditions: ColumnElement[bool]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(OutboundRequest.connection_id, func.count())
        .where(OutboundRequest.connection_id.in_(ids), *conditions)
        .group_by(OutboundRequest.connection_id)
    )
    return {connection_id: number for connection_id, number in rows.all() if connection_id is not None}


async def _health(
    session: AsyncSession,
    access: Scope,
    now: datetime,
    *,
    connection_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> list[ConnectionHealth]:
    """Health of the visible connections (one, or those linked to one client), with their visible links."""
    statement = select(Connection).where(_visible_connections(access)).order_by(func.lower(Connection.name))
    link_filter: list[ColumnElement[bool]] = [access.clients(ClientLink.client_id)]
    if connection_id is not None:
        statement = statement.where(Connection.id == connection_id)
    if client_id is not None:
        statement = statement.where(
            Connection.id.in_(select(ClientLink.connection_id).where(ClientLink.client_id == client_id))
        )
        link_filter.append(ClientLink.client_id == client_id)
    connections = list((await session.scalars(statement)).all())
    ids = [connection.id for connection in connections]
    if not ids:
        return []
    links = (
        await session.execute(
            select(ClientLink, Client)
            .join(Client, Client.id == ClientLink.client_id)
            .where(ClientLink.connection_id.in_(ids), *link_filter)
            .order_by(func.lower(Client.name), ClientLink.remote_scope)
        )
    ).all()
    states = (
        await session.scalars(
            select(SyncState)
            .outerjoin(ClientLink, ClientLink.id == SyncState.client_link_id)
            .where(
                SyncState.connection_id.in_(ids),
                visible_sync_rows(access, SyncState.client_link_id, ClientLink.client_id),
                # for one client's page, its links' scopes only
                *([ClientLink.client_id == client_id] if client_id is not None else []),
            )
            .order_by(SyncState.entity)
        )
    ).all()
    running = [
        RunRow(*row)
        for row in (
            await session.execute(
                _runs(access)
                .where(SyncRun.connection_id.in_(ids), SyncRun.outcome == RunOutcome.RUNNING.value)
                .order_by(SyncRun.started_at)
            )
        ).all()
    ]
    rate_limited = await _counts(
        session, ids, OutboundRequest.status_code == 429, OutboundRequest.at >= now - RATE_LIMIT_WINDOW
    )
    failures = await _counts(
        session,
        ids,
        or_(OutboundRequest.status_code >= 400, OutboundRequest.error_kind.is_not(None)),
        OutboundRequest.at >= now - FAILURE_WINDOW,
    )

    result = []
    for connection in connections:
        credential = expiry(connection.credential_expires_at, now)
        mine = [scope_health(connection, state, now) for state in states if state.connection_id == connection.id]
        link_healths = []
        for link, client in links:
            if link.connection_id != connection.id:
                continue
            scopes = [scope for scope in mine if scope.state.client_link_id == link.id]
            summary = summarise(connection, scopes, credential, enabled=link.enabled)
            link_healths.append(LinkHealth(link, client, connection, summary, scopes))
        connection_scopes = [scope for scope in mine if scope.state.client_link_id is None]
        enabled_link_ids = {item.link.id for item in link_healths if item.link.enabled}
        counted = connection_scopes + [scope for scope in mine if scope.state.client_link_id in enabled_link_ids]
        manifest = MANIFESTS.get(connection.vendor)
        result.append(
            ConnectionHealth(
                connection=connection,
                manifest=manifest,
                summary=summarise(connection, counted, credential),
                scopes=connection_scopes,
                links=link_healths,
                credential=credential,
                rate_limited_last_hour=rate_limited.get(connection.id, 0),
                outbound_failures_24h=failures.get(connection.id, 0),
                running=[row for row in running if row.connection.id == connection.id],
                missing_mappings=manifest.missing_mappings(connection.mappings) if manifest else [],
            )
        )
    return result


async def overview(session: AsyncSession, access: Scope, *, now: datetime | None = None) -> list[ConnectionHealth]:
    return await _health(session, access, now or utcnow())


async def connection_health(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, *, now: datetime | None = None
) -> ConnectionHealth:
    found = await _health(session, access, now or utcnow(), connection_id=connection_id)
    if not found:
        raise NotFoundError("connection")
    return found[0]


async def client_link_health(
    session: AsyncSession, access: Scope, client_id: uuid.UUID, *, now: datetime | None = None
) -> list[LinkHealth]:
    """One client's links across connections (its Integrations tab); 404 for a client out of scope."""
    client = await get_client(session, access, client_id)
    found = await _health(session, access, now or utcnow(), client_id=client.id)
    return [link for item in found for link in item.links]


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    run: SyncRun
    connection: Connection
    link: ClientLink | None
    client: Client | None

    @property
    def entity_label(self) -> str:
        spec = _spec(MANIFESTS.get(self.connection.vendor), self.run.entity)
        return spec.label if spec else self.run.entity


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _runs(access: Scope) -> Any:
    return (
        select(SyncRun, Connection, ClientLink, Client)
        .join(Connection, Connection.id == SyncRun.connection_id)
        .outerjoin(ClientLink, ClientLink.id == SyncRun.client_link_id)
        .outerjoin(Client, Client.id == ClientLink.client_id)
        .where(visible_sync_rows(access, SyncRun.client_link_id, ClientLink.client_id))
    )


async def recent_runs(
    session: AsyncSession,
    access: Scope,
    *,
    connection_id: uuid.UUID | None = None,
    outcome: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> RunPage:
    """Newest first; filterable by connection and outcome."""
    statement = _runs(access)
    if connection_id is not None:
        statement = statement.where(SyncRun.connection_id == connection_id)
    if outcome:
        statement = statement.where(SyncRun.outcome == outcome)
    statement = statement.order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    rows = (await session.execute(statement.offset((page - 1) * per_page).limit(per_page + 1))).all()
    return RunPage([RunRow(*row) for row in rows[:per_page]], page, len(rows) > per_page)


async def get_run(session: AsyncSession, access: Scope, run_id: uuid.UUID) -> RunRow:
    row = (await session.execute(_runs(access).where(SyncRun.id == run_id))).first()
    if row is None:
        raise NotFoundError("sync run")
    return RunRow(*row)


# ---------------------------------------------------------------- request and event logs


def _connection_level(access: Scope) -> ColumnElement[bool]:
    return true() if access.all_clients else false()


@dataclass(frozen=True)
class RequestPage:
    rows: list[OutboundRequest]
    next_before: int | None  # the id to pass as ``before`` for the next (older) page


async def outbound_requests(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, *, before: int | None = None, limit: int = 50
) -> RequestPage:
    """Newest first, keyset-paged by id. A limited user sees only calls about their clients' tickets."""
    visible = (
        true()
        if access.all_clients
        else OutboundRequest.ticket_id.in_(select(Ticket.id).where(access.clients(Ticket.client_id)))
    )
    statement = select(OutboundRequest).where(OutboundRequest.connection_id == connection_id, visible)
    if before is not None:
        statement = statement.where(OutboundRequest.id < before)
    rows = list((await session.scalars(statement.order_by(OutboundRequest.id.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return RequestPage(rows, rows[-1].id if more and rows else None)


@dataclass(frozen=True)
class EventPage:
    rows: list[InboundEvent]
    page: int
    has_next: bool


async def inbound_events(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, *, page: int = 1, per_page: int = 50
) -> EventPage:
    """Webhook deliveries, newest first; connection-level, so only for users who see every client."""
    statement = (
        select(InboundEvent)
        .where(InboundEvent.connection_id == connection_id, _connection_level(access))
        .order_by(InboundEvent.received_at.desc(), InboundEvent.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    )
    rows = list((await session.scalars(statement)).all())
    return EventPage(rows[:per_page], page, len(rows) > per_page)


# ---------------------------------------------------------------- failed jobs and the outbox


async def failed_jobs(session: AsyncSession, access: Scope, *, limit: int = 50) -> list[FailedJob]:
    """Jobs that failed for good: not yet retried first, newest first within each."""
    statement = (
        select(FailedJob)
        .where(_connection_level(access))
        .order_by(FailedJob.retried_at.is_not(None), FailedJob.failed_at.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


@dataclass(frozen=True)
class OutboxRow:
    message: OutboxMessage
    connection: Connection
    ticket: Ticket | None


@dataclass(frozen=True)
class OutboxSummary:
    pending: int
    failed: int
    failed_messages: list[OutboxRow]


def visible_outbox(access: Scope) -> ColumnElement[bool]:
    if access.all_clients:
        return true()
    return OutboxMessage.ticket_id.in_(select(Ticket.id).where(access.clients(Ticket.client_id)))


async def outbox_summary(session: AsyncSession, access: Scope, *, limit: int = 50) -> OutboxSummary:
    """Changes on their way back to the vendors: how many wait, how many gave up (listed, newest first)."""
    counts = dict(
        (
            await session.execute(
                select(OutboxMessage.status, func.count())
                .where(visible_outbox(access), OutboxMessage.status != OutboxStatus.DELIVERED.value)
                .group_by(OutboxMessage.status)
            )
        ).all()
    )
    rows = (
        await session.execute(
            select(OutboxMessage, Connection, Ticket)
            .join(Connection, Connection.id == OutboxMessage.connection_id)
            .outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
            .where(visible_outbox(access), OutboxMessage.status == OutboxStatus.FAILED.value)
            .order_by(OutboxMessage.updated_at.desc())
            .limit(limit)
        )
    ).all()
    return OutboxSummary(
        pending=counts.get(OutboxStatus.PENDING.value, 0),
        failed=counts.get(OutboxStatus.FAILED.value, 0),
        failed_messages=[OutboxRow(*row) for row in rows],
    )


async def visible_connections(session: AsyncSession, access: Scope) -> list[Connection]:
    """The connections a user may see on sync health (for filters), by name."""
    statement = select(Connection).where(_visible_connections(access)).order_by(func.lower(Connection.name))
    return list((await session.scalars(statement)).all())

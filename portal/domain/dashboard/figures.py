"""Ticket figures for the operations dashboard, each limited to the clients the user may see.

Every figure is one aggregate query over indexed columns (status, opening and closing times,
client), so the dashboard stays fast with hundreds of thousands of tickets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, Select, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.clients.models import Client
from portal.domain.tickets import sla
from portal.domain.tickets.models import Priority, Status, Ticket

CHART_DAYS = 14
TOP_CLIENTS = 10
LATEST = 8


@dataclass(frozen=True)
class PriorityCount:
    priority: Priority
    open: int
    unassigned: int
    breached: int
    at_risk: int


@dataclass(frozen=True)
class ClientCount:
    client_id: uuid.UUID
    name: str
    open: int
    urgent: int  # open at the two most urgent ranks
    breached: int


@dataclass(frozen=True)
class Totals:
    open: int
    unassigned: int
    breached: int
    at_risk: int
    new_24h: int


@dataclass(frozen=True)
class ResponseTimes:
    """Means over tickets opened (first response) or closed (time to close) in the window; None: no tickets."""

    first_response_7d: timedelta | None
    first_response_30d: timedelta | None
    close_7d: timedelta | None
    close_30d: timedelta | None
    responded_30d: int
    closed_30d: int


@dataclass(frozen=True)
class DayCount:
    day: date
    source: str
    opened: int
    closed: int


@dataclass(frozen=True)
class TicketFigures:
    now: datetime
    by_priority: list[PriorityCount]
    by_client: list[ClientCount]
    totals: Totals
    times: ResponseTimes
    days: list[DayCount]
    chart_start: date
    latest: list[Ticket]


async def _open_statuses(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.scalars(select(Status.id).where(Status.is_closed.is_(False)))).all())


def _open_tickets(access: Scope, open_statuses: list[uuid.UUID]) -> Select[tuple[()]]:
    # The open statuses' ids as literals: with them (not a join on "is_closed") the planner knows
    # how few tickets are open and reads them through the status index instead of every ticket.
    return (
        select()
        .select_from(Ticket)
        .join(Status, Status.id == Ticket.status_id)
        .join(Priority, Priority.id == Ticket.priority_id)
        .where(
            Ticket.status_id.in_(bindparam("open_statuses", open_statuses, expanding=True, literal_execute=True)),
            Status.is_closed.is_(False),
            access.clients(Ticket.client_id),
        )
    )


async def by_priority(session: AsyncSession, access: Scope, now: datetime) -> list[PriorityCount]:
    """Every priority (most urgent first), with zero rows for those without open tickets."""
    counts = (
        await session.execute(
            _open_tickets(access, await _open_statuses(session))
            .add_columns(
                Ticket.priority_id,
                func.count(),
                func.count().filter(Ticket.agent_id.is_(None)),
                func.count().filter(sla.breached(now)),
                func.count().filter(sla.at_risk(now)),
            )
            .group_by(Ticket.priority_id)
        )
    ).all()
    found = {row[0]: row[1:] for row in counts}
    priorities = (await session.scalars(select(Priority).order_by(Priority.rank))).all()
    return [PriorityCount(p, *found.get(p.id, (0, 0, 0, 0))) for p in priorities]


async def by_client(
    session: AsyncSession, access: Scope, now: datetime, *, limit: int = TOP_CLIENTS
) -> list[ClientCount]:
    """The visible clients with the most open tickets."""
    urgent = Priority.rank <= 2
    statement = (
        _open_tickets(access, await _open_statuses(session))
        .join(Client, Client.id == Ticket.client_id)
        .add_columns(
            Ticket.client_id,
            Client.name,
            func.count(),
            func.count().filter(urgent),
            func.count().filter(sla.breached(now)),
        )
        .group_by(Ticket.client_id, Client.name)
        .order_by(func.count().filter(urgent).desc(), func.count().desc(), Client.name)
        .limit(limit)
    )
    return [ClientCount(*row) for row in (await session.execute(statement)).all()]


async def new_since(session: AsyncSession, access: Scope, since: datetime) -> int:
    statement = (
        select(func.count()).select_from(Ticket).where(Ticket.opened_at >= since, access.clients(Ticket.client_id))
    )
    return int(await session.scalar(statement) or 0)


def _mean(value: object) -> timedelta | None:
    return value if isinstance(value, timedelta) else None


async def response_times(session: AsyncSession, access: Scope, now: datetime) -> ResponseTimes:
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    response = Ticket.first_response_at - Ticket.opened_at
    first = (
        await session.execute(
            select(
                func.avg(response).filter(Ticket.opened_at >= week),
                func.avg(response),
                func.count(),
            ).where(
                Ticket.opened_at >= month,
                Ticket.first_response_at.is_not(None),
                access.clients(Ticket.client_id),
            )
        )
    ).one()
    to_close = Ticket.closed_at - Ticket.opened_at
    closing = (
        await session.execute(
            select(
                func.avg(to_close).filter(Ticket.closed_at >= week),
                func.avg(to_close),
                func.count(),
            ).where(Ticket.closed_at >= month, access.clients(Ticket.client_id))
        )
    ).one()
    return ResponseTimes(
        first_response_7d=_mean(first[0]),
        first_response_30d=_mean(first[1]),
        close_7d=_mean(closing[0]),
        close_30d=_mean(closing[1]),
        responded_30d=int(first[2]),
        closed_30d=int(closing[2]),
    )


async def per_day(session: AsyncSession, access: Scope, start: date) -> list[DayCount]:
    """Tickets opened and closed each (UTC) day since ``start``, by source."""
    since = datetime.combine(start, time.min, tzinfo=UTC)
    counts: dict[tuple[date, str], list[int]] = {}
    for column, slot in ((Ticket.opened_at, 0), (Ticket.closed_at, 1)):
        day = cast(func.timezone("UTC", column), Date)
        rows = await session.execute(
            select(day, Ticket.source, func.count())
            .where(column >= since, access.clients(Ticket.client_id))
            .group_by(day, Ticket.source)
        )
        for when, source, number in rows.all():
            counts.setdefault((when, source), [0, 0])[slot] = number
    return [DayCount(day, source, *numbers) for (day, source), numbers in sorted(counts.items())]


async def latest(session: AsyncSession, access: Scope, *, limit: int = LATEST) -> list[Ticket]:
    """The newest tickets (by opening time), with what a one-line summary shows."""
    statement = (
        select(Ticket)
        .join(Ticket.client)
        .join(Ticket.priority)
        .join(Ticket.status)
        .options(contains_eager(Ticket.client), contains_eager(Ticket.priority), contains_eager(Ticket.status))
        .where(access.clients(Ticket.client_id))
        .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def ticket_figures(session: AsyncSession, access: Scope, *, now: datetime | None = None) -> TicketFigures:
    now = now or utcnow()
    priorities = await by_priority(session, access, now)
    start = (now - timedelta(days=CHART_DAYS - 1)).date()
    totals = Totals(
        open=sum(row.open for row in priorities),
        unassigned=sum(row.unassigned for row in priorities),
        breached=sum(row.breached for row in priorities),
        at_risk=sum(row.at_risk for row in priorities),
        new_24h=await new_since(session, access, now - timedelta(hours=24)),
    )
    return TicketFigures(
        now=now,
        by_priority=priorities,
        by_client=await by_client(session, access, now),
        totals=totals,
        times=await response_times(session, access, now),
        days=await per_day(session, access, start),
        chart_start=start,
        latest=await latest(session, access),
    )

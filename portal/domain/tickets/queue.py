"""The ticket queue: filters, sorting, keyset pagination and the counts beside each filter.

Pages are cut with a keyset (the sort value and the id of the row at the edge of the page),
never OFFSET: a page stays cheap however deep, and rows that move while someone pages are
neither repeated nor skipped because of rows inserted before them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, contains_eager

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.clients.models import Client
from portal.domain.pagination import pack_token, unpack_token
from portal.domain.search import like_pattern
from portal.domain.tickets import sla
from portal.domain.tickets.models import Priority, Status, Ticket, TicketSource
from portal.domain.tickets.sla import SlaFilter

PAGE_SIZE = 50
MAX_QUERY = 200
# What the incident and alert views show: tickets raised by a connected tool, not by staff or scripts.
SECURITY_SOURCES = tuple(source for source in TicketSource if source not in (TicketSource.MANUAL, TicketSource.API))


class StatusFilter(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"


class SortColumn(enum.StrEnum):
    NUMBER = "number"
    SUMMARY = "summary"
    CLIENT = "client"
    PRIORITY = "priority"
    STATUS = "status"
    AGENT = "agent"
    OPENED_AT = "opened_at"
    UPDATED_AT = "updated_at"


Assigned = Literal["me", "unassigned"] | uuid.UUID


@dataclass(frozen=True)
class QueueFilters:
    client_id: uuid.UUID | None = None
    asset_id: uuid.UUID | None = None
    status: StatusFilter = StatusFilter.OPEN
    priority_id: uuid.UUID | None = None
    source: TicketSource | None = None
    assigned: Assigned | None = None
    q: str = ""
    updated_since: datetime | None = None
    security: bool = False  # incidents and alerts: tickets from any connected security tool
    sla: SlaFilter | None = None  # breached, or about to breach (needs ``Priority`` joined)


@dataclass(frozen=True)
class QueueSort:
    column: SortColumn = SortColumn.UPDATED_AT
    descending: bool = True


@dataclass(frozen=True)
class QueueCounts:
    open: int
    closed: int
    all: int
    unassigned: int
    mine: int


@dataclass(frozen=True)
class QueuePage:
    rows: list[Ticket]
    counts: QueueCounts
    filters: QueueFilters
    sort: QueueSort
    next_cursor: str | None = None
    previous_cursor: str | None = None
    page_size: int = PAGE_SIZE


# -- cursors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    sort: QueueSort
    before: bool  # True: the page that ends just before this row; False: the page that starts after it
    key: int | str | datetime
    row_id: uuid.UUID


_DATETIME_COLUMNS = (SortColumn.OPENED_AT, SortColumn.UPDATED_AT)
_INTEGER_COLUMNS = (SortColumn.NUMBER, SortColumn.PRIORITY, SortColumn.STATUS)


def encode_cursor(cursor: Cursor) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else cursor.key
    payload = {
        "s": cursor.sort.column.value,
        "d": "desc" if cursor.sort.descending else "asc",
        "b": cursor.before,
        "k": key,
        "i": str(cursor.row_id),
    }
    return pack_token(payload)


def decode_cursor(token: str) -> Cursor | None:
    """The cursor, or None when it is malformed (a stale or hand-edited link starts over)."""
    try:
        payload = unpack_token(token)
        column = SortColumn(payload["s"])
        sort = QueueSort(column, payload["d"] == "desc")
        key_raw = payload["k"]
        key: int | str | datetime
        if column in _DATETIME_COLUMNS:
            key = datetime.fromisoformat(str(key_raw))
        elif column in _INTEGER_COLUMNS:
            if not isinstance(key_raw, int) or isinstance(key_raw, bool):
                return None
            key = key_raw
        else:
            key = str(key_raw)
        return Cursor(sort=sort, before=bool(payload["b"]), key=key, row_id=uuid.UUID(str(payload["i"])))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# -- the query ---------------------------------------------------------------------------------


def _search_condition(q: str) -> ColumnElement[bool] | None:
    text = q.strip()[:MAX_QUERY]
    if not text:
        return None
    pattern = like_pattern(text)
    matches: list[ColumnElement[bool]] = [
        Ticket.summary.ilike(pattern, escape="\\"),
        Ticket.details.ilike(pattern, escape="\\"),
    ]
    digits = text.removeprefix("#").strip()
    if digits.isdigit() and len(digits) < 19:
        matches.append(Ticket.number == int(digits))
    return or_(*matches)


def _status_condition(status: StatusFilter) -> ColumnElement[bool]:
    if status is StatusFilter.OPEN:
        return Status.is_closed.is_(False)
    if status is StatusFilter.CLOSED:
        return Status.is_closed.is_(True)
    return true()


def _assigned_condition(assigned: Assigned | None, access: Scope) -> ColumnElement[bool]:
    if assigned is None:
        return true()
    if assigned == "me":
        return Ticket.agent_id == access.user_id
    if assigned == "unassigned":
        return Ticket.agent_id.is_(None)
    return Ticket.agent_id == assigned


def _other_conditions(filters: QueueFilters, access: Scope) -> list[ColumnElement[bool]]:
    """Every filter except status and assignment, which the counts vary one at a time."""
    conditions: list[ColumnElement[bool]] = [access.clients(Ticket.client_id)]
    if filters.client_id is not None:
        conditions.append(Ticket.client_id == filters.client_id)
    if filters.asset_id is not None:
        conditions.append(Ticket.asset_id == filters.asset_id)
    if filters.priority_id is not None:
        conditions.append(Ticket.priority_id == filters.priority_id)
    if filters.source is not None:
        conditions.append(Ticket.source == filters.source.value)
    if filters.updated_since is not None:
        conditions.append(Ticket.updated_at >= filters.updated_since)
    if filters.security:
        conditions.append(Ticket.source.in_([source.value for source in SECURITY_SOURCES]))
    if (service_level := sla.condition(filters.sla, utcnow())) is not None:
        conditions.append(service_level)
    if (search := _search_condition(filters.q)) is not None:
        conditions.append(search)
    return conditions


def filter_conditions(filters: QueueFilters, access: Scope) -> list[ColumnElement[bool]]:
    """Every filter, scope included: the WHERE clause of any ticket list (needs ``Status`` joined, and
    ``Priority`` too when filtering by SLA)."""
    return [
        *_other_conditions(filters, access),
        _status_condition(filters.status),
        _assigned_condition(filters.assigned, access),
    ]


def sort_value(ticket: Ticket, column: SortColumn) -> int | str | datetime:
    """The sort key of a loaded row, as the query orders it."""
    match column:
        case SortColumn.NUMBER:
            return ticket.number
        case SortColumn.SUMMARY:
            return ticket.summary
        case SortColumn.CLIENT:
            return ticket.client.name
        case SortColumn.PRIORITY:
            return ticket.priority.rank
        case SortColumn.STATUS:
            return ticket.status.rank
        case SortColumn.AGENT:
            return ticket.agent.display_name if ticket.agent else ""
        case SortColumn.OPENED_AT:
            return ticket.opened_at
        case SortColumn.UPDATED_AT:
            return ticket.updated_at


async def count_queue(session: AsyncSession, access: Scope, filters: QueueFilters) -> QueueCounts:
    # Open or closed by the statuses' ids, not by joining statuses: the counts then come from the
    # status index alone (ix_tickets_status_id_cover) instead of a pass over every ticket row.
    open_ids = list((await session.scalars(select(Status.id).where(Status.is_closed.is_(False)))).all())
    is_open = Ticket.status_id.in_(bindparam("open_status_ids", open_ids, expanding=True, literal_execute=True))
    status = {StatusFilter.OPEN: is_open, StatusFilter.CLOSED: ~is_open}.get(filters.status, true())
    assigned = _assigned_condition(filters.assigned, access)
    statement = select(
        func.count().filter(and_(is_open, assigned)),
        func.count().filter(and_(~is_open, assigned)),
        func.count().filter(assigned),
        func.count().filter(and_(status, Ticket.agent_id.is_(None))),
        func.count().filter(and_(status, Ticket.agent_id == access.user_id)),
    ).select_from(Ticket)
    if filters.sla is not None:  # the SLA conditions read the status and the priority's targets
        statement = statement.join(Status, Ticket.status_id == Status.id).join(
            Priority, Ticket.priority_id == Priority.id
        )
    row = (await session.execute(statement.where(*_other_conditions(filters, access)))).one()
    return QueueCounts(open=row[0], closed=row[1], all=row[2], unassigned=row[3], mine=row[4])


async def list_queue(
    session: AsyncSession,
    access: Scope,
    filters: QueueFilters | None = None,
    sort: QueueSort | None = None,
    cursor: str | None = None,
    *,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """One page of the queue, with the counts for the status tabs and assignment filters."""
    filters = filters or QueueFilters()
    sort = sort or QueueSort()
    page_size = max(1, page_size)
    position = decode_cursor(cursor) if cursor else None
    if position is not None and position.sort != sort:
        position = None  # a cursor from another ordering means nothing here

    agent = aliased(User)
    key: SQLColumnExpression[Any] = {
        SortColumn.NUMBER: Ticket.number,
        SortColumn.SUMMARY: Ticket.summary,
        SortColumn.CLIENT: Client.name,
        SortColumn.PRIORITY: Priority.rank,
        SortColumn.STATUS: Status.rank,
        # Unassigned rows sort as an empty name, so the key is never NULL and stays comparable.
        SortColumn.AGENT: func.coalesce(agent.display_name, ""),
        SortColumn.OPENED_AT: Ticket.opened_at,
        SortColumn.UPDATED_AT: Ticket.updated_at,
    }[sort.column]

    statement: Select[Ticket] = (
        select(Ticket)
        .join(Ticket.client)
        .join(Ticket.priority)
        .join(Ticket.status)
        .outerjoin(agent, Ticket.agent_id == agent.id)
        .options(
            contains_eager(Ticket.client),
            contains_eager(Ticket.priority),
            contains_eager(Ticket.status),
            contains_eager(Ticket.agent.of_type(agent)),
        )
        .where(
            *_other_conditions(filters, access),
            _status_condition(filters.status),
            _assigned_condition(filters.assigned, access),
        )
    )

    # Reading backwards (a "previous" link) walks the index in the opposite order, then flips the page.
    backwards = position is not None and position.before
    descending = sort.descending != backwards
    if position is not None:
        # A row comparison, not "key < k OR (key = k AND id < i)": PostgreSQL turns it into a bound
        # on the (key, id) index, so a deep page starts where it should instead of scanning to it.
        row_key = tuple_(key, Ticket.id)
        bound = tuple_(literal(position.key), literal(position.row_id))
        statement = statement.where(row_key < bound if descending else row_key > bound)
    order = (key.desc(), Ticket.id.desc()) if descending else (key.asc(), Ticket.id.asc())
    statement = statement.order_by(*order).limit(page_size + 1)

    rows = list((await session.scalars(statement)).unique().all())
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards and not rows:
        # Everything before the cursor has gone (closed or moved away): show the first page instead.
        return await list_queue(session, access, filters, sort, None, page_size=page_size)
    if backwards:
        rows.reverse()
        has_previous, has_next = more, True
    else:
        has_previous, has_next = position is not None, more

    def edge(ticket: Ticket, before: bool) -> str:
        return encode_cursor(Cursor(sort, before, sort_value(ticket, sort.column), ticket.id))

    return QueuePage(
        rows=rows,
        counts=await count_queue(session, access, filters),
        filters=filters,
        sort=sort,
        next_cursor=edge(rows[-1], before=False) if rows and has_next else None,
        previous_cursor=edge(rows[0], before=True) if rows and has_previous else None,
        page_size=page_size,
    )

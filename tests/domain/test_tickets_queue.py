"""The ticket queue: scoping, every filter, the counts, sorting and keyset pagination."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.tickets.models import Ticket, TicketSource
from portal.domain.tickets.queue import (
    QueueCounts,
    QueueFilters,
    QueueSort,
    SortColumn,
    StatusFilter,
    count_queue,
    list_queue,
)
from tests.domain.test_tickets_data import World, build_world, insert_ticket, scope_of


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
        await session.rollback()


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)


async def _numbers(session: AsyncSession, access: Scope, **filters: Any) -> set[int]:
    page = await list_queue(session, access, QueueFilters(**filters), page_size=500)
    return {ticket.number for ticket in page.rows}


async def test_a_limited_users_queue_counts_and_search_never_show_another_client(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    mine = await insert_ticket(session, world, world.acme, summary="Beacon to rare domain", agent=analyst)
    theirs = await insert_ticket(session, world, world.globex, summary="Beacon to rare domain", agent=analyst)
    await insert_ticket(session, world, world.globex, status="Resolved")
    limited = scope_of(analyst, world.acme)

    assert await _numbers(session, limited, status=StatusFilter.ALL) == {mine.number}
    assert await _numbers(session, limited, q="beacon") == {mine.number}
    assert await _numbers(session, limited, q=str(theirs.number)) == set()
    assert await _numbers(session, limited, client_id=world.globex.id) == set()
    counts = await count_queue(session, limited, QueueFilters())
    assert counts == QueueCounts(open=1, closed=0, all=1, unassigned=0, mine=1)

    nobody = Scope(user_id=analyst.id, role=Role.ANALYST, all_clients=False, client_ids=frozenset())
    assert await _numbers(session, nobody, status=StatusFilter.ALL) == set()

    everyone = scope_of(analyst)
    assert await _numbers(session, everyone, q="beacon") == {mine.number, theirs.number}


async def test_each_filter(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    other = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    old = utcnow() - timedelta(days=10)
    a = await insert_ticket(
        session, world, world.acme, summary="Impossible travel", priority=1, agent=analyst, asset=world.acme_asset
    )
    b = await insert_ticket(
        session,
        world,
        world.acme,
        summary="Patch failure",
        details="KB5031356 failed with 0x80070005",
        source=TicketSource.KASEYA,
        agent=other,
        updated_at=old,
    )
    c = await insert_ticket(session, world, world.globex, summary="100% CPU on fileserver_01", status="Resolved")
    d = await insert_ticket(
        session, world, world.globex, summary="Malware quarantined", source=TicketSource.SENTINELONE
    )

    assert await _numbers(session, access) == {a.number, b.number, d.number}  # open by default
    assert await _numbers(session, access, status=StatusFilter.CLOSED) == {c.number}
    assert await _numbers(session, access, status=StatusFilter.ALL) == {a.number, b.number, c.number, d.number}
    assert await _numbers(session, access, client_id=world.globex.id, status=StatusFilter.ALL) == {c.number, d.number}
    assert await _numbers(session, access, asset_id=world.acme_asset.id) == {a.number}
    assert await _numbers(session, access, priority_id=world.priorities[1].id) == {a.number}
    assert await _numbers(session, access, source=TicketSource.KASEYA) == {b.number}
    assert await _numbers(session, access, assigned="me") == {a.number}
    assert await _numbers(session, access, assigned="unassigned") == {d.number}
    assert await _numbers(session, access, assigned=other.id) == {b.number}
    assert await _numbers(session, access, updated_since=old + timedelta(days=1)) == {a.number, d.number}

    # Text search: summary and details, any case; a number with or without "#"; LIKE wildcards are literal.
    assert await _numbers(session, access, q="IMPOSSIBLE") == {a.number}
    assert await _numbers(session, access, q="kb5031356") == {b.number}
    assert await _numbers(session, access, q=str(d.number)) == {d.number}
    assert await _numbers(session, access, q=f"#{d.number}") == {d.number}
    assert await _numbers(session, access, q="100%", status=StatusFilter.ALL) == {c.number}
    assert await _numbers(session, access, q="%", status=StatusFilter.ALL) == {c.number}
    assert await _numbers(session, access, q="fileserver_0", status=StatusFilter.ALL) == {c.number}
    assert await _numbers(session, access, q="r_0") == set()

    # Filters combine.
    assert await _numbers(session, access, client_id=world.acme.id, assigned="me", q="travel") == {a.number}
    assert await _numbers(session, access, client_id=world.acme.id, assigned="unassigned") == set()


async def test_counts_follow_the_other_filters(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    await insert_ticket(session, world, world.acme, agent=analyst, summary="phish one")
    await insert_ticket(session, world, world.acme, summary="phish two")
    await insert_ticket(session, world, world.acme, summary="phish three", status="Resolved", agent=analyst)
    await insert_ticket(session, world, world.acme, summary="phish four", status="Closed")
    await insert_ticket(session, world, world.globex, summary="phish five")
    await insert_ticket(session, world, world.acme, summary="malware")

    counts = await count_queue(session, access, QueueFilters(q="phish"))
    assert counts == QueueCounts(open=3, closed=2, all=5, unassigned=2, mine=1)
    counts = await count_queue(session, access, QueueFilters(q="phish", status=StatusFilter.ALL))
    assert counts == QueueCounts(open=3, closed=2, all=5, unassigned=3, mine=2)
    # The status tabs count within the assignment filter; the assignment counts within the status tab.
    counts = await count_queue(session, access, QueueFilters(q="phish", status=StatusFilter.CLOSED, assigned="me"))
    assert counts == QueueCounts(open=1, closed=1, all=2, unassigned=1, mine=1)
    counts = await count_queue(session, access, QueueFilters(client_id=world.acme.id))
    assert counts == QueueCounts(open=3, closed=2, all=5, unassigned=2, mine=1)
    page = await list_queue(session, access, QueueFilters(q="phish"))
    assert page.counts == QueueCounts(open=3, closed=2, all=5, unassigned=2, mine=1)


async def _walk(session: AsyncSession, access: Scope, sort: QueueSort, page_size: int) -> list[list[Ticket]]:
    """Every page forward, then back from the last one; both directions must agree."""
    filters = QueueFilters(status=StatusFilter.ALL)
    forward = [await list_queue(session, access, filters, sort, page_size=page_size)]
    assert forward[0].previous_cursor is None
    while forward[-1].next_cursor:
        forward.append(await list_queue(session, access, filters, sort, forward[-1].next_cursor, page_size=page_size))
    backward = [forward[-1]]
    while backward[-1].previous_cursor:
        backward.append(
            await list_queue(session, access, filters, sort, backward[-1].previous_cursor, page_size=page_size)
        )
    assert [[t.id for t in p.rows] for p in reversed(backward)] == [[t.id for t in p.rows] for p in forward]
    assert backward[-1].previous_cursor is None
    assert forward[-1].next_cursor is None
    return [p.rows for p in forward]


@pytest.mark.parametrize(
    "sort",
    [
        QueueSort(),
        QueueSort(SortColumn.PRIORITY, descending=False),
        QueueSort(SortColumn.PRIORITY, descending=True),
        QueueSort(SortColumn.AGENT, descending=False),
        QueueSort(SortColumn.CLIENT, descending=True),
        QueueSort(SortColumn.STATUS, descending=False),
        QueueSort(SortColumn.SUMMARY, descending=False),
        QueueSort(SortColumn.NUMBER, descending=False),
        QueueSort(SortColumn.OPENED_AT, descending=True),
    ],
    ids=lambda sort: f"{sort.column.value}-{'desc' if sort.descending else 'asc'}",
)
async def test_keyset_pagination_walks_every_row_once_both_ways(session, world, make_user, sort) -> None:
    analyst = await make_user(Role.ANALYST)
    rng = random.Random(5)
    same_moment = utcnow() - timedelta(hours=1)
    created = []
    for index in range(123):
        created.append(
            await insert_ticket(
                session,
                world,
                rng.choice([world.acme, world.globex]),
                summary=rng.choice(["Alpha", "Bravo", "Charlie"]),  # many equal keys: the id breaks ties
                priority=rng.randint(1, 4),
                status=rng.choice(["New", "In Progress", "Resolved"]),
                agent=analyst if rng.random() < 0.5 else None,
                # Whole groups share a timestamp too.
                updated_at=same_moment if index % 3 == 0 else None,
                opened_at=same_moment if index % 2 == 0 else None,
            )
        )
    pages = await _walk(session, scope_of(analyst), sort, page_size=50)
    assert [len(rows) for rows in pages] == [50, 50, 23]
    seen = [ticket.id for rows in pages for ticket in rows]
    assert len(seen) == len(set(seen)) == len(created)

    keys: dict[SortColumn, Callable[[Ticket], Any]] = {
        SortColumn.UPDATED_AT: lambda t: t.updated_at,
        SortColumn.PRIORITY: lambda t: t.priority.rank,
        SortColumn.AGENT: lambda t: t.agent.display_name if t.agent else "",
        SortColumn.CLIENT: lambda t: t.client.name,
        SortColumn.STATUS: lambda t: t.status.rank,
        SortColumn.SUMMARY: lambda t: t.summary,
        SortColumn.NUMBER: lambda t: t.number,
        SortColumn.OPENED_AT: lambda t: t.opened_at,
    }
    ordered = [keys[sort.column](ticket) for rows in pages for ticket in rows]
    assert ordered == sorted(ordered, reverse=sort.descending)


async def test_pages_hold_when_rows_are_added_in_front(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    for _ in range(7):
        await insert_ticket(session, world)
    first = await list_queue(session, access, page_size=3)
    await insert_ticket(session, world, updated_at=utcnow() + timedelta(minutes=5))  # lands on page one
    second = await list_queue(session, access, cursor=first.next_cursor, page_size=3)
    assert not {t.id for t in first.rows} & {t.id for t in second.rows}
    assert second.rows[0].updated_at < first.rows[-1].updated_at


async def test_a_malformed_or_foreign_cursor_starts_from_the_first_page(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    for _ in range(5):
        await insert_ticket(session, world)
    by_number = QueueSort(SortColumn.NUMBER, descending=False)
    start = await list_queue(session, access, sort=by_number, page_size=2)
    by_update = await list_queue(session, access, page_size=2)
    for cursor in ("not-a-cursor", "e30", by_update.next_cursor):  # garbage, "{}", another sort's cursor
        page = await list_queue(session, access, sort=by_number, cursor=cursor, page_size=2)
        assert page.previous_cursor is None
        assert [t.id for t in page.rows] == [t.id for t in start.rows]


async def test_rows_come_with_what_the_table_shows(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    await insert_ticket(session, world, agent=analyst)
    page = await list_queue(session, scope_of(analyst))
    [ticket] = page.rows
    # Loaded with the row: touching them must not need another (async-forbidden) lazy load.
    assert ticket.__dict__["client"].name == "Acme Corp"
    assert ticket.__dict__["priority"].rank == 3
    assert ticket.__dict__["status"].name == "New"
    assert ticket.__dict__["agent"].id == analyst.id

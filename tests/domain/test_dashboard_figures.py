"""Every dashboard figure, computed from tickets whose times are known, for a limited and an unlimited user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.clients.models import Client, Site
from portal.domain.dashboard.figures import TicketFigures, ticket_figures
from portal.domain.tickets.models import Priority, Status, Ticket, TicketType

NOW = utcnow().replace(microsecond=0)


@dataclass
class Estate:
    a: uuid.UUID
    b: uuid.UUID
    agent: uuid.UUID


def _ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.fixture
async def estate(sessionmaker, make_user) -> Estate:
    agent = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        priorities = {p.rank: p.id for p in (await session.scalars(select(Priority))).all()}
        statuses = {s.name: s.id for s in (await session.scalars(select(Status))).all()}
        ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
        assert ticket_type is not None
        clients = []
        for name in ("Alpha", "Bravo"):
            client = Client(name=name, sites=[Site(name="Main", is_main=True)])
            session.add(client)
            await session.flush()
            clients.append(client)
        a, b = clients

        def ticket(client: Client, rank: int, opened: datetime, **fields: object) -> Ticket:
            closed = fields.get("closed_at") is not None
            return Ticket(
                client_id=client.id,
                site_id=client.sites[0].id,
                ticket_type_id=ticket_type.id,
                priority_id=priorities[rank],
                status_id=statuses["Resolved" if closed else "New"],
                summary=f"{client.name} P{rank}",
                opened_at=opened,
                **fields,
            )

        session.add_all(
            [
                # Alpha: P1 30 min old and unanswered: past its 15-minute response target.
                ticket(a, 1, _ago(minutes=30), source="acme"),
                # P2 50 min old, unanswered: 45 of its 60 minutes gone, so about to breach. Assigned.
                ticket(a, 2, _ago(minutes=50), agent_id=agent.id, source="acme"),
                # P3 2 h old, answered after 30 min: within its targets.
                ticket(a, 3, _ago(hours=2), first_response_at=_ago(hours=1.5)),
                # P4 closed a day ago, 2 days after it opened, answered after 2 h.
                ticket(a, 4, _ago(days=3), first_response_at=_ago(days=3) + timedelta(hours=2), closed_at=_ago(days=1)),
                # Bravo: P1 open for 10 days (resolve target 4 h: breached), unassigned.
                ticket(b, 1, _ago(days=10), first_response_at=_ago(days=10) + timedelta(minutes=5)),
                # P2 closed 10 days ago after 10 days, answered after 1 h.
                ticket(
                    b, 2, _ago(days=20), first_response_at=_ago(days=20) + timedelta(hours=1), closed_at=_ago(days=10)
                ),
            ]
        )
    return Estate(a.id, b.id, agent.id)


def _limited(*client_ids: uuid.UUID) -> Scope:
    return Scope(uuid.uuid4(), Role.ANALYST, False, frozenset(client_ids))


async def _figures(sessionmaker, access: Scope) -> TicketFigures:
    async with session_scope(sessionmaker) as session:
        return await ticket_figures(session, access, now=NOW)


async def test_a_limited_user_sees_only_their_clients_numbers(sessionmaker, estate: Estate) -> None:
    figures = await _figures(sessionmaker, _limited(estate.a))
    t = figures.totals
    assert (t.open, t.unassigned, t.breached, t.at_risk, t.new_24h) == (3, 2, 1, 1, 3)
    assert [
        (row.priority.rank, row.open, row.unassigned, row.breached, row.at_risk) for row in figures.by_priority
    ] == [
        (1, 1, 1, 1, 0),
        (2, 1, 0, 0, 1),
        (3, 1, 1, 0, 0),
        (4, 0, 0, 0, 0),
    ]
    assert [(row.name, row.open, row.urgent, row.breached) for row in figures.by_client] == [("Alpha", 3, 2, 1)]
    assert {ticket.client_id for ticket in figures.latest} == {estate.a}
    assert sum(day.opened for day in figures.days) == 4  # all four opened within the chart's 14 days
    times = figures.times
    assert times.first_response_7d == timedelta(minutes=75)  # (30 min + 2 h) / 2
    assert times.first_response_30d == timedelta(minutes=75)
    assert times.close_7d == timedelta(days=2)
    assert times.close_30d == timedelta(days=2)
    assert (times.responded_30d, times.closed_30d) == (2, 1)


async def test_everyone_sees_every_client(sessionmaker, estate: Estate) -> None:
    figures = await _figures(sessionmaker, Scope.system())
    t = figures.totals
    assert (t.open, t.unassigned, t.breached, t.at_risk, t.new_24h) == (4, 3, 2, 1, 3)
    assert [(row.name, row.open, row.urgent, row.breached) for row in figures.by_client] == [
        ("Alpha", 3, 2, 1),
        ("Bravo", 1, 1, 1),
    ]
    times = figures.times
    assert times.first_response_30d == timedelta(minutes=(30 + 120 + 5 + 60) / 4)  # both clients' four answers
    assert times.first_response_7d == timedelta(minutes=75)  # Bravo's were opened over a week ago
    assert times.close_30d == timedelta(days=6)  # 2 days and 10 days
    assert times.close_7d == timedelta(days=2)


async def test_the_daily_counts_are_by_day_and_source(sessionmaker, estate: Estate) -> None:
    figures = await _figures(sessionmaker, _limited(estate.a))
    opened: dict[tuple[object, str], int] = {}
    for when, source in ((_ago(minutes=30), "acme"), (_ago(minutes=50), "acme"), (_ago(hours=2), "manual")):
        opened[(when.date(), source)] = opened.get((when.date(), source), 0) + 1
    opened[(_ago(days=3).date(), "manual")] = 1
    assert {(day.day, day.source): day.opened for day in figures.days if day.opened} == opened
    assert {(day.day, day.source): day.closed for day in figures.days if day.closed} == {
        (_ago(days=1).date(), "manual"): 1
    }
    assert figures.chart_start == (NOW - timedelta(days=13)).date()


async def test_a_user_with_no_clients_sees_zeros(sessionmaker, estate: Estate) -> None:
    figures = await _figures(sessionmaker, _limited())
    assert figures.totals.open == 0
    assert figures.by_client == []
    assert figures.latest == []
    assert figures.times.first_response_30d is None

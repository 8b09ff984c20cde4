"""The queue's incident/alert and SLA filters list exactly the tickets the dashboard counts."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.tickets import sla
from portal.domain.tickets.queue import QueueFilters, list_queue
from portal.domain.tickets.sla import SlaFilter
from tests.domain.test_dashboard_figures import NOW, Estate, _figures, _limited, estate  # noqa: F401  (a fixture)


async def _summaries(sessionmaker, access: Scope, filters: QueueFilters) -> list[str]:
    async with session_scope(sessionmaker) as session:
        page = await list_queue(session, access, filters)
        return sorted(ticket.summary for ticket in page.rows)


async def test_the_sla_filters_match_the_dashboard(sessionmaker, estate: Estate) -> None:  # noqa: F811
    everyone = Scope.system()
    breached = await _summaries(sessionmaker, everyone, QueueFilters(sla=SlaFilter.BREACHED))
    at_risk = await _summaries(sessionmaker, everyone, QueueFilters(sla=SlaFilter.AT_RISK))
    assert breached == ["Alpha P1", "Bravo P1"]
    assert at_risk == ["Alpha P2"]
    figures = await _figures(sessionmaker, everyone)
    assert (figures.totals.breached, figures.totals.at_risk) == (len(breached), len(at_risk))
    assert await _summaries(sessionmaker, _limited(estate.a), QueueFilters(sla=SlaFilter.BREACHED)) == ["Alpha P1"]


async def test_the_incident_view_shows_only_tickets_from_connected_tools(sessionmaker, estate: Estate) -> None:  # noqa: F811
    everything = await _summaries(sessionmaker, Scope.system(), QueueFilters())
    incidents = await _summaries(sessionmaker, Scope.system(), QueueFilters(security=True))
    assert len(everything) == 4
    assert incidents == ["Alpha P1", "Alpha P2"]  # the Acme ones; the rest were raised by hand


async def test_one_tickets_state_follows_the_same_rules(sessionmaker, estate: Estate) -> None:  # noqa: F811
    from sqlalchemy import select

    from portal.domain.tickets.models import Ticket

    async with session_scope(sessionmaker) as session:
        tickets = (
            await session.scalars(select(Ticket).options(selectinload(Ticket.priority), selectinload(Ticket.status)))
        ).all()
        states = {ticket.summary: sla.state(ticket, NOW) for ticket in tickets}
    assert states == {
        "Alpha P1": SlaFilter.BREACHED,
        "Alpha P2": SlaFilter.AT_RISK,
        "Alpha P3": None,
        "Alpha P4": None,
        "Bravo P1": SlaFilter.BREACHED,
        "Bravo P2": None,
    }

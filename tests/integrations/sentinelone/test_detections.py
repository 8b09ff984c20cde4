"""Threats and alerts as tickets: one per record, routed by the client links, refreshed on change."""

from __future__ import annotations

from sqlalchemy import select

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.sync import engine
from portal.domain.sync.models import SyncRun
from portal.domain.tickets.models import Priority, Status, TicketAction, TicketType
from portal.integrations.sentinelone.emulator.state import parse_iso
from tests.integrations.sentinelone.conftest import S1World, priority_named


async def _map_all_accounts(s1: S1World) -> dict[str, str]:
    """Every fixture account to a client of its name; returns client id by account name."""
    ids = {}
    for name in ("Northwind Traders", "Contoso Dental Group", "Halvorsen Bakery"):
        client_id, _ = await s1.client_named(name)
        await s1.link(client_id, s1.account_id(name))
        ids[name] = str(client_id)
    return ids


def _threat_account(s1: S1World, threat_id: str) -> str:
    threat = s1.state.threats[threat_id]
    return str(s1.state.agents[threat.agent_id]["accountName"])


async def test_each_open_threat_becomes_one_ticket_in_its_client(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    steps = await s1.run("threats")
    assert steps[-1].outcome == "finished"
    open_threats = s1.open_threats()
    assert len(open_threats) >= 3
    for threat_id in open_threats:
        ticket = await s1.ticket_of("threat", threat_id)
        assert ticket is not None
        assert str(ticket.client_id) == clients[_threat_account(s1, threat_id)]
        assert ticket.source == "sentinelone"
        assert ticket.summary.startswith("SentinelOne threat: ")
    assert len(await s1.tickets()) == len(open_threats)  # resolved threats make no ticket
    await s1.run("threats")
    assert len(await s1.tickets()) == len(open_threats)  # idempotent


async def test_an_unmapped_site_goes_to_the_default_site_flagged(s1: S1World) -> None:
    _, sites = await s1.client_named("Triage", "Inbox")
    await s1.mappings(default_site=str(sites["Inbox"]))
    await s1.run("threats")
    tickets = await s1.tickets()
    assert len(tickets) == len(s1.open_threats())
    assert {ticket.site_id for ticket in tickets} == {sites["Inbox"]}
    assert all(ticket.summary.startswith("[Unmapped site] ") for ticket in tickets)
    async with session_scope(s1.sessionmaker) as session:
        notes = (await session.scalars(select(TicketAction.body).where(TicketAction.ticket_id == tickets[0].id))).all()
    assert any(body.startswith("Flagged: SentinelOne site") for body in notes)


async def test_without_a_mapping_or_default_site_nothing_is_lost(s1: S1World) -> None:
    steps = await s1.run("threats")
    assert steps[-1].outcome == "finished"
    assert await s1.tickets() == []
    async with session_scope(s1.sessionmaker) as session:
        run = await session.get(SyncRun, steps[-1].run_id)
        assert run is not None
        assert run.failed == len(s1.open_threats())
        assert "no client link covers" in run.problems[0]["error"]
    state = await s1.state_of("threats")
    earliest = min(parse_iso(s1.state.threats[threat_id].info["updatedAt"]) for threat_id in s1.open_threats())
    assert state.watermark is not None
    assert state.watermark < earliest  # held back: the next run reads them again
    await _map_all_accounts(s1)
    await s1.run("threats")
    assert len(await s1.tickets()) == len(s1.open_threats())


async def test_a_site_link_wins_over_its_account_link(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    threat_id = s1.open_threats()[0]
    agent = s1.state.agents[s1.state.threats[threat_id].agent_id]
    special, sites = await s1.client_named("Special", "Branch")
    await s1.link(special, str(agent["siteId"]), kind="site", site_id=sites["Branch"])
    await s1.run("threats")
    ticket = await s1.ticket_of("threat", threat_id)
    assert ticket is not None
    assert (ticket.client_id, ticket.site_id) == (special, sites["Branch"])
    assert str(ticket.client_id) not in clients.values()


async def test_site_matching_ignores_account_links(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.mappings(matching_method="site")
    await s1.run("threats")
    assert await s1.tickets() == []  # no site link: held back (no default site)


async def test_severity_picks_the_priority_by_name_else_the_types_default(s1: S1World) -> None:
    await _map_all_accounts(s1)
    agent_id = s1.state.threats[s1.open_threats()[0]].agent_id
    malicious = s1.state.raise_threat(agent_id, {"threatName": "a.exe", "confidenceLevel": "malicious"})
    suspicious = s1.state.raise_threat(agent_id, {"threatName": "b.exe", "confidenceLevel": "suspicious"})
    await s1.run("threats")
    high = await priority_named(s1.sessionmaker, "P2 - High")
    medium = await priority_named(s1.sessionmaker, "P3 - Medium")
    first = await s1.ticket_of("threat", malicious.id)
    second = await s1.ticket_of("threat", suspicious.id)
    assert first is not None
    assert second is not None
    assert (first.priority_id, second.priority_id) == (high, medium)
    # Alerts carry a severity of their own; "Critical" matches "P1 - Critical".
    alert = s1.state.raise_alert(agent_id, {"ruleName": "Odd login", "severity": "Critical"})
    async with session_scope(s1.sessionmaker) as session:  # no priority is called anything like "Low" now
        low = await session.get(Priority, await priority_named(s1.sessionmaker, "P4 - Low"))
        assert low is not None
        low.name = "P4 - Minor"
    unknown = s1.state.raise_alert(agent_id, {"ruleName": "Odd thing", "severity": "Low"})
    await s1.run("alerts")
    critical = await s1.ticket_of("alert", alert.id)
    other = await s1.ticket_of("alert", unknown.id)
    assert critical is not None
    assert other is not None
    assert critical.priority_id == await priority_named(s1.sessionmaker, "P1 - Critical")
    async with session_scope(s1.sessionmaker) as session:
        ticket_type = await session.get(TicketType, other.ticket_type_id)
        assert ticket_type is not None
        assert other.priority_id == ticket_type.default_priority_id


async def test_new_tickets_go_to_the_default_user_when_one_is_set(s1: S1World, make_user) -> None:
    await _map_all_accounts(s1)
    await s1.run("threats")
    assert {ticket.agent_id for ticket in await s1.tickets()} == {None}
    user = await make_user(Role.ANALYST)
    await s1.mappings(default_user=str(user.id))
    agent_id = s1.state.threats[s1.open_threats()[0]].agent_id
    threat = s1.state.raise_threat(agent_id, {"threatName": "c.exe"})
    await s1.run("threats")
    ticket = await s1.ticket_of("threat", threat.id)
    assert ticket is not None
    assert ticket.agent_id == user.id


async def test_a_threat_resolved_in_sentinelone_closes_its_ticket_and_a_reopen_reopens_it(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("threats")
    threat_id = s1.open_threats()[0]
    s1.state.set_threat(s1.state.threats[threat_id], incident_status="resolved", analyst_verdict="false_positive")
    await s1.run("threats")
    ticket = await s1.ticket_of("threat", threat_id)
    assert ticket is not None
    async with session_scope(s1.sessionmaker) as session:
        status = await session.get(Status, ticket.status_id)
        assert status is not None
        assert status.is_closed
    assert (ticket.classification, ticket.classification_reason) == ("FalsePositive", "IncorrectAlertLogic")
    s1.state.set_threat(s1.state.threats[threat_id], incident_status="unresolved")
    await s1.run("threats")
    reopened = await s1.ticket_of("threat", threat_id)
    assert reopened is not None
    assert reopened.closed_at is None


async def test_an_update_refreshes_the_ticket_text(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("threats")
    threat_id = s1.open_threats()[0]
    s1.state.set_threat(s1.state.threats[threat_id], mitigation_status="mitigated")
    await s1.run("threats")
    ticket = await s1.ticket_of("threat", threat_id)
    assert ticket is not None
    assert "Mitigation status: Mitigated" in ticket.details


async def test_open_alerts_become_tickets_routed_through_their_sites_account(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    steps = await s1.run("alerts")
    assert steps[-1].outcome == "finished"
    open_alerts = s1.open_alerts()
    assert open_alerts
    for alert_id in open_alerts:
        ticket = await s1.ticket_of("alert", alert_id)
        assert ticket is not None
        agent = s1.state.agents[s1.state.alerts[alert_id].agent_id]
        assert str(ticket.client_id) == clients[str(agent["accountName"])]
        assert ticket.summary.startswith("SentinelOne alert: ")


async def test_a_malformed_threat_is_recorded_and_the_rest_of_the_page_imports(s1: S1World) -> None:
    await _map_all_accounts(s1)
    bad = {"id": "1710000000000999999", "threatInfo": {"threatName": "bad.exe"}, "agentRealtimeInfo": {}}
    s1.state.faults.add("malformed_item", path_prefix="/web/api/v2.1/threats", method="GET", body=bad, index=0)
    steps = await s1.run("threats")
    async with session_scope(s1.sessionmaker) as session:
        run = await session.get(SyncRun, steps[-1].run_id)
        assert run is not None
        assert run.outcome == "partial"
        assert [problem["remote_id"] for problem in run.problems] == ["1710000000000999999"]
        assert "threatInfo.createdAt is missing" in run.problems[0]["error"]
    # The record the fault replaced comes again on the next run (the watermark held before it).
    await s1.run("threats")
    assert len(await s1.tickets()) == len(s1.open_threats())


async def test_a_rate_limit_is_retried_and_then_imports(s1: S1World) -> None:
    await _map_all_accounts(s1)
    s1.state.faults.add("rate_limit", path_prefix="/web/api/v2.1/threats", retry_after=60)
    first = await engine.advance(s1.runtime, s1.connection_id, None, "threats")
    assert first.outcome == "retry"
    assert (await s1.state_of("threats")).last_error.endswith("(rate limited)")
    await s1.run("threats")
    assert len(await s1.tickets()) == len(s1.open_threats())

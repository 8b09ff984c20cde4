"""Back to SentinelOne through the outbox: a synced note becomes a threat note, closing resolves — once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, select

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.domain.sync.relay import relay
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Status, TicketAction
from portal.integrations.base import OutboundChange
from portal.integrations.errors import InvalidRequest
from portal.integrations.sentinelone.manifest import MANIFEST
from portal.integrations.sentinelone.vendor import SentinelOneVendor
from tests.integrations.sentinelone.conftest import S1World

API = "/web/api/v2.1"


async def _staff(s1: S1World, make_user) -> Scope:
    user: User = await make_user(Role.ANALYST)
    return Scope(user_id=user.id, role=Role.ANALYST, all_clients=True, client_ids=frozenset(), label=user.email)


async def _ticket_for_new_threat(s1: S1World) -> tuple[str, uuid.UUID]:
    client_id, _ = await s1.client_named("Northwind")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    agent = next(a for a in s1.state.agents.values() if a["accountName"] == "Northwind Traders" and a["isActive"])
    threat = s1.state.raise_threat(str(agent["id"]), {"threatName": "payload.dll"})
    await s1.run("threats")
    ticket = await s1.ticket_of("threat", threat.id)
    assert ticket is not None
    return threat.id, ticket.id


def _posts(s1: S1World, path: str) -> int:
    return len([entry for entry in s1.state.control.requests.entries(method="POST") if entry.path == f"{API}{path}"])


async def _redeliver_everything(s1: S1World) -> None:
    """The crash window: SentinelOne has the writes, socdesk's bookkeeping of them was rolled back."""
    async with session_scope(s1.sessionmaker) as session:
        for message in (await session.scalars(select(OutboxMessage))).all():
            message.status, message.produced_remote_id, message.delivered_at = OutboxStatus.PENDING.value, None, None
        await session.execute(delete(ExternalLink).where(ExternalLink.origin == "local"))
    result = await relay(s1.runtime)
    assert (result.delivered, result.failed) == (2, 0)


async def test_raise_ticket_note_close_resolved_exactly_once(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    staff = await _staff(s1, make_user)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.add_note(session, staff, ticket_id, "Isolated the laptop.", sync_to_source=True)
        await tickets.add_note(session, staff, ticket_id, "Internal only.")  # not flagged: stays here
    result = await relay(s1.runtime)
    assert (result.delivered, result.failed) == (1, 0)
    notes = list(s1.state.threats[threat_id].notes.values())
    assert len(notes) == 1
    assert notes[0].text.startswith("[socdesk] Isolated the laptop.")
    async with session_scope(s1.sessionmaker) as session:
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.operation == "comment"))
        assert message is not None
        assert message.produced_remote_id == notes[0].id

    async with session_scope(s1.sessionmaker) as session:
        await tickets.close(
            session, staff, ticket_id, classification="TruePositive", classification_reason="SuspiciousActivity",
            note="", custom_field_values={},
        )  # fmt: skip
    result = await relay(s1.runtime)
    assert (result.delivered, result.failed) == (1, 0)
    info = s1.state.threats[threat_id].info
    assert (info["incidentStatus"], info["analystVerdict"]) == ("resolved", "true_positive")
    assert (_posts(s1, "/threats/incident"), _posts(s1, "/threats/analyst-verdict"), _posts(s1, "/threats/notes")) == (
        1,
        1,
        1,
    )

    await _redeliver_everything(s1)  # a crash before the bookkeeping: every message goes again
    assert len(s1.state.threats[threat_id].notes) == 1
    assert (_posts(s1, "/threats/incident"), _posts(s1, "/threats/analyst-verdict"), _posts(s1, "/threats/notes")) == (
        1,
        1,
        1,
    )

    await s1.run("threats")  # the resolved threat comes back on the next poll: no echo, the ticket stays closed
    ticket = await s1.ticket_of("threat", threat_id)
    assert ticket is not None
    assert ticket.closed_at is not None
    async with session_scope(s1.sessionmaker) as session:
        pending = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING.value))
        ).all()
    assert pending == []


async def test_the_verdict_follows_the_closure_mapping(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    await s1.mappings(verdict_FalsePositive="suspicious")
    staff = await _staff(s1, make_user)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.close(
            session, staff, ticket_id, classification="FalsePositive", classification_reason="InaccurateData",
            note="Pen test.",
        )  # fmt: skip
    await relay(s1.runtime)
    info = s1.state.threats[threat_id].info
    assert (info["incidentStatus"], info["analystVerdict"]) == ("resolved", "suspicious")
    notes = [note.text for note in s1.state.threats[threat_id].notes.values()]
    assert len(notes) == 1
    assert notes[0].startswith("[socdesk] Closed in socdesk: Pen test.")


async def test_reopening_sets_the_threat_in_progress(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    staff = await _staff(s1, make_user)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.close(
            session, staff, ticket_id, classification="TruePositive", classification_reason="SuspiciousActivity"
        )
    await relay(s1.runtime)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.reopen(session, staff, ticket_id, note="Came back.")
    await relay(s1.runtime)
    assert s1.state.threats[threat_id].info["incidentStatus"] == "in_progress"


async def test_closing_an_alert_ticket_resolves_the_alert(s1: S1World, make_user) -> None:
    client_id, _ = await s1.client_named("Northwind")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    agent = next(a for a in s1.state.agents.values() if a["accountName"] == "Northwind Traders" and a["isActive"])
    alert = s1.state.raise_alert(str(agent["id"]), {"ruleName": "Odd login", "severity": "High"})
    await s1.run("alerts")
    ticket = await s1.ticket_of("alert", alert.id)
    assert ticket is not None
    staff = await _staff(s1, make_user)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.add_note(session, staff, ticket.id, "Known admin.", sync_to_source=True)
        await tickets.close(
            session, staff, ticket.id, classification="FalsePositive", classification_reason="IncorrectAlertLogic"
        )
    result = await relay(s1.runtime)
    assert (result.delivered, result.failed) == (2, 0)
    said = await _note_bodies(s1, ticket.id)
    assert said[-1][1] == "SentinelOne"
    assert "SentinelOne alerts take no notes, so “Known admin.” stays in socdesk only" in said[-1][0]
    assert (alert.info["incidentStatus"], alert.info["analystVerdict"]) == ("Resolved", "False Positive")


async def test_a_refused_write_is_retried_and_says_which_permission(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    staff = await _staff(s1, make_user)
    viewer = s1.state.create_user("Reader", role="Viewer")
    await s1.set_token(viewer.token)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.close(
            session, staff, ticket_id, classification="TruePositive", classification_reason="SuspiciousActivity"
        )
    result = await relay(s1.runtime)
    assert result.delivered == 0
    assert "Threats.updateAnalystVerdict" in result.errors[0]
    assert s1.state.threats[threat_id].info["incidentStatus"] != "resolved"


async def test_changes_sentinelone_does_not_take_are_refused_by_name(s1: S1World) -> None:
    api = await s1.api()
    change = OutboundChange(
        id=uuid.uuid4(), operation="priority", remote_type="threat", remote_id="1", payload={},
        idempotency_key=uuid.uuid4(), ticket_id=None,
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="does not take 'priority' changes"):
        await SentinelOneVendor().deliver(api, None, change)  # type: ignore[arg-type]
    assert "priority" not in MANIFEST.outbound  # so the outbox never queues one


async def test_working_the_ticket_sets_the_threat_in_progress_and_back(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    staff = await _staff(s1, make_user)
    statuses = {status.name: status.id for status in await _statuses(s1)}
    async with session_scope(s1.sessionmaker) as session:
        await tickets.change_status(session, staff, ticket_id, statuses["In Progress"])
    assert (await relay(s1.runtime)).delivered == 1
    assert s1.state.threats[threat_id].info["incidentStatus"] == "in_progress"
    async with session_scope(s1.sessionmaker) as session:
        await tickets.change_status(session, staff, ticket_id, statuses["Waiting on Customer"])
    await relay(s1.runtime)
    assert _posts(s1, "/threats/incident") == 1  # already in progress: nothing sent
    async with session_scope(s1.sessionmaker) as session:
        await tickets.change_status(session, staff, ticket_id, statuses["New"])
    await relay(s1.runtime)
    assert s1.state.threats[threat_id].info["incidentStatus"] == "unresolved"
    await s1.run("threats")  # SentinelOne's own change of status comes back: no echo, the ticket stays as it is
    ticket = await s1.ticket_of("threat", threat_id)
    assert ticket is not None
    assert ticket.status_id == statuses["New"]


async def _statuses(s1: S1World) -> list[Status]:
    async with session_scope(s1.sessionmaker) as session:
        return list((await session.scalars(select(Status))).all())


async def _note_bodies(s1: S1World, ticket_id: uuid.UUID) -> list[tuple[str, str | None]]:
    async with session_scope(s1.sessionmaker) as session:
        rows = await session.execute(
            select(TicketAction.body, TicketAction.external_author)
            .where(TicketAction.ticket_id == ticket_id, TicketAction.kind == "note")
            .order_by(TicketAction.created_at)
        )
        return [(body, author) for body, author in rows.all()]


async def test_sentinelone_notes_come_in_once_and_socdesks_own_never_come_back(s1: S1World, make_user) -> None:
    threat_id, ticket_id = await _ticket_for_new_threat(s1)
    staff = await _staff(s1, make_user)
    async with session_scope(s1.sessionmaker) as session:
        await tickets.add_note(session, staff, ticket_id, "Isolated the laptop.", sync_to_source=True)
    await relay(s1.runtime)
    threat = s1.state.threats[threat_id]
    s1.state.add_note(threat, "Reimaged it, all clean.", by="Console Analyst")
    s1.state.set_threat(threat, mitigation_status="mitigated")  # the threat changed: the next poll reads it
    await s1.run("threats")
    assert await _note_bodies(s1, ticket_id) == [
        ("Isolated the laptop.", None),
        ("Reimaged it, all clean.", "Console Analyst"),
    ]
    # The crash window: socdesk's note reached SentinelOne but its link was never recorded.
    async with session_scope(s1.sessionmaker) as session:
        await session.execute(delete(ExternalLink).where(ExternalLink.origin == "local"))
    s1.state.set_threat(threat, incident_status="in_progress")
    await s1.run("threats")
    assert len(await _note_bodies(s1, ticket_id)) == 2  # nothing imported twice, nothing of ours imported back

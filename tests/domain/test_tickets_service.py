"""Ticket creation, reading and every change, on the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError
from portal.domain.tickets import service
from portal.domain.tickets.models import Ticket, TicketAction, TicketSource
from tests.domain.test_tickets_data import World, build_world, insert_ticket, limit_to, link_ticket, scope_of


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
        await session.rollback()


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await build_world(session)


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# -- creating ----------------------------------------------------------------------------------


async def test_create_uses_the_main_site_and_the_types_defaults(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    alert = world.types["Alert"]
    ticket = await service.create_ticket(
        session,
        scope_of(analyst),
        service.NewTicket(client_id=world.acme.id, ticket_type_id=alert.id, summary="  Odd login  "),
    )
    assert ticket.number >= 1001
    assert ticket.site_id == world.acme_main.id
    assert ticket.priority_id == alert.default_priority_id
    assert ticket.status_id == alert.default_status_id
    assert ticket.summary == "Odd login"
    assert ticket.source == TicketSource.MANUAL.value
    assert ticket.first_response_at is None  # creating is not responding
    detail = await service.get_ticket(session, scope_of(analyst), ticket.id)
    assert [(a.kind, a.author_id) for a in detail.actions] == [("created", analyst.id)]


async def test_create_validates_every_field_before_writing(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    inactive = await make_user(Role.ANALYST, active=False)
    with pytest.raises(ValidationError) as caught:
        await service.create_ticket(
            session,
            scope_of(analyst),
            service.NewTicket(
                client_id=world.acme.id,
                ticket_type_id=uuid.uuid4(),
                summary="x" * 501,
                site_id=world.globex_main.id,
                asset_id=world.globex_asset.id,
                priority_id=uuid.uuid4(),
                agent_id=inactive.id,
            ),
        )
    assert set(caught.value.fields) == {"ticket_type_id", "summary", "site_id", "asset_id", "priority_id", "agent_id"}
    assert caught.value.fields["site_id"] == "Choose one of this client's sites."
    assert await _count(session, Ticket) == 0
    assert await _count(session, TicketAction) == 0


async def test_create_checks_custom_fields_against_the_type(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    incident = world.types["Security Incident"]
    with pytest.raises(ValidationError) as caught:
        await service.create_ticket(
            session,
            scope_of(analyst),
            service.NewTicket(
                client_id=world.acme.id,
                ticket_type_id=incident.id,
                summary="Ransomware",
                custom_fields={"affected_users": "many", "colour": "red"},
            ),
        )
    assert caught.value.fields == {
        "custom_affected_users": "Enter a number.",
        "custom_colour": "This ticket type has no such field.",
    }
    ticket = await service.create_ticket(
        session,
        scope_of(analyst),
        service.NewTicket(
            client_id=world.acme.id,
            ticket_type_id=incident.id,
            summary="Ransomware",
            site_id=world.acme_branch.id,
            custom_fields={"affected_users": "12", "containment": ""},
        ),
    )
    assert ticket.custom_fields == {"affected_users": 12}
    assert ticket.site_id == world.acme_branch.id


async def test_create_refuses_an_agent_who_cannot_see_the_client(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    globex_only = await limit_to(session, await make_user(Role.ANALYST), world.globex)
    viewer = await make_user(Role.VIEWER)
    for agent in (globex_only, viewer):
        with pytest.raises(ValidationError) as caught:
            await service.create_ticket(
                session,
                scope_of(analyst),
                service.NewTicket(
                    client_id=world.acme.id, ticket_type_id=world.types["Alert"].id, summary="x", agent_id=agent.id
                ),
            )
        assert "agent_id" in caught.value.fields
    assert await _count(session, Ticket) == 0


async def test_create_outside_scope_is_not_found_and_viewers_are_forbidden(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    viewer = await make_user(Role.VIEWER)
    new = service.NewTicket(client_id=world.globex.id, ticket_type_id=world.types["Alert"].id, summary="x")
    with pytest.raises(NotFoundError):
        await service.create_ticket(session, scope_of(analyst, world.acme), new)
    with pytest.raises(ForbiddenError):
        await service.create_ticket(session, scope_of(viewer), new)
    assert await _count(session, Ticket) == 0


# -- reading -----------------------------------------------------------------------------------


async def test_detail_has_the_timeline_in_order_and_the_remote_link(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    link = await link_ticket(session, ticket, "INC-7")
    await service.add_note(session, access, ticket.id, "first")
    await service.change_priority(session, access, ticket.id, world.priorities[1].id)
    await service.add_note(session, access, ticket.id, "second", external_author="sentinel: Ana")
    detail = await service.get_ticket(session, access, ticket.id)
    assert [a.kind for a in detail.actions] == ["created", "note", "priority_change", "note"]
    assert detail.actions[1].author is not None
    assert detail.actions[1].author.id == analyst.id
    assert (detail.actions[3].author_id, detail.actions[3].external_author) == (None, "sentinel: Ana")
    assert detail.actions[2].changes == {"priority": ["P3 - Medium", "P1 - Critical"]}
    assert detail.link is not None
    assert detail.link.id == link.id
    assert detail.link.remote_id == "INC-7"


async def test_another_clients_ticket_is_not_found_for_reading_and_changing(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst, world.acme)
    theirs = await insert_ticket(session, world, world.globex)
    with pytest.raises(NotFoundError):
        await service.get_ticket(session, access, theirs.id)
    with pytest.raises(NotFoundError):
        await service.get_ticket(session, access, uuid.uuid4())
    attempts = [
        service.add_note(session, access, theirs.id, "hello"),
        service.assign(session, access, theirs.id, analyst.id),
        service.change_status(session, access, theirs.id, world.statuses["In Progress"].id),
        service.change_priority(session, access, theirs.id, world.priorities[1].id),
        service.close(session, access, theirs.id, classification="Undetermined"),
        service.reopen(session, access, theirs.id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError):
            await attempt
    assert await _count(session, TicketAction) == 1  # only the insert's "created"


async def test_viewers_cannot_change_tickets(session, world, make_user) -> None:
    viewer = await make_user(Role.VIEWER)
    access = scope_of(viewer)
    ticket = await insert_ticket(session, world)
    assert (await service.get_ticket(session, access, ticket.id)).ticket.id == ticket.id
    attempts = [
        service.add_note(session, access, ticket.id, "hello"),
        service.assign(session, access, ticket.id, None),
        service.change_priority(session, access, ticket.id, world.priorities[1].id),
        service.close(session, access, ticket.id, classification="Undetermined"),
    ]
    for attempt in attempts:
        with pytest.raises(ForbiddenError):
            await attempt


# -- notes -------------------------------------------------------------------------------------


async def test_note_needs_a_body_and_sync_needs_a_link(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    with pytest.raises(ValidationError) as caught:
        await service.add_note(session, access, ticket.id, "   ", visibility="public", sync_to_source=True)
    assert set(caught.value.fields) == {"body", "visibility", "sync_to_source"}
    with pytest.raises(ValidationError) as caught:
        await service.add_note(session, access, ticket.id, "Checked the host.", sync_to_source=True)
    assert set(caught.value.fields) == {"sync_to_source"}
    assert await _count(session, TicketAction) == 1
    assert ticket.first_response_at is None

    await link_ticket(session, ticket)
    note = await service.add_note(
        session, access, ticket.id, "Checked the host.", visibility="external", sync_to_source=True
    )
    assert (note.kind, note.visibility, note.sync_to_source, note.body) == (
        "note",
        "external",
        True,
        "Checked the host.",
    )


async def test_first_staff_action_sets_first_response_once(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    before = ticket.updated_at
    await service.add_note(session, access, ticket.id, "from the vendor", external_author="SentinelOne")
    assert ticket.first_response_at is None  # an imported comment is not our response
    assert ticket.updated_at > before
    await service.change_priority(session, access, ticket.id, world.priorities[2].id)
    first = ticket.first_response_at
    assert first is not None
    await service.add_note(session, access, ticket.id, "later")
    assert ticket.first_response_at == first


# -- assignment, status, priority ------------------------------------------------------------


async def test_assign_rules(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    inactive = await make_user(Role.ANALYST, active=False)
    viewer = await make_user(Role.VIEWER)
    globex_only = await limit_to(session, await make_user(Role.ANALYST), world.globex)
    acme_only = await limit_to(session, await make_user(Role.ANALYST), world.acme)
    for refused in (inactive.id, viewer.id, globex_only.id, uuid.uuid4()):
        with pytest.raises(ValidationError) as caught:
            await service.assign(session, access, ticket.id, refused)
        assert set(caught.value.fields) == {"agent_id"}
    assert ticket.agent_id is None

    action = await service.assign(session, access, ticket.id, acme_only.id)
    assert action is not None
    assert ticket.agent_id == acme_only.id
    assert action.changes == {"agent": [None, acme_only.display_name]}
    assert await service.assign(session, access, ticket.id, acme_only.id) is None  # no change, no entry
    action = await service.assign(session, access, ticket.id, None)
    assert action is not None
    assert action.changes == {"agent": [acme_only.display_name, None]}
    assert ticket.agent_id is None


async def test_status_changes_stay_on_their_side_of_open_and_closed(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    action = await service.change_status(session, access, ticket.id, world.statuses["In Progress"].id)
    assert action is not None
    assert action.changes == {"status": ["New", "In Progress"]}
    with pytest.raises(ValidationError) as caught:
        await service.change_status(session, access, ticket.id, world.statuses["Resolved"].id)
    assert "Use Close" in caught.value.fields["status_id"]
    assert ticket.status_id == world.statuses["In Progress"].id

    closed = await insert_ticket(session, world, status="Resolved")
    with pytest.raises(ValidationError):
        await service.change_status(session, access, closed.id, world.statuses["New"].id)
    await service.change_status(session, access, closed.id, world.statuses["Closed"].id)
    assert closed.status_id == world.statuses["Closed"].id
    assert closed.closed_at is not None


async def test_priority_change_is_recorded(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world, priority=4)
    with pytest.raises(ValidationError):
        await service.change_priority(session, scope_of(analyst), ticket.id, uuid.uuid4())
    action = await service.change_priority(session, scope_of(analyst), ticket.id, world.priorities[1].id)
    assert action is not None
    assert action.kind == "priority_change"
    assert ticket.priority_id == world.priorities[1].id


# -- closing and reopening ---------------------------------------------------------------------


async def _audit(session: AsyncSession) -> list[AuditEntry]:
    return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.created_at))).all())


async def test_close_requires_a_classification_when_the_type_says_so(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world, type_name="Alert")
    with pytest.raises(ValidationError) as caught:
        await service.close(session, scope_of(analyst), ticket.id, note="done")
    assert set(caught.value.fields) == {"classification"}
    assert ticket.closed_at is None
    assert ticket.status_id == world.statuses["New"].id
    assert await _audit(session) == []
    assert await _count(session, TicketAction) == 1

    request = await insert_ticket(session, world, type_name="Service Request")
    await service.close(session, scope_of(analyst), request.id)
    assert request.closed_at is not None
    assert request.classification is None


@pytest.mark.parametrize(
    ("classification", "reason", "field"),
    [
        ("TruePositive", "InaccurateData", "classification_reason"),
        ("TruePositive", None, "classification_reason"),
        ("BenignPositive", "SuspiciousActivity", "classification_reason"),
        ("FalsePositive", "SuspiciousButExpected", "classification_reason"),
        ("Undetermined", "SuspiciousActivity", "classification_reason"),
        ("Maybe", None, "classification"),
        (None, "SuspiciousActivity", "classification"),
    ],
)
async def test_close_refuses_a_disallowed_pair_before_saving_anything(
    session, world, make_user, classification, reason, field
) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world)
    with pytest.raises(ValidationError) as caught:
        await service.close(
            session, scope_of(analyst), ticket.id, classification=classification, classification_reason=reason
        )
    assert field in caught.value.fields
    assert (ticket.closed_at, ticket.classification, ticket.classification_reason) == (None, None, None)
    assert ticket.status_id == world.statuses["New"].id
    assert await _audit(session) == []


@pytest.mark.parametrize(
    ("classification", "reason"),
    [
        ("TruePositive", "SuspiciousActivity"),
        ("BenignPositive", "SuspiciousButExpected"),
        ("FalsePositive", "IncorrectAlertLogic"),
        ("FalsePositive", "InaccurateData"),
        ("Undetermined", None),
    ],
)
async def test_close_accepts_every_allowed_pair(session, world, make_user, classification, reason) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world)
    await service.close(
        session, scope_of(analyst), ticket.id, classification=classification, classification_reason=reason
    )
    assert (ticket.classification, ticket.classification_reason) == (classification, reason)


async def test_close_requires_custom_fields_due_on_close(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world, type_name="Security Incident")
    with pytest.raises(ValidationError) as caught:
        await service.close(
            session,
            scope_of(analyst),
            ticket.id,
            classification="TruePositive",
            classification_reason="SuspiciousActivity",
        )
    assert caught.value.fields == {"custom_containment": "Containment action is required to close this ticket."}
    assert ticket.closed_at is None

    await service.close(
        session,
        scope_of(analyst),
        ticket.id,
        classification="TruePositive",
        classification_reason="SuspiciousActivity",
        custom_field_values={"containment": "Host isolated"},
    )
    assert ticket.custom_fields == {"containment": "Host isolated"}


async def test_close_records_the_closure_and_the_audit_entry(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world, status="In Progress")
    action = await service.close(
        session,
        access,
        ticket.id,
        classification="FalsePositive",
        classification_reason="IncorrectAlertLogic",
        note="Rule fires on backups.",
    )
    assert ticket.status_id == world.statuses["Resolved"].id  # the default closed status
    assert ticket.closed_at is not None
    assert (action.kind, action.body, action.author_id) == ("closure", "Rule fires on backups.", analyst.id)
    assert action.changes == {
        "status": ["In Progress", "Resolved"],
        "classification": [None, "FalsePositive"],
        "classification_reason": [None, "IncorrectAlertLogic"],
    }
    [entry] = await _audit(session)
    assert (entry.action, entry.object_type, entry.object_id) == ("ticket.close", "ticket", str(ticket.id))
    assert entry.object_label == f"#{ticket.number} {ticket.summary}"
    assert entry.client_id == world.acme.id
    assert entry.actor_id == analyst.id
    assert entry.before == {"status": "In Progress", "classification": None, "classification_reason": None}
    assert entry.after == {
        "status": "Resolved",
        "classification": "FalsePositive",
        "classification_reason": "IncorrectAlertLogic",
    }

    with pytest.raises(ValidationError):
        await service.close(session, access, ticket.id, classification="Undetermined")


async def test_close_with_a_chosen_status_must_be_a_closed_one(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    ticket = await insert_ticket(session, world)
    with pytest.raises(ValidationError) as caught:
        await service.close(
            session, scope_of(analyst), ticket.id, status_id=world.statuses["New"].id, classification="Undetermined"
        )
    assert set(caught.value.fields) == {"status_id"}
    await service.close(
        session, scope_of(analyst), ticket.id, status_id=world.statuses["Closed"].id, classification="Undetermined"
    )
    assert ticket.status_id == world.statuses["Closed"].id


async def test_an_imported_closure_names_its_external_author(session, world, make_user) -> None:
    admin = await make_user(Role.ADMIN)
    ticket = await insert_ticket(session, world)
    action = await service.close(
        session, scope_of(admin), ticket.id, classification="Undetermined", external_author="Sentinel: Ana"
    )
    assert (action.author_id, action.external_author) == (None, "Sentinel: Ana")
    assert ticket.first_response_at is None


async def test_reopen_restores_the_types_default_status_and_is_audited(session, world, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    access = scope_of(analyst)
    ticket = await insert_ticket(session, world)
    with pytest.raises(ValidationError):
        await service.reopen(session, access, ticket.id)
    await service.close(
        session, access, ticket.id, classification="TruePositive", classification_reason="SuspiciousActivity"
    )
    action = await service.reopen(session, access, ticket.id, note="It came back.")
    assert ticket.status_id == world.types["Alert"].default_status_id
    assert (ticket.closed_at, ticket.classification, ticket.classification_reason) == (None, None, None)
    assert (action.kind, action.body) == ("reopen", "It came back.")
    close_entry, reopen_entry = await _audit(session)
    assert close_entry.action == "ticket.close"
    assert reopen_entry.action == "ticket.reopen"
    assert reopen_entry.before == {
        "status": "Resolved",
        "classification": "TruePositive",
        "classification_reason": "SuspiciousActivity",
    }
    assert reopen_entry.after == {"status": "New", "classification": None, "classification_reason": None}

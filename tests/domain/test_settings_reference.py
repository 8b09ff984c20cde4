"""Reference data: priorities, statuses, ticket types with custom fields, asset groups and types."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.errors import ForbiddenError, ValidationError
from portal.domain.settings import asset_types, priorities, statuses, ticket_types
from portal.domain.settings.ticket_types import FieldInput, TicketTypeInput, field_key
from portal.domain.tickets.models import Priority, Status, TicketType
from tests.domain.test_settings_helpers import audit_entries, by_name, make_asset, make_ticket, scope_of


@pytest.fixture
async def admin_scope(make_user):
    return scope_of(await make_user(Role.ADMIN))


async def _refused(sessionmaker, call) -> dict[str, str]:
    """Run ``call(session)``, which must fail validation before writing anything; return the messages.

    Checked inside the failed call's own transaction: a rollback would hide a half-done write.
    """
    async with sessionmaker() as session, session.begin():
        audited = await session.scalar(select(func.count()).select_from(AuditEntry))
        with pytest.raises(ValidationError) as refused:
            await call(session)
        assert not session.new
        assert not session.dirty
        assert not session.deleted
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audited
        await session.rollback()
    return refused.value.fields


async def _table_snapshot(sessionmaker, model: Any) -> list[tuple[Any, ...]]:
    async with sessionmaker() as session:
        rows = (await session.scalars(select(model).order_by(model.name))).all()
        return [tuple(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))) for row in rows]


# ---- priorities ----


async def test_priority_create_update_delete_with_audit(sessionmaker, admin_scope) -> None:
    async with session_scope(sessionmaker) as session:
        created = await priorities.create_priority(
            session, admin_scope, priorities.PriorityInput("P5 - Informational", 5, None, 10080)
        )
    async with session_scope(sessionmaker) as session:
        await priorities.update_priority(
            session, admin_scope, created.id, priorities.PriorityInput("P5 - Info", 5, 1440, 10080)
        )
    async with session_scope(sessionmaker) as session:
        await priorities.delete_priority(session, admin_scope, created.id)

    assert await by_name(sessionmaker, Priority, "P5 - Info") is None
    [create] = await audit_entries(sessionmaker, "priority.create")
    [update] = await audit_entries(sessionmaker, "priority.update")
    [delete] = await audit_entries(sessionmaker, "priority.delete")
    assert create.after == {
        "name": "P5 - Informational",
        "rank": 5,
        "sla_response_minutes": None,
        "sla_resolve_minutes": 10080,
    }
    assert update.before is not None
    assert update.after is not None
    assert (update.before["name"], update.after["name"]) == ("P5 - Informational", "P5 - Info")
    assert (update.before["sla_response_minutes"], update.after["sla_response_minutes"]) == (None, 1440)
    assert delete.before == update.after
    assert delete.after is None
    assert {create.object_id, update.object_id, delete.object_id} == {str(created.id)}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (priorities.PriorityInput("p1 - CRITICAL", 9), "name"),  # names clash whatever the case
        (priorities.PriorityInput("Brand new", 1), "rank"),  # rank 1 is P1's
        (priorities.PriorityInput("Brand new", 0), "rank"),
        (priorities.PriorityInput("Brand new", 9, -5), "sla_response_minutes"),
        (priorities.PriorityInput("  ", 9), "name"),
    ],
)
async def test_priority_rules_refuse_and_write_nothing(sessionmaker, admin_scope, data, field) -> None:
    before = await _table_snapshot(sessionmaker, Priority)
    fields = await _refused(sessionmaker, lambda s: priorities.create_priority(s, admin_scope, data))
    assert field in fields
    assert await _table_snapshot(sessionmaker, Priority) == before
    assert await audit_entries(sessionmaker) == []


async def test_priority_rank_clash_on_update_names_the_holder(sessionmaker, admin_scope) -> None:
    p2 = await by_name(sessionmaker, Priority, "P2 - High")
    fields = await _refused(
        sessionmaker,
        lambda s: priorities.update_priority(s, admin_scope, p2.id, priorities.PriorityInput("P2 - High", 1, 60, 480)),
    )
    assert fields["rank"] == "Rank 1 is already taken by “P1 - Critical”."
    # Keeping its own rank is no clash.
    async with session_scope(sessionmaker) as session:
        await priorities.update_priority(session, admin_scope, p2.id, priorities.PriorityInput("P2 - High", 2, 30, 480))
    assert (await by_name(sessionmaker, Priority, "P2 - High")).sla_response_minutes == 30


async def test_priority_in_use_cannot_be_deleted(sessionmaker, admin_scope) -> None:
    await make_ticket(sessionmaker, priority_name="P4 - Low", type_name="Alert")
    p4 = await by_name(sessionmaker, Priority, "P4 - Low")  # also Service Request's default
    fields = await _refused(sessionmaker, lambda s: priorities.delete_priority(s, admin_scope, p4.id))
    assert fields["delete"] == "This priority is used by 1 ticket and 1 ticket type, so it cannot be deleted."
    assert await by_name(sessionmaker, Priority, "P4 - Low") is not None
    assert await audit_entries(sessionmaker) == []


async def test_non_admin_cannot_change_priorities(sessionmaker, make_user) -> None:
    viewer = scope_of(await make_user(Role.VIEWER))
    async with sessionmaker() as session:
        with pytest.raises(ForbiddenError):
            await priorities.create_priority(session, viewer, priorities.PriorityInput("X", 9))


# ---- statuses ----


async def test_resolved_status_must_be_closed(sessionmaker, admin_scope) -> None:
    before = await _table_snapshot(sessionmaker, Status)
    fields = await _refused(
        sessionmaker,
        lambda s: statuses.create_status(
            s, admin_scope, statuses.StatusInput("Fixed", is_closed=False, is_resolved=True)
        ),
    )
    assert fields == {"is_resolved": "A resolved status must also be a closed one."}
    assert await _table_snapshot(sessionmaker, Status) == before


async def test_status_create_update_delete_with_audit(sessionmaker, admin_scope) -> None:
    async with session_scope(sessionmaker) as session:
        created = await statuses.create_status(session, admin_scope, statuses.StatusInput("Escalated", rank=3))
    async with session_scope(sessionmaker) as session:
        await statuses.update_status(
            session,
            admin_scope,
            created.id,
            statuses.StatusInput("Duplicate", is_closed=True, is_resolved=False, rank=6),
        )
    async with session_scope(sessionmaker) as session:
        await statuses.delete_status(session, admin_scope, created.id)
    [create] = await audit_entries(sessionmaker, "status.create")
    [update] = await audit_entries(sessionmaker, "status.update")
    [delete] = await audit_entries(sessionmaker, "status.delete")
    assert create.after == {"name": "Escalated", "is_closed": False, "is_resolved": False, "rank": 3}
    assert update.before == create.after
    assert update.after == {"name": "Duplicate", "is_closed": True, "is_resolved": False, "rank": 6}
    assert delete.before == update.after


async def test_status_rules_on_update(sessionmaker, admin_scope) -> None:
    new = await by_name(sessionmaker, Status, "New")  # every default ticket type starts here
    fields = await _refused(
        sessionmaker,
        lambda s: statuses.update_status(s, admin_scope, new.id, statuses.StatusInput("New", is_closed=True, rank=1)),
    )
    assert "start in this status" in fields["is_closed"]
    fields = await _refused(
        sessionmaker,
        lambda s: statuses.update_status(s, admin_scope, new.id, statuses.StatusInput("closed", rank=1)),
    )
    assert fields == {"name": "Another status already has this name."}

    await make_ticket(sessionmaker, status_name="Waiting on Customer")
    waiting = await by_name(sessionmaker, Status, "Waiting on Customer")
    fields = await _refused(
        sessionmaker,
        lambda s: statuses.update_status(
            s, admin_scope, waiting.id, statuses.StatusInput("Waiting on Customer", is_closed=True, rank=3)
        ),
    )
    assert "1 ticket is in this status" in fields["is_closed"]


async def test_status_in_use_cannot_be_deleted(sessionmaker, admin_scope) -> None:
    await make_ticket(sessionmaker, status_name="Resolved")
    resolved = await by_name(sessionmaker, Status, "Resolved")
    fields = await _refused(sessionmaker, lambda s: statuses.delete_status(s, admin_scope, resolved.id))
    assert "used by 1 ticket" in fields["delete"]
    new = await by_name(sessionmaker, Status, "New")
    fields = await _refused(sessionmaker, lambda s: statuses.delete_status(s, admin_scope, new.id))
    assert "used by 3 ticket types" in fields["delete"]
    assert await audit_entries(sessionmaker) == []


# ---- ticket types ----


async def _defaults(sessionmaker) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    p3 = await by_name(sessionmaker, Priority, "P3 - Medium")
    new = await by_name(sessionmaker, Status, "New")
    closed = await by_name(sessionmaker, Status, "Closed")
    return p3.id, new.id, closed.id


async def test_ticket_type_create_and_update_audited_with_names(sessionmaker, admin_scope) -> None:
    p3, new, _ = await _defaults(sessionmaker)
    p1 = await by_name(sessionmaker, Priority, "P1 - Critical")
    async with session_scope(sessionmaker) as session:
        created = await ticket_types.create_ticket_type(session, admin_scope, TicketTypeInput("Phishing", p3, new))
    async with session_scope(sessionmaker) as session:
        await ticket_types.update_ticket_type(
            session, admin_scope, created.id, TicketTypeInput("Phishing report", p1.id, new, True)
        )
    [create] = await audit_entries(sessionmaker, "ticket_type.create")
    [update] = await audit_entries(sessionmaker, "ticket_type.update")
    assert create.after == {
        "name": "Phishing",
        "default_priority": "P3 - Medium",
        "default_status": "New",
        "classification_required_on_close": False,
        "custom_fields": [],
    }
    assert update.before == create.after
    assert update.after is not None
    assert update.after["default_priority"] == "P1 - Critical"
    assert update.after["classification_required_on_close"] is True


async def test_ticket_type_rules(sessionmaker, admin_scope) -> None:
    p3, _new, closed = await _defaults(sessionmaker)
    before = await _table_snapshot(sessionmaker, TicketType)
    fields = await _refused(
        sessionmaker, lambda s: ticket_types.create_ticket_type(s, admin_scope, TicketTypeInput("alert", p3, closed))
    )
    assert set(fields) == {"name", "default_status_id"}
    assert "open status" in fields["default_status_id"]
    fields = await _refused(
        sessionmaker,
        lambda s: ticket_types.create_ticket_type(s, admin_scope, TicketTypeInput("X", uuid.uuid4(), None)),
    )
    assert set(fields) == {"default_priority_id", "default_status_id"}
    assert await _table_snapshot(sessionmaker, TicketType) == before


async def test_custom_fields_add_and_remove(sessionmaker, admin_scope) -> None:
    alert = await by_name(sessionmaker, TicketType, "Alert")
    async with session_scope(sessionmaker) as session:
        added = await ticket_types.add_custom_field(
            session, admin_scope, alert.id, FieldInput("Detection source", "choice", ("EDR", " SIEM ", "edr", ""), True)
        )
    assert added == {
        "key": "detection_source",
        "label": "Detection source",
        "kind": "choice",
        "choices": ["EDR", "SIEM"],
        "required_on_close": True,
    }
    async with session_scope(sessionmaker) as session:
        await ticket_types.add_custom_field(session, admin_scope, alert.id, FieldInput("Seen at", "date"))
    assert [f["key"] for f in (await by_name(sessionmaker, TicketType, "Alert")).custom_fields] == [
        "detection_source",
        "seen_at",
    ]

    # The key is unique within the type: a label that slugs the same is refused.
    fields = await _refused(
        sessionmaker,
        lambda s: ticket_types.add_custom_field(s, admin_scope, alert.id, FieldInput("Detection  Source!", "text")),
    )
    assert "detection_source" in fields["label"]
    fields = await _refused(
        sessionmaker, lambda s: ticket_types.add_custom_field(s, admin_scope, alert.id, FieldInput("Vendor", "choice"))
    )
    assert "choices" in fields
    fields = await _refused(
        sessionmaker, lambda s: ticket_types.add_custom_field(s, admin_scope, alert.id, FieldInput("Vendor", "colour"))
    )
    assert "kind" in fields

    async with session_scope(sessionmaker) as session:
        await ticket_types.remove_custom_field(session, admin_scope, alert.id, "detection_source")
    assert [f["key"] for f in (await by_name(sessionmaker, TicketType, "Alert")).custom_fields] == ["seen_at"]
    fields = await _refused(
        sessionmaker, lambda s: ticket_types.remove_custom_field(s, admin_scope, alert.id, "detection_source")
    )
    assert "fields" in fields

    [first_add, _] = await audit_entries(sessionmaker, "ticket_type.field_add")
    assert first_add.before is not None
    assert first_add.after is not None
    assert (first_add.before["custom_fields"], first_add.after["custom_fields"]) == (
        [],
        ["detection_source (choice: EDR / SIEM, required on close)"],
    )
    [removal] = await audit_entries(sessionmaker, "ticket_type.field_remove")
    assert removal.after is not None
    assert removal.after["custom_fields"] == ["seen_at (date)"]


def test_field_keys_are_slugs_starting_with_a_letter() -> None:
    assert field_key("Containment action") == "containment_action"
    assert field_key("  Affected users (#) ") == "affected_users"
    assert field_key("2FA method") == "f_2fa_method"
    assert field_key("!!!") == ""


async def test_ticket_type_in_use_cannot_be_deleted(sessionmaker, admin_scope) -> None:
    await make_ticket(sessionmaker, type_name="Security Incident")
    incident = await by_name(sessionmaker, TicketType, "Security Incident")
    fields = await _refused(sessionmaker, lambda s: ticket_types.delete_ticket_type(s, admin_scope, incident.id))
    assert "used by 1 ticket" in fields["delete"]
    request = await by_name(sessionmaker, TicketType, "Service Request")
    async with session_scope(sessionmaker) as session:
        await ticket_types.delete_ticket_type(session, admin_scope, request.id)
    assert await by_name(sessionmaker, TicketType, "Service Request") is None
    [deleted] = await audit_entries(sessionmaker, "ticket_type.delete")
    assert deleted.before is not None
    assert deleted.before["name"] == "Service Request"


# ---- asset groups and types ----


async def test_asset_groups_and_types(sessionmaker, admin_scope) -> None:
    async with session_scope(sessionmaker) as session:
        group = await asset_types.create_asset_group(session, admin_scope, "OT")
    async with session_scope(sessionmaker) as session:
        plc = await asset_types.create_asset_type(session, admin_scope, asset_types.AssetTypeInput("PLC", group.id))
    endpoints = await by_name(sessionmaker, AssetGroup, "Endpoints")
    async with session_scope(sessionmaker) as session:
        await asset_types.update_asset_type(
            session, admin_scope, plc.id, asset_types.AssetTypeInput("PLC", endpoints.id)
        )
    [moved] = await audit_entries(sessionmaker, "asset_type.update")
    assert (moved.before, moved.after) == ({"name": "PLC", "group": "OT"}, {"name": "PLC", "group": "Endpoints"})

    fields = await _refused(sessionmaker, lambda s: asset_types.create_asset_group(s, admin_scope, "network"))
    assert fields == {"name": "Another asset group already has this name."}
    fields = await _refused(
        sessionmaker,
        lambda s: asset_types.create_asset_type(s, admin_scope, asset_types.AssetTypeInput("Router", uuid.uuid4())),
    )
    assert "group_id" in fields

    # A group with types cannot go; once empty it can.
    fields = await _refused(sessionmaker, lambda s: asset_types.delete_asset_group(s, admin_scope, endpoints.id))
    assert "used by 4 asset types" in fields["delete"]
    async with session_scope(sessionmaker) as session:
        await asset_types.delete_asset_group(session, admin_scope, group.id)
    assert await by_name(sessionmaker, AssetGroup, "OT") is None
    [deleted] = await audit_entries(sessionmaker, "asset_group.delete")
    assert deleted.before == {"name": "OT"}


async def test_asset_type_in_use_cannot_be_deleted(sessionmaker, admin_scope) -> None:
    await make_asset(sessionmaker, "Laptop")
    laptop = await by_name(sessionmaker, AssetType, "Laptop")
    fields = await _refused(sessionmaker, lambda s: asset_types.delete_asset_type(s, admin_scope, laptop.id))
    assert fields["delete"] == "This asset type is used by 1 asset, so it cannot be deleted."
    server = await by_name(sessionmaker, AssetType, "Server")
    async with session_scope(sessionmaker) as session:
        await asset_types.delete_asset_type(session, admin_scope, server.id)
    [deleted] = await audit_entries(sessionmaker, "asset_type.delete")
    assert deleted.before == {"name": "Server", "group": "Endpoints"}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1

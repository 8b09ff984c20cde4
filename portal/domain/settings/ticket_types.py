"""Ticket types: their default priority and status, closure rules, and their own custom fields.

A custom field is stored on the type as ``{"key", "label", "kind", "choices", "required_on_close"}``;
the key (a slug of the label, unique within the type) is what tickets store values under.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.access import Scope
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.settings import reference_list
from portal.domain.settings.common import count
from portal.domain.settings.reference_list import ReferenceKind
from portal.domain.tickets.models import Priority, Status, Ticket, TicketType

MAX_NAME = 120
MAX_LABEL = 80
MAX_KEY = 40
MAX_CHOICES = 50
MAX_CHOICE = 100
MAX_FIELDS = 40
FIELD_KINDS = ("text", "number", "choice", "date")


@dataclass(frozen=True)
class TicketTypeInput:
    name: str
    default_priority_id: uuid.UUID | None
    default_status_id: uuid.UUID | None
    classification_required_on_close: bool = False


@dataclass(frozen=True)
class FieldInput:
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    required_on_close: bool = False


@dataclass(frozen=True)
class TicketTypeRow:
    ticket_type: TicketType
    tickets: int


def field_key(label: str) -> str:
    """``"Containment action"`` → ``"containment_action"``; keys start with a letter."""
    key = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if key and not key[0].isalpha():
        key = f"f_{key}"
    return key[:MAX_KEY].rstrip("_")


def describe_field(field: dict[str, Any]) -> str:
    """One line per field for the audit log: enough to see what changed without the JSON."""
    text = f"{field.get('key')} ({field.get('kind')}"
    if field.get("choices"):
        text += ": " + " / ".join(field["choices"])
    if field.get("required_on_close"):
        text += ", required on close"
    return text + ")"


def snapshot(ticket_type: TicketType) -> dict[str, Any]:
    # Names, not ids: the audit log is read by people, and outlives renamed defaults' ids anyway.
    return {
        "name": ticket_type.name,
        "default_priority": ticket_type.default_priority.name,
        "default_status": ticket_type.default_status.name,
        "classification_required_on_close": ticket_type.classification_required_on_close,
        "custom_fields": [describe_field(field) for field in ticket_type.custom_fields],
    }


TICKET_TYPE = ReferenceKind(
    model=TicketType,
    name_column=TicketType.name,
    max_name=MAX_NAME,
    object_type="ticket_type",
    noun="ticket type",
    snapshot=snapshot,
    used_by=((Ticket.ticket_type_id, "ticket"),),
)


def _with_defaults() -> Any:
    return select(TicketType).options(
        selectinload(TicketType.default_priority), selectinload(TicketType.default_status)
    )


async def list_ticket_types(session: AsyncSession, access: Scope) -> list[TicketTypeRow]:
    access.require_admin()
    [tickets] = await reference_list.usage(session, TICKET_TYPE)
    types = (await session.scalars(_with_defaults().order_by(TicketType.name))).all()
    return [TicketTypeRow(t, tickets.get(t.id, 0)) for t in types]


async def get_ticket_type(session: AsyncSession, access: Scope, ticket_type_id: uuid.UUID) -> TicketType:
    access.require_admin()
    found: TicketType | None = await session.scalar(_with_defaults().where(TicketType.id == ticket_type_id))
    if found is None:
        raise NotFoundError("ticket type")
    return found


async def ticket_usage(session: AsyncSession, ticket_type_id: uuid.UUID) -> int:
    return await count(session, Ticket.ticket_type_id, ticket_type_id)


async def _validate(
    session: AsyncSession, data: TicketTypeInput, exclude: uuid.UUID | None
) -> tuple[str, Priority, Status]:
    errors: dict[str, str] = {}
    name = await reference_list.unique_name(session, TICKET_TYPE, errors, data.name, exclude)
    priority = await session.get(Priority, data.default_priority_id) if data.default_priority_id else None
    if priority is None:
        errors["default_priority_id"] = "Choose a priority."
    status = await session.get(Status, data.default_status_id) if data.default_status_id else None
    if status is None:
        errors["default_status_id"] = "Choose a status."
    elif status.is_closed:
        errors["default_status_id"] = "New tickets cannot start closed: choose an open status."
    if errors:
        raise ValidationError(errors)
    assert priority is not None
    assert status is not None
    return name, priority, status


async def create_ticket_type(session: AsyncSession, access: Scope, data: TicketTypeInput) -> TicketType:
    access.require_admin()
    name, priority, status = await _validate(session, data, None)
    ticket_type = TicketType(
        name=name,
        default_priority=priority,
        default_status=status,
        classification_required_on_close=data.classification_required_on_close,
        custom_fields=[],
    )
    return await reference_list.create(session, access, TICKET_TYPE, ticket_type)


async def update_ticket_type(
    session: AsyncSession, access: Scope, ticket_type_id: uuid.UUID, data: TicketTypeInput
) -> TicketType:
    ticket_type = await get_ticket_type(session, access, ticket_type_id)
    name, priority, status = await _validate(session, data, ticket_type.id)
    async with reference_list.changing(session, access, TICKET_TYPE, ticket_type):
        ticket_type.name = name
        ticket_type.default_priority = priority
        ticket_type.default_status = status
        ticket_type.classification_required_on_close = data.classification_required_on_close
    return ticket_type


async def delete_ticket_type(session: AsyncSession, access: Scope, ticket_type_id: uuid.UUID) -> None:
    ticket_type = await get_ticket_type(session, access, ticket_type_id)
    await reference_list.delete(session, access, TICKET_TYPE, ticket_type)


def _clean_choices(errors: dict[str, str], choices: tuple[str, ...]) -> list[str]:
    cleaned: list[str] = []
    for raw in choices:
        choice = " ".join(raw.split())
        if choice and choice.lower() not in (c.lower() for c in cleaned):
            cleaned.append(choice)
    if not cleaned:
        errors["choices"] = "List the choices, one per line."
    elif len(cleaned) > MAX_CHOICES:
        errors["choices"] = f"Use at most {MAX_CHOICES} choices."
    elif any(len(choice) > MAX_CHOICE for choice in cleaned):
        errors["choices"] = f"Keep each choice to {MAX_CHOICE} characters."
    return cleaned


async def add_custom_field(
    session: AsyncSession, access: Scope, ticket_type_id: uuid.UUID, data: FieldInput
) -> dict[str, Any]:
    ticket_type = await get_ticket_type(session, access, ticket_type_id)
    errors: dict[str, str] = {}
    label = " ".join(data.label.split())
    key = field_key(label)
    if not label:
        errors["label"] = "Enter a label."
    elif len(label) > MAX_LABEL:
        errors["label"] = f"Use at most {MAX_LABEL} characters."
    elif not key:
        errors["label"] = "Use some letters or digits in the label."
    elif any(field.get("key") == key for field in ticket_type.custom_fields):
        errors["label"] = f"This type already has a field with the key “{key}”."
    if data.kind not in FIELD_KINDS:
        errors["kind"] = "Choose text, number, choice or date."
    choices = _clean_choices(errors, data.choices) if data.kind == "choice" else []
    if len(ticket_type.custom_fields) >= MAX_FIELDS:
        errors["label"] = f"A ticket type can have at most {MAX_FIELDS} custom fields."
    if errors:
        raise ValidationError(errors)
    field: dict[str, Any] = {
        "key": key,
        "label": label,
        "kind": data.kind,
        "choices": choices,
        "required_on_close": data.required_on_close,
    }
    async with reference_list.changing(session, access, TICKET_TYPE, ticket_type, "field_add"):
        # A new list, not an append: JSONB columns only notice reassignment.
        ticket_type.custom_fields = [*ticket_type.custom_fields, field]
    return field


async def remove_custom_field(session: AsyncSession, access: Scope, ticket_type_id: uuid.UUID, key: str) -> None:
    """Tickets keep the values they stored under the key; they are simply no longer shown as a field."""
    ticket_type = await get_ticket_type(session, access, ticket_type_id)
    remaining = [field for field in ticket_type.custom_fields if field.get("key") != key]
    if len(remaining) == len(ticket_type.custom_fields):
        raise ValidationError({"fields": f"This type has no field with the key “{key}”."})
    async with reference_list.changing(session, access, TICKET_TYPE, ticket_type, "field_remove"):
        ticket_type.custom_fields = remaining

"""The settings forms, read: typed values out, or messages for the fields that would not parse."""

from __future__ import annotations

import uuid
from datetime import date

from litestar.datastructures import FormMultiDict

from portal.domain.accounts import admin as users
from portal.domain.errors import ValidationError
from portal.domain.settings import asset_types, priorities, statuses, ticket_types
from portal.web.forms import text


def flag(form: FormMultiDict, key: str) -> bool:
    return text(form, key) in ("on", "true", "1", "yes")


def whole_number(form: FormMultiDict, key: str, errors: dict[str, str], *, optional: bool = False) -> int | None:
    raw = text(form, key).strip()
    if not raw:
        if not optional:
            errors[key] = "Enter a whole number."
        return None
    try:
        return int(raw)
    except ValueError:
        errors[key] = "Enter a whole number" + (", or leave it empty." if optional else ".")
        return None


def uuid_or_none(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def iso_date(raw: str | None, key: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[key] = "Use a date like 2026-01-31."
        return None


def typed_values(form: FormMultiDict) -> dict[str, str]:
    """What was typed, to put back in the form beside the errors."""
    return {key: value for key, value in form.items() if isinstance(value, str) and key != "_csrf_token"}


def staff_input(form: FormMultiDict) -> users.StaffUserInput:
    ids = {uuid_or_none(raw) for raw in form.getall("client_ids", []) if isinstance(raw, str)}
    return users.StaffUserInput(
        display_name=text(form, "display_name"),
        role=text(form, "role"),
        all_clients=text(form, "scope") != "limited",
        client_ids=frozenset(client_id for client_id in ids if client_id is not None),
    )


def priority_input(form: FormMultiDict) -> priorities.PriorityInput:
    errors: dict[str, str] = {}
    rank = whole_number(form, "rank", errors)
    response = whole_number(form, "sla_response_minutes", errors, optional=True)
    resolve = whole_number(form, "sla_resolve_minutes", errors, optional=True)
    if errors:
        raise ValidationError(errors)
    assert rank is not None
    return priorities.PriorityInput(text(form, "name"), rank, response, resolve)


def status_input(form: FormMultiDict) -> statuses.StatusInput:
    errors: dict[str, str] = {}
    rank = whole_number(form, "rank", errors, optional=True)
    if errors:
        raise ValidationError(errors)
    return statuses.StatusInput(
        name=text(form, "name"),
        is_closed=flag(form, "is_closed"),
        is_resolved=flag(form, "is_resolved"),
        rank=rank or 0,
    )


def asset_group_name(form: FormMultiDict) -> str:
    return text(form, "name")


def asset_type_input(form: FormMultiDict) -> asset_types.AssetTypeInput:
    return asset_types.AssetTypeInput(name=text(form, "name"), group_id=uuid_or_none(text(form, "group_id")))


def ticket_type_input(form: FormMultiDict) -> ticket_types.TicketTypeInput:
    return ticket_types.TicketTypeInput(
        name=text(form, "name"),
        default_priority_id=uuid_or_none(text(form, "default_priority_id")),
        default_status_id=uuid_or_none(text(form, "default_status_id")),
        classification_required_on_close=flag(form, "classification_required_on_close"),
    )


def field_input(form: FormMultiDict) -> ticket_types.FieldInput:
    return ticket_types.FieldInput(
        label=text(form, "label"),
        kind=text(form, "kind"),
        choices=tuple(line for line in text(form, "choices").splitlines() if line.strip()),
        required_on_close=flag(form, "required_on_close"),
    )

"""Custom fields a ticket type defines, and the checks their values go through.

A definition (stored in ``TicketType.custom_fields``) is ``{"key", "label", "kind", "choices",
"required_on_close"}`` with kind text, number, choice or date. Values are kept in
``Ticket.custom_fields`` as JSON: text and choice as strings, numbers as numbers, dates as
``YYYY-MM-DD``. Errors are keyed ``custom_<key>``, the name of the form input.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

MAX_TEXT = 2000


class FieldKind(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    CHOICE = "choice"
    DATE = "date"


@dataclass(frozen=True)
class FieldDefinition:
    key: str
    label: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    required_on_close: bool = False

    @property
    def input_name(self) -> str:
        return input_name(self.key)


def input_name(key: str) -> str:
    return f"custom_{key}"


def definitions(raw: list[dict[str, Any]] | None) -> list[FieldDefinition]:
    """The type's definitions; an entry with an unknown kind is read as text rather than lost."""
    parsed = []
    for entry in raw or []:
        key = str(entry.get("key", "")).strip()
        if not key:
            continue
        try:
            kind = FieldKind(str(entry.get("kind", "text")))
        except ValueError:
            kind = FieldKind.TEXT
        parsed.append(
            FieldDefinition(
                key=key,
                label=str(entry.get("label") or key),
                kind=kind,
                choices=tuple(str(choice) for choice in entry.get("choices") or ()),
                required_on_close=bool(entry.get("required_on_close", False)),
            )
        )
    return parsed


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean(definition: FieldDefinition, value: Any) -> tuple[Any, str | None]:
    if definition.kind is FieldKind.NUMBER:
        if isinstance(value, bool):
            return None, "Enter a number."
        if isinstance(value, int | float):
            number: float | int = value
        else:
            text = str(value).strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    return None, "Enter a number."
        if isinstance(number, float) and not math.isfinite(number):
            return None, "Enter a number."
        return number, None
    if definition.kind is FieldKind.DATE:
        text = value.isoformat() if isinstance(value, date) else str(value).strip()
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, "Enter a date as YYYY-MM-DD."
    text = str(value).strip()
    if definition.kind is FieldKind.CHOICE:
        if text not in definition.choices:
            return None, "Choose one of the listed values."
        return text, None
    if len(text) > MAX_TEXT:
        return None, f"Use at most {MAX_TEXT} characters."
    return text, None


def clean_values(
    fields: list[FieldDefinition], raw: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    """Parse ``raw`` (keyed by field key): (values to set, keys to clear, errors)."""
    by_key = {definition.key: definition for definition in fields}
    values: dict[str, Any] = {}
    cleared: set[str] = set()
    errors: dict[str, str] = {}
    for key, value in raw.items():
        definition = by_key.get(key)
        if definition is None:
            errors[input_name(key)] = "This ticket type has no such field."
            continue
        if _is_empty(value):
            cleared.add(key)
            continue
        cleaned, problem = _clean(definition, value)
        if problem:
            errors[input_name(key)] = problem
        else:
            values[key] = cleaned
    return values, cleared, errors


def missing_on_close(fields: list[FieldDefinition], values: Mapping[str, Any]) -> dict[str, str]:
    return {
        definition.input_name: f"{definition.label} is required to close this ticket."
        for definition in fields
        if definition.required_on_close and _is_empty(values.get(definition.key))
    }

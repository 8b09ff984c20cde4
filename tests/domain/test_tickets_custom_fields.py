"""Custom field definitions and value checks (no database)."""

from __future__ import annotations

from portal.domain.tickets.custom_fields import FieldKind, clean_values, definitions, missing_on_close

FIELDS = definitions(
    [
        {"key": "users", "label": "Affected users", "kind": "number"},
        {"key": "vector", "label": "Vector", "kind": "choice", "choices": ["email", "web"], "required_on_close": True},
        {"key": "seen", "label": "First seen", "kind": "date"},
        {"key": "notes", "label": "Notes", "kind": "text"},
        {"key": "legacy", "kind": "colour"},  # an unknown kind is kept, as text
        {"label": "no key"},  # unusable: skipped
    ]
)


def test_definitions_are_read_leniently() -> None:
    assert [(f.key, f.kind) for f in FIELDS] == [
        ("users", FieldKind.NUMBER),
        ("vector", FieldKind.CHOICE),
        ("seen", FieldKind.DATE),
        ("notes", FieldKind.TEXT),
        ("legacy", FieldKind.TEXT),
    ]
    assert FIELDS[4].label == "legacy"
    assert FIELDS[1].input_name == "custom_vector"


def test_values_are_parsed_by_kind() -> None:
    values, cleared, errors = clean_values(
        FIELDS, {"users": " 12 ", "vector": "web", "seen": "2026-11-02", "notes": " hi ", "legacy": ""}
    )
    assert errors == {}
    assert values == {"users": 12, "vector": "web", "seen": "2026-11-02", "notes": "hi"}
    assert cleared == {"legacy"}
    assert clean_values(FIELDS, {"users": "2.5"})[0] == {"users": 2.5}
    assert clean_values(FIELDS, {"users": 3})[0] == {"users": 3}


def test_bad_values_are_named_by_their_input() -> None:
    _, _, errors = clean_values(
        FIELDS,
        {"users": "many", "vector": "phone", "seen": "02/11/2026", "notes": "x" * 2001, "colour": "red"},
    )
    assert errors == {
        "custom_users": "Enter a number.",
        "custom_vector": "Choose one of the listed values.",
        "custom_seen": "Enter a date as YYYY-MM-DD.",
        "custom_notes": "Use at most 2000 characters.",
        "custom_colour": "This ticket type has no such field.",
    }
    assert clean_values(FIELDS, {"users": "nan"})[2] == {"custom_users": "Enter a number."}
    assert clean_values(FIELDS, {"users": True})[2] == {"custom_users": "Enter a number."}


def test_fields_required_on_close() -> None:
    assert missing_on_close(FIELDS, {"users": 3}) == {"custom_vector": "Vector is required to close this ticket."}
    assert missing_on_close(FIELDS, {"vector": "  "}) == {"custom_vector": "Vector is required to close this ticket."}
    assert missing_on_close(FIELDS, {"vector": "email"}) == {}

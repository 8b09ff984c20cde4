from __future__ import annotations

import pytest

from portal.domain.integrations.secrets import SecretBox, SecretsUnreadable
from portal.integrations.manifest import ConfigField, FieldKind, masked, validate

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40


def test_sealed_secrets_are_ciphertext_and_open_again() -> None:
    box = SecretBox([NEW])
    sealed = box.seal({"api_token": "tok-123456"})
    assert "tok-123456" not in sealed
    assert box.open(sealed) == {"api_token": "tok-123456"}


def test_rotation_keeps_old_ciphertext_readable_and_rewrites_it_under_the_new_key() -> None:
    sealed_with_old = SecretBox([OLD]).seal({"k": "v"})
    rotating = SecretBox([NEW, OLD])
    assert rotating.open(sealed_with_old) == {"k": "v"}
    rotated = rotating.rotate(sealed_with_old)
    assert SecretBox([NEW]).open(rotated) == {"k": "v"}
    with pytest.raises(SecretsUnreadable):
        SecretBox([NEW]).open(sealed_with_old)


FIELDS = (
    ConfigField("url", "Console URL", FieldKind.URL, required=True),
    ConfigField("token", "API token", FieldKind.SECRET, required=True),
    ConfigField("size", "Page size", FieldKind.INTEGER, default=100, minimum=1, maximum=1000),
    ConfigField("mode", "Mode", FieldKind.CHOICE, choices=(("a", "A"), ("b", "B"))),
    ConfigField("type", "Ticket type", FieldKind.CHOICE, choices_from="ticket_types"),
    ConfigField("flag", "Flag", FieldKind.BOOLEAN),
)


def test_validation_reports_each_problem_by_field() -> None:
    result = validate(FIELDS, {"url": "ftp://x", "size": "0", "mode": "c", "type": "nope"})
    assert set(result.errors) == {"url", "token", "size", "mode", "type"}
    assert "at least 1" in result.errors["size"]


def test_valid_values_are_cleaned_and_secrets_kept_apart() -> None:
    result = validate(
        FIELDS,
        {"url": "https://c.example.com/", "token": " t0k ", "mode": "b", "type": "t1", "flag": "on"},
        dynamic_choices={"ticket_types": [("t1", "Incident")]},
    )
    assert result.errors == {}
    assert result.values == {"url": "https://c.example.com", "size": 100, "mode": "b", "type": "t1", "flag": True}
    assert result.secrets == {"token": "t0k"}


def test_a_blank_secret_keeps_the_stored_one() -> None:
    result = validate(FIELDS, {"url": "https://c.example.com"}, stored_secrets={"token": "stored"})
    assert "token" not in result.errors
    assert result.secrets == {}


def test_masking_never_shows_a_secret() -> None:
    shown = masked(FIELDS, {"url": "https://c"}, {"token": "supersecret"})
    assert "supersecret" not in str(shown)
    assert shown["token"].endswith("(set)")

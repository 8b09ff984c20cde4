"""Acme's case and comment JSON to socdesk's fields: pure functions, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from portal.domain.tickets.classification import Classification, ClassificationReason, classification_errors
from portal.integrations.acme import mapping
from portal.integrations.acme.mapping import CaseMappingError

P2, P3, P4 = (str(uuid.uuid4()) for _ in range(3))
MAPPINGS = {"ticket_type": str(uuid.uuid4()), "priority_high": P2, "priority_medium": P3, "priority_low": P3}


def case(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "c-1",
        "number": 1042,
        "title": "  Malware on WS01 ",
        "description": "EDR quarantined a file.",
        "severity": "high",
        "status": "active",
        "classification": None,
        "assignee": "Ana@MSP.example",
        "createdAt": "2026-11-20T10:00:00+02:00",
        "modifiedAt": "2026-11-20T09:30:00.250Z",
        "url": "https://acme.test/ui/tenants/contoso/cases/c-1",
    }
    data.update(overrides)
    return data


def test_a_case_is_read_with_times_in_utc() -> None:
    record = mapping.read_case(case())
    assert record.id == "c-1"
    assert record.title == "Malware on WS01"
    assert record.created_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert record.modified_at == datetime(2026, 11, 20, 9, 30, 0, 250000, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC


def test_created_at_defaults_to_the_change_time_and_unknown_severity_maps_to_nothing() -> None:
    record = mapping.read_case(case(createdAt=None, severity="catastrophic"))
    assert record.created_at == record.modified_at
    assert record.severity is None
    assert mapping.priority_for(record.severity, MAPPINGS) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id": None}, "no usable id"),
        ({"id": ""}, "no usable id"),
        ({"id": "a/b"}, "no usable id"),
        ({"title": "   "}, "no title"),
        ({"title": None}, "no title"),
        ({"modifiedAt": None}, "modifiedAt is missing"),
        ({"modifiedAt": "last tuesday"}, "not an ISO 8601 time"),
        ({"modifiedAt": "2026-11-20T09:30:00"}, "no time zone"),
        ({"status": "resolved"}, "Unknown case status"),
        ({"number": "1042"}, "not a whole number"),
        ({"description": 5}, "not text"),
    ],
)
def test_a_malformed_case_is_a_mapping_error(overrides, message) -> None:
    with pytest.raises(CaseMappingError, match=message):
        mapping.read_case(case(**overrides))


def test_comments_are_read_oldest_first_and_need_an_id() -> None:
    comments = mapping.read_comments(
        [
            {"id": "b", "author": "x", "body": "second", "createdAt": "2026-11-20T10:00:00Z"},
            {"id": "a", "author": "", "body": "first", "createdAt": "2026-11-20T11:00:00+02:00"},
        ]
    )
    assert [comment.body for comment in comments] == ["first", "second"]
    assert comments[0].author == "Acme"  # no author: still someone to name
    with pytest.raises(CaseMappingError):
        mapping.read_comment({"author": "x", "body": "no id"})


def test_summary_and_details_carry_the_number_and_a_link() -> None:
    record = mapping.read_case(case(title="x" * 600))
    assert len(mapping.summary(record)) == 500
    assert mapping.details(record) == (
        "Acme case #1042: https://acme.test/ui/tenants/contoso/cases/c-1\n\nEDR quarantined a file."
    )
    bare = mapping.read_case(case(number=None, url=None, description=""))
    assert mapping.details(bare) == "Acme case c-1"


def test_severity_maps_to_a_priority_and_back() -> None:
    assert mapping.priority_for("high", MAPPINGS) == uuid.UUID(P2)
    assert mapping.priority_for("low", MAPPINGS) == uuid.UUID(P3)
    assert mapping.priority_for("high", {}) is None
    assert mapping.priority_for("high", {"priority_high": "not-a-uuid"}) is None
    assert mapping.severities_for(P3, MAPPINGS) == ["medium", "low"]  # shared: most severe first
    assert mapping.severities_for(P4, MAPPINGS) == []


@pytest.mark.parametrize(
    ("acme_value", "expected"),
    [
        ("true_positive", (Classification.TRUE_POSITIVE, ClassificationReason.SUSPICIOUS_ACTIVITY)),
        ("false_positive", (Classification.FALSE_POSITIVE, ClassificationReason.INCORRECT_ALERT_LOGIC)),
        ("benign_positive", (Classification.BENIGN_POSITIVE, ClassificationReason.SUSPICIOUS_BUT_EXPECTED)),
        ("undetermined", (Classification.UNDETERMINED, None)),
        (None, (Classification.UNDETERMINED, None)),
        ("something_new", (Classification.UNDETERMINED, None)),
    ],
)
def test_acme_closures_become_valid_socdesk_classifications(acme_value, expected) -> None:
    classification, reason = mapping.closure_for(acme_value)
    assert (classification, reason) == expected
    # Whatever Acme says, the pair is one the ticket service accepts on a type that requires one.
    _, _, errors = classification_errors(classification.value, reason.value if reason else None, required=True)
    assert errors == {}


def test_socdesk_classifications_map_back_to_acme() -> None:
    assert mapping.acme_classification("TruePositive") == "true_positive"
    assert mapping.acme_classification("FalsePositive") == "false_positive"
    assert mapping.acme_classification("BenignPositive") == "benign_positive"
    assert mapping.acme_classification("Undetermined") == "undetermined"
    assert mapping.acme_classification(None) is None


def test_the_assignee_is_matched_by_email_ignoring_case() -> None:
    ana, bob = uuid.uuid4(), uuid.uuid4()
    agents = [("ana@msp.example", ana), ("bob@msp.example", bob)]
    assert mapping.match_agent("Ana@MSP.example", agents) == ana
    assert mapping.match_agent("carol@msp.example", agents) is None
    assert mapping.match_agent(None, agents) is None


def test_case_remote_ids_carry_the_tenant() -> None:
    assert mapping.case_remote_id("contoso", "c-1") == "contoso/c-1"
    assert mapping.split_case_remote_id("contoso/c-1") == ("contoso", "c-1")
    for bad in ("contoso", "/c-1", "contoso/"):
        with pytest.raises(CaseMappingError):
            mapping.split_case_remote_id(bad)


def test_the_fingerprint_says_which_aspect_changed() -> None:
    comments = mapping.read_comments([{"id": "a", "author": "x", "body": "hi"}])
    base = mapping.case_fingerprint(mapping.read_case(case()), comments)
    assert len(base) == 64
    assert mapping.case_fingerprint(mapping.read_case(case()), comments) == base

    def changed(record_overrides: dict[str, object], new_comments=comments) -> set[str]:
        current = mapping.case_fingerprint(mapping.read_case(case(**record_overrides)), new_comments)
        return mapping.changed_aspects(base, current)

    assert changed({"modifiedAt": "2026-11-21T00:00:00Z", "assignee": "bob@msp.example"}) == set()
    assert changed({"title": "Other"}) == {"content"}
    assert changed({"severity": "low"}) == {"severity"}
    assert changed({"status": "closed", "classification": "true_positive"}) == {"status"}
    more = [*comments, *mapping.read_comments([{"id": "b", "author": "y", "body": "new"}])]
    assert changed({}, more) == {"comments"}
    assert mapping.changed_aspects(None, base) == set(mapping.ASPECTS)

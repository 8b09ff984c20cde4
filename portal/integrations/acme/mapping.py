"""Acme's words to socdesk's and back: pure functions, no database, no HTTP.

A case is read into a :class:`CaseRecord` (a malformed one raises :class:`CaseMappingError`,
which the sync records as a problem with that one record), then mapped field by field: title
and description to summary and details, severity to a priority through the connection's
mappings, status to open/closed, Acme's classification to socdesk's pair, the assignee's email
to a staff member.

Remote ids: a case is ``"<tenant>/<case id>"`` (delivering a change needs the tenant, and the
outbox knows only the remote id); a comment is its bare id, because the comments socdesk writes
use the outbox idempotency key as their id and must be recognised by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portal.domain.sync.links import fingerprint
from portal.domain.tickets.classification import Classification, ClassificationReason

CASE = "case"
COMMENT = "case_comment"
SEVERITIES = ("high", "medium", "low")
STATUSES = ("new", "active", "closed")
MAX_SUMMARY = 500  # the ticket service's limit
MAX_TEXT = 50_000

# Acme classification -> socdesk (classification, reason). socdesk's pairs follow Sentinel, where
# a true or benign positive and a false positive need a reason; Acme has none, so the closest one.
CLOSURES: dict[str, tuple[Classification, ClassificationReason | None]] = {
    "true_positive": (Classification.TRUE_POSITIVE, ClassificationReason.SUSPICIOUS_ACTIVITY),
    "benign_positive": (Classification.BENIGN_POSITIVE, ClassificationReason.SUSPICIOUS_BUT_EXPECTED),
    "false_positive": (Classification.FALSE_POSITIVE, ClassificationReason.INCORRECT_ALERT_LOGIC),
    "undetermined": (Classification.UNDETERMINED, None),
}
ACME_CLASSIFICATIONS: dict[str, str] = {classification.value: acme for acme, (classification, _) in CLOSURES.items()}


class CaseMappingError(ValueError):
    """A case or comment that does not have what Acme's API promises."""


@dataclass(frozen=True)
class CaseRecord:
    id: str
    number: int | None
    title: str
    description: str
    severity: str | None  # None: a value socdesk does not know (no priority mapping applies)
    status: str
    classification: str | None
    closing_note: str | None
    assignee: str | None
    created_at: datetime
    modified_at: datetime
    url: str | None
    comment_count: int | None = None  # None: the case did not say, so its comments must be read


@dataclass(frozen=True)
class CommentRecord:
    id: str
    author: str
    body: str
    created_at: datetime | None


# -- reading ---------------------------------------------------------------------------------------


def parse_time(value: Any, what: str = "time") -> datetime:
    """An ISO 8601 time with a zone (Z or an offset) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise CaseMappingError(f"{what} is missing.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CaseMappingError(f"{what} is not an ISO 8601 time: {value[:40]!r}.") from None
    if moment.tzinfo is None:
        raise CaseMappingError(f"{what} has no time zone: {value[:40]!r}.")
    return moment.astimezone(UTC)


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CaseMappingError(f"{key} is not text.")
    return value


def read_case(data: Mapping[str, Any]) -> CaseRecord:
    case_id = _text(data, "id")
    if not case_id or "/" in case_id:
        raise CaseMappingError("The case has no usable id.")
    title = (_text(data, "title") or "").strip()
    if not title:
        raise CaseMappingError("The case has no title.")
    modified_at = parse_time(data.get("modifiedAt"), "modifiedAt")
    created_at = parse_time(data["createdAt"], "createdAt") if data.get("createdAt") else modified_at
    status = _text(data, "status") or "new"
    if status not in STATUSES:
        raise CaseMappingError(f"Unknown case status {status[:40]!r}.")
    number = data.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise CaseMappingError("number is not a whole number.")
    severity = _text(data, "severity")
    comment_count = data.get("commentCount")
    if comment_count is not None and (isinstance(comment_count, bool) or not isinstance(comment_count, int)):
        raise CaseMappingError("commentCount is not a whole number.")
    return CaseRecord(
        id=case_id,
        number=number,
        title=title,
        description=_text(data, "description") or "",
        severity=severity if severity in SEVERITIES else None,
        status=status,
        classification=_text(data, "classification"),
        closing_note=_text(data, "closingNote"),
        assignee=_text(data, "assignee"),
        created_at=created_at,
        modified_at=modified_at,
        url=_text(data, "url"),
        comment_count=comment_count,
    )


def read_comment(data: Mapping[str, Any]) -> CommentRecord:
    comment_id = _text(data, "id")
    if not comment_id:
        raise CaseMappingError("A comment has no id.")
    return CommentRecord(
        id=comment_id,
        author=(_text(data, "author") or "").strip() or "Acme",
        body=_text(data, "body") or "",
        created_at=parse_time(data["createdAt"], "comment createdAt") if data.get("createdAt") else None,
    )


def read_comments(items: Iterable[Mapping[str, Any]]) -> list[CommentRecord]:
    """Oldest first, so notes land in the timeline in the order they were written."""
    comments = [read_comment(item) for item in items]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(comments, key=lambda comment: (comment.created_at or oldest, comment.id))


# -- ids -------------------------------------------------------------------------------------------


def case_remote_id(tenant: str, case_id: str) -> str:
    return f"{tenant}/{case_id}"


def split_case_remote_id(remote_id: str) -> tuple[str, str]:
    tenant, _, case_id = remote_id.partition("/")
    if not tenant or not case_id:
        raise CaseMappingError(f"{remote_id!r} is not an Acme case id (<tenant>/<case id>).")
    return tenant, case_id


# -- fields ----------------------------------------------------------------------------------------


def summary(case: CaseRecord) -> str:
    return case.title[:MAX_SUMMARY]


def details(case: CaseRecord) -> str:
    heading = f"Acme case #{case.number}" if case.number is not None else f"Acme case {case.id}"
    lines = [heading + (f": {case.url}" if case.url else "")]
    if case.description.strip():
        lines += ["", case.description.strip()]
    return "\n".join(lines)[:MAX_TEXT]


def _priority_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def priority_for(severity: str | None, mappings: Mapping[str, Any]) -> uuid.UUID | None:
    """The socdesk priority a severity maps to; None leaves the ticket type's default."""
    return _priority_id(mappings.get(f"priority_{severity}")) if severity else None


def severities_for(priority_id: uuid.UUID | str, mappings: Mapping[str, Any]) -> list[str]:
    """Acme severities that map to this priority, most severe first (several may share one)."""
    wanted = _priority_id(priority_id)
    return [severity for severity in SEVERITIES if wanted and priority_for(severity, mappings) == wanted]


def is_closed(case: CaseRecord) -> bool:
    return case.status == "closed"


def closure_for(classification: str | None) -> tuple[Classification, ClassificationReason | None]:
    """socdesk's classification of an Acme closure; one without a classification is Undetermined."""
    return CLOSURES.get(classification or "", (Classification.UNDETERMINED, None))


def acme_classification(classification: str | None) -> str | None:
    return ACME_CLASSIFICATIONS.get(classification or "")


def match_agent(email: str | None, agents: Iterable[tuple[str, uuid.UUID]]) -> uuid.UUID | None:
    """The staff member whose email is the case's assignee (emails compare case-insensitively)."""
    if not email:
        return None
    wanted = email.strip().lower()
    return next((agent_id for address, agent_id in agents if address.lower() == wanted), None)


# -- change detection ------------------------------------------------------------------------------

ASPECTS = ("content", "severity", "status", "comments")
_PART = 16  # four 16-hex-digit parts fill the link's 64-character fingerprint


def case_fingerprint(case: CaseRecord, comments: Sequence[CommentRecord]) -> str:
    """A fingerprint made of one short hash per aspect a sync applies.

    Equal fingerprints: nothing to do. Otherwise :func:`changed_aspects` says which aspect
    changed since the last import, so a priority or status set by staff in socdesk is only
    overwritten when Acme's own value actually changed, not on every comment.
    """
    parts = {
        "content": [case.title, case.description, case.number, case.url],
        "severity": [case.severity],
        "status": [case.status, case.classification],
        "comments": [[comment.id, comment.body] for comment in comments],
    }
    return "".join(fingerprint({"v": parts[aspect]})[:_PART] for aspect in ASPECTS)


def changed_aspects(previous: str | None, current: str) -> set[str]:
    if not previous or len(previous) != len(current):
        return set(ASPECTS)
    return {
        aspect
        for index, aspect in enumerate(ASPECTS)
        if previous[index * _PART : (index + 1) * _PART] != current[index * _PART : (index + 1) * _PART]
    }

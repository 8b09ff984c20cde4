"""SentinelOne's records read into plain values: pure functions, no database, no HTTP.

Threats (nested v2.1 shape: the change time is ``threatInfo.updatedAt``, the scope is
``agentRealtimeInfo``) and cloud-detection alerts (Title Case values, no account id) are read
into one :class:`Detection`, so one mapping makes tickets of both. A record without what the
API promises raises :class:`RecordError`; the sync records it as a problem with that one record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

THREAT = "threat"
ALERT = "alert"
AGENT = "agent"
THREAT_NOTE = "threat_note"
SOCDESK_MARK = "[socdesk]"  # what starts every note socdesk writes to SentinelOne
OPEN_STATUSES = ("unresolved", "in_progress")
VERDICTS = ("true_positive", "suspicious", "false_positive", "undefined")
# A threat carries a confidence level, not a severity; this is the severity it is filed under.
CONFIDENCE_SEVERITY = {"malicious": "High", "suspicious": "Medium"}


class RecordError(ValueError):
    """A SentinelOne record that does not have what the API promises."""


def parse_time(value: Any, what: str) -> datetime:
    """ISO 8601 UTC, with or without fractions (``2018-02-27T04:49:26.257525Z``)."""
    if not isinstance(value, str) or not value:
        raise RecordError(f"{what} is missing.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{what} is not a time: {value[:40]!r}.") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def maybe_time(value: Any, what: str) -> datetime | None:
    return parse_time(value, what) if value else None


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"{key} is not an object.")
    return value


def text(value: Any) -> str | None:
    """A string value as text (ids may come as numbers); empty and missing are None."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    shown = str(value).strip()
    return shown or None


def record_id(raw: Mapping[str, Any], *paths: str) -> str:
    for path in paths:
        value = text(lookup(raw, path))
        if value:
            return value
    raise RecordError(f"The record has no {paths[0]}.")


def lookup(raw: Mapping[str, Any], path: str) -> Any:
    """A dotted path into a record (``threatInfo.threatName``); None where any step is missing."""
    current: Any = raw
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def lower_snake(value: Any) -> str | None:
    """``"In Progress"``, ``"IN_PROGRESS"`` and ``"in_progress"`` are one value."""
    shown = text(value)
    return shown.lower().replace(" ", "_") if shown else None


@dataclass(frozen=True)
class Detection:
    kind: str  # threat or alert
    id: str
    title: str
    severity: str | None
    status: str  # unresolved, in_progress, resolved
    verdict: str  # true_positive, suspicious, false_positive, undefined
    site_id: str | None
    site_name: str | None
    account_id: str | None
    agent_id: str | None
    agent_uuid: str | None
    computer_name: str | None
    created_at: datetime
    updated_at: datetime
    facts: tuple[tuple[str, str], ...]  # what the ticket's details list

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def label(self) -> str:
        return "threat" if self.kind == THREAT else "alert"


def _facts(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((label, shown) for label, value in pairs if (shown := text(value)))


def _status(value: Any) -> str:
    status = lower_snake(value) or "unresolved"
    return status if status in (*OPEN_STATUSES, "resolved") else "unresolved"


def _verdict(value: Any) -> str:
    verdict = lower_snake(value) or "undefined"
    return verdict if verdict in VERDICTS else "undefined"


def read_threat(raw: Mapping[str, Any]) -> Detection:
    info = _section(raw, "threatInfo")
    agent = _section(raw, "agentRealtimeInfo")
    detection = _section(raw, "agentDetectionInfo")
    threat_id = record_id(raw, "id", "threatInfo.threatId")
    created_at = parse_time(info.get("createdAt"), "threatInfo.createdAt")
    # The nested time is the one v2.1 keeps up to date (the top-level one is often missing).
    updated_at = maybe_time(info.get("updatedAt"), "threatInfo.updatedAt") or created_at
    confidence = lower_snake(info.get("confidenceLevel"))
    name = text(info.get("threatName")) or text(info.get("classification")) or "Threat"
    computer = text(agent.get("agentComputerName"))
    return Detection(
        kind=THREAT,
        id=threat_id,
        title=f"SentinelOne threat: {name}" + (f" on {computer}" if computer else ""),
        severity=text(info.get("severity")) or CONFIDENCE_SEVERITY.get(confidence or ""),
        status=_status(info.get("incidentStatus")),
        verdict=_verdict(info.get("analystVerdict")),
        site_id=text(agent.get("siteId")) or text(detection.get("siteId")),
        site_name=text(agent.get("siteName")) or text(detection.get("siteName")),
        account_id=text(agent.get("accountId")) or text(detection.get("accountId")),
        agent_id=text(agent.get("agentId")),
        agent_uuid=text(agent.get("agentUuid")) or text(detection.get("agentUuid")),
        computer_name=computer,
        created_at=created_at,
        updated_at=updated_at,
        facts=_facts(
            ("Threat", name),
            ("Classification", info.get("classification")),
            ("Confidence", info.get("confidenceLevel")),
            ("Mitigation status", info.get("mitigationStatusDescription") or info.get("mitigationStatus")),
            ("Incident status", info.get("incidentStatusDescription") or info.get("incidentStatus")),
            ("Analyst verdict", info.get("analystVerdictDescription") or info.get("analystVerdict")),
            ("Endpoint", computer),
            ("Site", agent.get("siteName")),
            ("Account", agent.get("accountName")),
            ("File path", info.get("filePath")),
            ("SHA1", info.get("sha1")),
            ("SHA256", info.get("sha256")),
            ("Process user", info.get("processUser")),
            ("Originator process", info.get("originatorProcess")),
            ("Detection", info.get("detectionType")),
            ("Storyline", info.get("storyline")),
            ("Identified at", info.get("identifiedAt")),
        ),
    )


def read_alert(raw: Mapping[str, Any], account_id: str | None = None) -> Detection:
    """A cloud-detection alert; it names no account, so the caller may pass the site's."""
    info = _section(raw, "alertInfo")
    rule = _section(raw, "ruleInfo")
    agent = _section(raw, "agentRealtimeInfo")
    detection = _section(raw, "agentDetectionInfo")
    process = _section(raw, "sourceProcessInfo")
    alert_id = record_id(raw, "alertInfo.alertId", "id")
    created_at = parse_time(info.get("createdAt"), "alertInfo.createdAt")
    updated_at = maybe_time(info.get("updatedAt"), "alertInfo.updatedAt") or created_at
    rule_name = text(rule.get("name")) or "Alert"
    computer = text(agent.get("name")) or text(detection.get("name"))
    return Detection(
        kind=ALERT,
        id=alert_id,
        title=f"SentinelOne alert: {rule_name}" + (f" on {computer}" if computer else ""),
        severity=text(rule.get("severity")),
        status=_status(info.get("incidentStatus")),
        verdict=_verdict(info.get("analystVerdict")),
        site_id=text(detection.get("siteId")),
        site_name=text(detection.get("siteName")),
        account_id=account_id,
        agent_id=text(agent.get("id")),
        agent_uuid=text(agent.get("uuid")) or text(detection.get("uuid")),
        computer_name=computer,
        created_at=created_at,
        updated_at=updated_at,
        facts=_facts(
            ("Rule", rule_name),
            ("Severity", rule.get("severity")),
            ("Source", info.get("source")),
            ("Event type", info.get("eventType")),
            ("Incident status", info.get("incidentStatus")),
            ("Analyst verdict", info.get("analystVerdict")),
            ("Endpoint", computer),
            ("Process", process.get("name")),
            ("Command line", process.get("commandline")),
            ("File path", process.get("filePath")),
            ("SHA1", process.get("fileHashSha1")),
            ("Process user", process.get("user")),
            ("Storyline", process.get("storyline")),
            ("Reported at", info.get("reportedAt")),
        ),
    )


@dataclass(frozen=True)
class Agent:
    id: str
    uuid: str | None
    computer_name: str
    site_id: str | None
    site_name: str | None
    account_id: str | None
    updated_at: datetime | None
    raw: Mapping[str, Any]

    @property
    def retired(self) -> bool:
        """Decommissioned or uninstalled: gone from the customer's estate, though still listed."""
        return self.raw.get("isDecommissioned") is True or self.raw.get("isUninstalled") is True


def read_agent(raw: Mapping[str, Any]) -> Agent:
    agent_id = record_id(raw, "id")
    computer = text(raw.get("computerName"))
    if not computer:
        raise RecordError(f"Endpoint {agent_id} has no computerName.")
    return Agent(
        id=agent_id,
        uuid=text(raw.get("uuid")),
        computer_name=computer,
        site_id=text(raw.get("siteId")),
        site_name=text(raw.get("siteName")),
        account_id=text(raw.get("accountId")),
        updated_at=maybe_time(raw.get("updatedAt"), "updatedAt"),
        raw=raw,
    )


@dataclass(frozen=True)
class Scope:
    """An account or a site: what a client link's remote side names."""

    kind: str  # account or site
    id: str
    name: str
    account_id: str | None = None
    account_name: str | None = None
    state: str | None = None


def read_account(raw: Mapping[str, Any]) -> Scope:
    account_id = record_id(raw, "id")
    return Scope("account", account_id, text(raw.get("name")) or account_id, state=text(raw.get("state")))


def read_site(raw: Mapping[str, Any]) -> Scope:
    site_id = record_id(raw, "id")
    return Scope(
        "site",
        site_id,
        text(raw.get("name")) or site_id,
        account_id=text(raw.get("accountId")),
        account_name=text(raw.get("accountName")),
        state=text(raw.get("state")),
    )


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    creator: str
    created_at: datetime | None

    @property
    def written_by_socdesk(self) -> bool:
        return self.text.lstrip().startswith(SOCDESK_MARK)


def read_notes(raws: Sequence[Mapping[str, Any]]) -> list[Note]:
    """A threat's notes, oldest first (so they land in the ticket's timeline in the order they were written)."""
    notes = []
    for raw in raws:
        note_id = text(raw.get("id"))
        if not note_id:
            raise RecordError("A threat note has no id.")
        notes.append(
            Note(
                id=note_id,
                text=str(raw.get("text") or ""),
                creator=text(raw.get("creator")) or "SentinelOne",
                created_at=maybe_time(raw.get("createdAt"), "note createdAt"),
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(notes, key=lambda note: (note.created_at or oldest, note.id))

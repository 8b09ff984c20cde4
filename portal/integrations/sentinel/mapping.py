"""Sentinel's words to socdesk's and back: pure functions, no database, no HTTP.

Incidents, comments, alerts and entities are read from the shapes Microsoft publishes (its own
API examples parse unchanged) into small records; a malformed one raises
:class:`SentinelMappingError`, which the sync records against that one record. Enums are
"model as string" at Microsoft: unknown values are kept, never refused.

Remote ids: an incident is ``"<tenant>/<subscription>/<resource group>/<workspace>/<incident name>"``
(a delivery needs the tenant for its token and the workspace for its path, and the outbox knows
only the remote id); the workspace part is lower-cased, because ARM compares ids case-insensitively
and Microsoft's own payloads mix the casing. A comment is its bare name: the comments socdesk
writes use the outbox idempotency key as their name and must be recognised by it.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.domain.sync import links
from portal.domain.sync.links import aspect_fingerprint
from portal.domain.tickets.classification import ALLOWED_REASONS, Classification, ClassificationReason
from portal.integrations.sentinel.manifest import SEVERITIES, workspace_scope

INCIDENT = "incident"
COMMENT = "incident_comment"
MAX_SUMMARY = 500
MAX_TEXT = 50_000
MAX_COMMENT = 30_000  # Sentinel's limit per comment
TRUNCATED = "\n\n[truncated by socdesk: Sentinel keeps at most 30,000 characters per comment]"
AUTHOR = "Microsoft Sentinel"


class SentinelMappingError(ValueError):
    """An incident, comment, alert or entity without what Microsoft's API promises."""


@dataclass(frozen=True)
class Workspace:
    tenant: str
    subscription: str
    resource_group: str
    name: str

    @property
    def scope(self) -> str:
        """The workspace as a link's remote scope and in remote ids (lower case: ARM ids are case-insensitive)."""
        return workspace_scope(self.subscription, self.resource_group, self.name)

    def incident_remote_id(self, incident_name: str) -> str:
        return f"{self.tenant.lower()}/{self.scope}/{incident_name}"


@dataclass(frozen=True)
class Owner:
    object_id: str | None = None
    email: str | None = None
    user_principal_name: str | None = None
    assigned_to: str | None = None


@dataclass(frozen=True)
class IncidentRecord:
    name: str
    arm_id: str
    etag: str | None
    title: str
    description: str
    severity: str
    status: str
    classification: str | None
    classification_reason: str | None
    classification_comment: str | None
    owner: Owner
    labels: tuple[str, ...]
    number: int | None
    url: str | None
    provider_url: str | None
    provider_name: str | None
    created_at: datetime
    modified_at: datetime
    modified_raw: str  # the 100-ns original: Python keeps only microseconds
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommentRecord:
    name: str
    message: str
    author: str
    author_object_id: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class AlertRecord:
    name: str
    display_name: str
    severity: str | None
    status: str | None
    product: str | None
    description: str
    time_generated: datetime | None
    tactics: tuple[str, ...]
    link: str | None


@dataclass(frozen=True)
class EntityRecord:
    name: str
    kind: str
    friendly_name: str
    details: tuple[tuple[str, str], ...]  # a few scalar properties worth showing


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    tenant_id: str | None
    display_name: str
    state: str | None


@dataclass(frozen=True)
class WorkspaceRecord:
    name: str
    resource_group: str
    subscription_id: str
    customer_id: str | None  # the workspace id the Log Analytics API and webhooks use
    location: str | None


# -- reading ---------------------------------------------------------------------------------------


def parse_time(value: Any, what: str = "time") -> datetime:
    """An ISO 8601 time with a zone as an aware UTC datetime (extra fractional digits are cut)."""
    if not isinstance(value, str) or not value:
        raise SentinelMappingError(f"{what} is missing.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SentinelMappingError(f"{what} is not an ISO 8601 time: {value[:40]!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # ARM times are UTC even when a payload drops the Z
    return moment.astimezone(UTC)


def _optional_time(value: Any, what: str) -> datetime | None:
    return parse_time(value, what) if value else None


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SentinelMappingError(f"{what} is not an object.")
    return data


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, or an empty one when it is missing or not an object."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SentinelMappingError(f"{key} is not text.")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def read_owner(value: Any) -> Owner:
    data = value if isinstance(value, Mapping) else {}
    return Owner(
        object_id=_text(data, "objectId") or None,
        email=_text(data, "email") or None,
        user_principal_name=_text(data, "userPrincipalName") or None,
        assigned_to=_text(data, "assignedTo") or None,
    )


def read_incident(data: Any) -> IncidentRecord:
    raw = _object(data, "The incident")
    name = _text(raw, "name")
    if not name or "/" in name:
        raise SentinelMappingError("The incident has no usable name.")
    props = _object(raw.get("properties"), "The incident's properties")
    title = (_text(props, "title") or "").strip()
    if not title:
        raise SentinelMappingError("The incident has no title.")
    modified_raw = _text(props, "lastModifiedTimeUtc") or ""
    modified_at = parse_time(modified_raw, "lastModifiedTimeUtc")
    created_at = _optional_time(props.get("createdTimeUtc"), "createdTimeUtc") or modified_at
    number = props.get("incidentNumber")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise SentinelMappingError("incidentNumber is not a whole number.")
    additional = _sub(props, "additionalData")
    labels = tuple(
        str(label.get("labelName"))
        for label in (props.get("labels") or [])
        if isinstance(label, Mapping) and label.get("labelName")
    )
    return IncidentRecord(
        name=name,
        arm_id=_text(raw, "id") or "",
        etag=_text(raw, "etag"),
        title=title,
        description=_text(props, "description") or "",
        severity=_text(props, "severity") or "Informational",
        status=_text(props, "status") or "New",
        classification=_text(props, "classification") or None,
        classification_reason=_text(props, "classificationReason") or None,
        classification_comment=_text(props, "classificationComment") or None,
        owner=read_owner(props.get("owner")),
        labels=labels,
        number=number,
        url=_text(props, "incidentUrl") or None,
        provider_url=str(additional.get("providerIncidentUrl") or "") or None,
        provider_name=_text(props, "providerName") or None,
        created_at=created_at,
        modified_at=modified_at,
        modified_raw=modified_raw,
        properties=dict(props),
    )


_BREAKS = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/h[1-6])\s*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]{0,2000}>")


def plain_text(message: str) -> str:
    """A comment as text: Sentinel's portal writes comments as HTML (``<p>…</p>``), socdesk notes are text."""
    if "<" not in message:
        return message
    text = _TAGS.sub("", _BREAKS.sub("\n", message))
    return re.sub(r"\n{3,}", "\n\n", html.unescape(text)).strip()


def read_comment(data: Any) -> CommentRecord:
    raw = _object(data, "A comment")
    name = _text(raw, "name")
    if not name:
        raise SentinelMappingError("A comment has no name.")
    props = _object(raw.get("properties"), "A comment's properties")
    author = _sub(props, "author")
    who = author.get("name") or author.get("email") or author.get("userPrincipalName") or AUTHOR
    return CommentRecord(
        name=name,
        message=plain_text(_text(props, "message") or ""),
        author=str(who).strip() or AUTHOR,
        author_object_id=str(author.get("objectId") or "") or None,
        created_at=_optional_time(props.get("createdTimeUtc"), "comment createdTimeUtc"),
    )


def read_comments(items: Iterable[Any]) -> list[CommentRecord]:
    """Oldest first, so notes land in the timeline in the order they were written."""
    comments = [read_comment(item) for item in items]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(comments, key=lambda comment: (comment.created_at or oldest, comment.name))


def read_alert(data: Any) -> AlertRecord:
    raw = _object(data, "An alert")
    props = _object(raw.get("properties"), "An alert's properties")
    name = _text(raw, "name") or _text(props, "systemAlertId") or ""
    return AlertRecord(
        name=name,
        display_name=_text(props, "alertDisplayName") or _text(props, "friendlyName") or name or "(unnamed alert)",
        severity=_text(props, "severity"),
        status=_text(props, "status"),
        product=_text(props, "productName"),
        description=_text(props, "description") or "",
        time_generated=_optional_time(props.get("timeGenerated"), "alert timeGenerated"),
        tactics=_texts(props.get("tactics")),
        link=_text(props, "alertLink") or None,
    )


_ENTITY_DETAIL_KEYS = (
    "accountName", "ntDomain", "upnSuffix", "hostName", "dnsDomain", "address", "url", "fileName",
    "directory", "algorithm", "value", "commandLine", "processId", "azureID", "appDisplayName",
)  # fmt: skip


def read_entity(data: Any) -> EntityRecord:
    raw = _object(data, "An entity")
    props = _sub(raw, "properties")
    kind = str(raw.get("kind") or "Unknown")
    details = tuple(
        (key, str(props[key])) for key in _ENTITY_DETAIL_KEYS if isinstance(props.get(key), (str, int)) and props[key]
    )
    return EntityRecord(
        name=str(raw.get("name") or ""),
        kind=kind,
        friendly_name=str(props.get("friendlyName") or raw.get("name") or kind),
        details=details,
    )


def read_subscription(data: Any) -> SubscriptionRecord:
    raw = _object(data, "A subscription")
    subscription_id = _text(raw, "subscriptionId") or ""
    if not subscription_id:
        raise SentinelMappingError("A subscription has no subscriptionId.")
    return SubscriptionRecord(
        subscription_id=subscription_id,
        tenant_id=_text(raw, "tenantId"),
        display_name=_text(raw, "displayName") or subscription_id,
        state=_text(raw, "state"),
    )


def _segment_after(arm_id: str, name: str) -> str:
    parts = arm_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name:
            return parts[index + 1]
    return ""


def read_workspace(data: Any) -> WorkspaceRecord:
    raw = _object(data, "A workspace")
    arm_id = _text(raw, "id") or ""
    name = _text(raw, "name") or _segment_after(arm_id, "workspaces")
    group = _segment_after(arm_id, "resourcegroups")
    if not name or not group:
        raise SentinelMappingError("A workspace has no usable id or name.")
    props = _sub(raw, "properties")
    return WorkspaceRecord(
        name=name,
        resource_group=group,
        subscription_id=_segment_after(arm_id, "subscriptions"),
        customer_id=str(props.get("customerId") or "") or None,
        location=_text(raw, "location"),
    )


# -- ids -------------------------------------------------------------------------------------------


def workspace_of(settings: Mapping[str, Any]) -> Workspace:
    """The workspace a client link names (its settings), or why it cannot be used."""
    values = {key: str(settings.get(key) or "").strip() for key in _WORKSPACE_KEYS}
    missing = [label for key, label in _WORKSPACE_KEYS.items() if not values[key] or "/" in values[key]]
    if missing:
        raise SentinelMappingError("This client link does not name its workspace: set " + ", ".join(missing) + ".")
    return Workspace(
        tenant=values["tenant_id"],
        subscription=values["subscription_id"],
        resource_group=values["resource_group"],
        name=values["workspace_name"],
    )


_WORKSPACE_KEYS = {
    "tenant_id": "tenant id",
    "subscription_id": "subscription id",
    "resource_group": "resource group",
    "workspace_name": "workspace name",
}


def split_incident_remote_id(remote_id: str) -> tuple[Workspace, str]:
    parts = remote_id.split("/")
    if len(parts) != 5 or not all(parts):
        raise SentinelMappingError(f"{remote_id[:200]!r} is not a Sentinel incident id.")
    tenant, subscription, group, workspace, name = parts
    return Workspace(tenant, subscription, group, workspace), name


def comment_id(idempotency_key: uuid.UUID) -> str:
    """The comment name socdesk writes under: the outbox key, so a redelivery rewrites the same comment."""
    return str(idempotency_key)


# -- fields ----------------------------------------------------------------------------------------


def summary(incident: IncidentRecord) -> str:
    return incident.title[:MAX_SUMMARY]


def details(incident: IncidentRecord) -> str:
    heading = f"Sentinel incident #{incident.number}" if incident.number is not None else "Sentinel incident"
    lines = [heading, f"Incident id: {incident.name}"]
    if incident.url:
        lines.append(f"Open in Sentinel: {incident.url}")
    if incident.provider_url:
        lines.append(f"Open in {incident.provider_name or 'the provider'}: {incident.provider_url}")
    if incident.description.strip():
        lines += ["", incident.description.strip()]
    return "\n".join(lines)[:MAX_TEXT]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def priority_for(severity: str | None, mappings: Mapping[str, Any]) -> uuid.UUID | None:
    """The socdesk priority a severity maps to; None leaves the ticket type's default."""
    return _uuid(mappings.get(f"priority_{severity}")) if severity else None


def severities_for(priority_id: uuid.UUID | str, mappings: Mapping[str, Any]) -> list[str]:
    """Sentinel severities that map to this priority, most severe first (several may share one)."""
    wanted = _uuid(priority_id)
    return [severity for severity in SEVERITIES if wanted and priority_for(severity, mappings) == wanted]


def status_for(status: str, mappings: Mapping[str, Any]) -> uuid.UUID | None:
    """The open socdesk status an open Sentinel status maps to (None: the ticket type's default)."""
    return _uuid(mappings.get(f"status_{status}"))


OPEN_STATUSES = ("New", "Active")


def sentinel_statuses_for(status_id: uuid.UUID | str, mappings: Mapping[str, Any]) -> list[str]:
    """The open Sentinel statuses mapped to this socdesk status (several may share one)."""
    wanted = _uuid(status_id)
    return [status for status in OPEN_STATUSES if wanted and status_for(status, mappings) == wanted]


def is_closed(incident: IncidentRecord) -> bool:
    return incident.status == "Closed"


def closure_for(incident: IncidentRecord) -> tuple[Classification, ClassificationReason | None]:
    """socdesk's classification of a Sentinel closure (an unknown or missing one is Undetermined)."""
    try:
        classification = Classification(incident.classification or "Undetermined")
    except ValueError:
        return Classification.UNDETERMINED, None
    allowed = ALLOWED_REASONS[classification]
    try:
        reason = ClassificationReason(incident.classification_reason) if incident.classification_reason else None
    except ValueError:
        reason = None
    if reason not in allowed:
        reason = allowed[0] if allowed else None
    return classification, reason


def closure_to_send(
    classification: str | None, reason: str | None, mappings: Mapping[str, Any]
) -> tuple[str, str | None]:
    """The (classification, reason) to close an incident with: the ticket's, else the connection default.

    Sentinel refuses a closure without a classification, and a pair it does not allow: a ticket
    closed without a classification takes the default pair, a reason that does not suit the
    classification takes its first allowed reason.
    """
    if not classification:
        classification = str(mappings.get("default_classification") or Classification.UNDETERMINED.value)
        reason = str(mappings.get("default_reason") or "") or None
    try:
        parsed = Classification(classification)
    except ValueError:
        parsed = Classification.UNDETERMINED
    allowed = [value.value for value in ALLOWED_REASONS[parsed]]
    if reason in allowed:
        return parsed.value, reason
    return parsed.value, (allowed[0] if allowed else None)


def default_pair_problem(mappings: Mapping[str, Any]) -> str | None:
    """Why the connection's default classification and reason are not a pair Sentinel allows."""
    classification, reason = mappings.get("default_classification"), mappings.get("default_reason")
    if not classification:
        return None
    try:
        allowed = ALLOWED_REASONS[Classification(str(classification))]
    except ValueError:
        return "The default classification is not one Sentinel knows."
    if allowed and reason not in {value.value for value in allowed}:
        return f"{classification} needs one of these reasons: {', '.join(value.value for value in allowed)}."
    if not allowed and reason:
        return f"{classification} takes no reason."
    return None


def owner_match(owner: Owner, agents: Iterable[tuple[str, str, uuid.UUID]]) -> uuid.UUID | None:
    """The staff member who owns the incident: by email or UPN first, else by display name.

    ``agents`` are (email, display name, id); comparisons ignore case.
    """
    staff = list(agents)
    addresses = {value.strip().lower() for value in (owner.email, owner.user_principal_name) if value}
    for email, _, agent_id in staff:
        if email.lower() in addresses:
            return agent_id
    if owner.assigned_to:
        wanted = owner.assigned_to.strip().casefold()
        named = [agent_id for _, name, agent_id in staff if name.strip().casefold() == wanted]
        if len(named) == 1:  # two people with the same name: guessing would be worse than nobody
            return named[0]
    return None


def property_value(incident: IncidentRecord, path: str) -> str | None:
    """An incident value by dotted path (``properties.additionalData.tactics``), as text for a custom field."""
    parts = [part for part in path.strip().split(".") if part]
    if parts and parts[0] == "properties":
        parts = parts[1:]
    value: Any = incident.properties
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        match = next((key for key in value if str(key).lower() == part.lower()), None)
        if match is None:
            return None
        value = value[match]
    if value is None or isinstance(value, Mapping):
        return None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if not isinstance(item, (Mapping, list)))
    return str(value)


def comment_count(incident: IncidentRecord) -> int | None:
    """``additionalData.commentsCount`` when Sentinel gave it, else None (unknown: ask)."""
    additional = incident.properties.get("additionalData")
    count = additional.get("commentsCount") if isinstance(additional, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None


def comment_message(body: str) -> str:
    return body if len(body) <= MAX_COMMENT else body[: MAX_COMMENT - len(TRUNCATED)] + TRUNCATED


# -- change detection ------------------------------------------------------------------------------

ASPECTS = ("content", "severity", "status", "owner", "comments")


def incident_fingerprint(incident: IncidentRecord, comments: Sequence[CommentRecord]) -> str:
    """One short hash per aspect the sync applies: only an aspect Sentinel changed is applied again,
    so a priority or status set by staff in socdesk is not overwritten by every new comment."""
    parts = {
        "content": [incident.title, incident.description, incident.number, incident.url],
        "severity": [incident.severity],
        "status": [incident.status, incident.classification, incident.classification_reason],
        "owner": [incident.owner.object_id, incident.owner.email, incident.owner.assigned_to],
        "comments": [[comment.name, comment.message] for comment in comments],
    }
    return aspect_fingerprint({aspect: parts[aspect] for aspect in ASPECTS})


def changed_aspects(previous: str | None, current: str) -> set[str]:
    return links.changed_aspects(previous, current, ASPECTS)

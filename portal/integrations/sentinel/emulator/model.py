"""Azure as the emulator holds it: subscriptions, Log Analytics workspaces with Sentinel on them,
incidents with comments, alerts and entities, and who holds which role on a workspace.

The JSON methods answer in exactly the shapes of Microsoft's published examples; the rules
incidents obey (enums, closing needs an allowed classification pair) are in :func:`check_incident`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from portal.integrations.emulation.app import EmulatedError
from portal.integrations.sentinel.emulator.times import format_ticks

SEVERITIES = ("High", "Medium", "Low", "Informational")
STATUSES = ("New", "Active", "Closed")
CLASSIFICATION_REASONS: dict[str, tuple[str, ...]] = {
    "TruePositive": ("SuspiciousActivity",),
    "BenignPositive": ("SuspiciousButExpected",),
    "FalsePositive": ("IncorrectAlertLogic", "InaccurateData"),
    "Undetermined": (),
}
ALERT_STATUSES = ("Unknown", "New", "Resolved", "Dismissed", "InProgress")
# Built-in roles and what they allow on a workspace's Sentinel data.
ROLES: dict[str, frozenset[str]] = {
    "Microsoft Sentinel Reader": frozenset({"read"}),
    "Microsoft Sentinel Responder": frozenset({"read", "incidents/write", "comments/write"}),
    "Microsoft Sentinel Contributor": frozenset({"read", "incidents/write", "incidents/delete", "comments/write"}),
    "Reader": frozenset({"read"}),
    "Contributor": frozenset({"read", "incidents/write", "incidents/delete", "comments/write"}),
    "Owner": frozenset({"read", "incidents/write", "incidents/delete", "comments/write"}),
}
SENTINEL = "providers/Microsoft.SecurityInsights"


def new_etag(*, quoted: bool = True) -> str:
    value = str(uuid.uuid4())
    return f'"{value}"' if quoted else value


@dataclass
class Subscription:
    id: str
    tenant_id: str
    display_name: str
    state: str = "Enabled"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{self.id}",
            "subscriptionId": self.id,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "state": self.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "tags": {},
        }


@dataclass
class Comment:
    name: str
    message: str
    created: int
    modified: int
    author: dict[str, Any]
    etag: str = field(default_factory=lambda: new_etag(quoted=False))

    def to_json(self, incident_id: str) -> dict[str, Any]:
        return {
            "id": f"{incident_id}/comments/{self.name}",
            "name": self.name,
            "type": "Microsoft.SecurityInsights/incidents/comments",
            "etag": self.etag,
            "properties": {
                "message": self.message,
                "createdTimeUtc": format_ticks(self.created),
                "lastModifiedTimeUtc": format_ticks(self.modified),
                "author": dict(self.author),
            },
        }


@dataclass
class Incident:
    name: str
    number: int
    title: str
    severity: str
    status: str
    created: int
    modified: int
    description: str = ""
    classification: str | None = None
    classification_reason: str | None = None
    classification_comment: str | None = None
    owner: dict[str, Any] | None = None
    labels: list[dict[str, str]] = field(default_factory=list)
    first_activity: int | None = None
    last_activity: int | None = None
    provider_name: str = "Azure Sentinel"
    related_rule_ids: list[str] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)
    provider_incident_url: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # SecurityAlert entities, as listed
    entities: list[dict[str, Any]] = field(default_factory=list)  # as listed
    comments: dict[str, Comment] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)

    def owner_json(self) -> dict[str, Any]:
        if not self.owner:
            return {"objectId": None, "email": None, "assignedTo": None, "userPrincipalName": None}
        return dict(self.owner)

    def to_json(self, workspace: Workspace, *, trigger: bool = False) -> dict[str, Any]:
        """The REST resource; ``trigger``: as an automation rule's payload words it ("Incidents")."""
        incident_id = workspace.incident_id(self.name, capital=trigger)
        properties: dict[str, Any] = {
            "lastModifiedTimeUtc": format_ticks(self.modified),
            "createdTimeUtc": format_ticks(self.created),
        }
        if self.last_activity is not None:
            properties["lastActivityTimeUtc"] = format_ticks(self.last_activity)
        if self.first_activity is not None:
            properties["firstActivityTimeUtc"] = format_ticks(self.first_activity)
        properties |= {"description": self.description, "title": self.title, "owner": self.owner_json()}
        properties["severity"] = self.severity
        for key, value in (
            ("classification", self.classification),
            ("classificationComment", self.classification_comment),
            ("classificationReason", self.classification_reason),
        ):
            if value is not None:
                properties[key] = value
        additional: dict[str, Any] = {
            "alertsCount": len(self.alerts),
            "bookmarksCount": 0,
            "commentsCount": len(self.comments),
            "alertProductNames": sorted({str(a["properties"].get("productName", "")) for a in self.alerts} - {""}),
            "tactics": list(self.tactics),
            "techniques": list(self.techniques),
        }
        if self.provider_incident_url:
            additional["providerIncidentUrl"] = self.provider_incident_url
        properties |= {
            "status": self.status,
            "incidentUrl": f"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{incident_id}",
            "incidentNumber": self.number,
            "labels": [dict(label) for label in self.labels],
            "providerName": self.provider_name,
            "providerIncidentId": str(self.number),
            "relatedAnalyticRuleIds": list(self.related_rule_ids),
            "additionalData": additional,
        }
        if trigger:
            properties["alerts"] = [dict(alert) for alert in self.alerts]
            properties["relatedEntities"] = [dict(entity) for entity in self.entities]
        return {
            "id": incident_id,
            "name": self.name,
            "type": "Microsoft.SecurityInsights/Incidents" if trigger else "Microsoft.SecurityInsights/incidents",
            "etag": self.etag,
            "properties": properties,
        }


@dataclass
class Workspace:
    name: str
    subscription_id: str
    resource_group: str
    customer_id: str
    location: str = "westeurope"
    roles: dict[str, str] = field(default_factory=dict)  # user object id -> role name
    incidents: dict[str, Incident] = field(default_factory=dict)
    last_number: int = 0

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{self.name}"
        )

    def incident_id(self, name: str, *, capital: bool = False) -> str:
        return f"{self.resource_id}/{SENTINEL}/{'Incidents' if capital else 'incidents'}/{name}"

    def entity_id(self, name: str) -> str:
        return f"{self.resource_id}/{SENTINEL}/Entities/{name}"

    def allows(self, object_id: str, action: str) -> bool:
        return action in ROLES.get(self.roles.get(object_id, ""), frozenset())

    def to_json(self) -> dict[str, Any]:
        # Workspace ids come back lower-cased, names as created (as the published example shows).
        return {
            "properties": {
                "customerId": self.customer_id,
                "provisioningState": "Succeeded",
                "sku": {"name": "PerGB2018"},
                "retentionInDays": 90,
                "publicNetworkAccessForQuery": "Enabled",
                "publicNetworkAccessForIngestion": "Enabled",
            },
            "id": (
                f"/subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group.lower()}"
                f"/providers/microsoft.operationalinsights/workspaces/{self.name.lower()}"
            ),
            "name": self.name,
            "type": "Microsoft.OperationalInsights/workspaces",
            "location": self.location,
            "tags": {},
        }


def _choice(properties: dict[str, Any], key: str, choices: tuple[str, ...], *, required: bool) -> str | None:
    value = properties.get(key)
    if value is None:
        if required:
            raise EmulatedError(400, "BadRequest", f"The {key} field is required.")
        return None
    if value not in choices:
        raise EmulatedError(
            400, "BadRequest", f"The value '{value}' is not valid for {key}. Allowed values: {', '.join(choices)}."
        )
    return str(value)


def check_incident(properties: dict[str, Any]) -> dict[str, Any]:
    """The writable properties of an incident PUT, checked as Sentinel checks them (400 otherwise)."""
    title = properties.get("title")
    if not isinstance(title, str) or not title.strip():
        raise EmulatedError(400, "BadRequest", "The title field is required.")
    description = properties.get("description") or ""
    if not isinstance(description, str) or len(description) > 5000:
        raise EmulatedError(400, "BadRequest", "The description must be a string of at most 5000 characters.")
    severity = _choice(properties, "severity", SEVERITIES, required=True)
    status = _choice(properties, "status", STATUSES, required=True)
    classification = _choice(properties, "classification", tuple(CLASSIFICATION_REASONS), required=False)
    reasons = tuple(r for allowed in CLASSIFICATION_REASONS.values() for r in allowed)
    reason = _choice(properties, "classificationReason", reasons, required=False)
    comment = properties.get("classificationComment")
    if comment is not None and not isinstance(comment, str):
        raise EmulatedError(400, "BadRequest", "classificationComment must be a string.")
    if status == "Closed":
        if classification is None:
            raise EmulatedError(400, "BadRequest", "Incident with status 'Closed' must have a classification.")
        allowed = CLASSIFICATION_REASONS[classification]
        if allowed and reason is None:
            raise EmulatedError(400, "BadRequest", f"classification '{classification}' must have classificationReason.")
        if not allowed and reason is not None:
            raise EmulatedError(
                400, "BadRequest", f"classification '{classification}' must not have a classificationReason."
            )
        if allowed and reason not in allowed:
            raise EmulatedError(
                400,
                "BadRequest",
                f"classificationReason '{reason}' is not valid for classification '{classification}'. "
                f"Allowed: {', '.join(allowed)}.",
            )
    else:
        # A classification belongs to a closure: an open incident carries none.
        classification = reason = comment = None
    labels = properties.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, dict) and x.get("labelName") for x in labels):
        raise EmulatedError(400, "BadRequest", "labels must be a list of objects with a labelName.")
    owner = properties.get("owner")
    if owner is not None and not isinstance(owner, dict):
        raise EmulatedError(400, "BadRequest", "owner must be an object.")
    return {
        "title": title.strip(),
        "description": description,
        "severity": severity,
        "status": status,
        "classification": classification,
        "classification_reason": reason,
        "classification_comment": comment,
        # labelType is read-only: labels written through the API are the user's.
        "labels": [{"labelName": str(x["labelName"]), "labelType": "User"} for x in labels],
        "owner": owner,
    }

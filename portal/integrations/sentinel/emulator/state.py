"""Everything the Sentinel emulator knows, and the rules every change obeys.

Changes go through :class:`SentinelState`, whether they come from ARM (a client), the admin
API (a Sentinel analyst) or a test: each bumps the incident's ``lastModifiedTimeUtc`` (comments
included) and its etag, and tells the workspace's Logic App.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.integrations.emulation.app import EmulatedError
from portal.integrations.emulation.clock import EmulatorClock
from portal.integrations.emulation.control import EmulatorControl
from portal.integrations.emulation.faults import FaultRegistry
from portal.integrations.sentinel.emulator.directory import Directory, EntraUser
from portal.integrations.sentinel.emulator.identity import EntraIdentity
from portal.integrations.sentinel.emulator.logicapp import LogicApps, trigger_payload
from portal.integrations.sentinel.emulator.model import (
    ALERT_STATUSES,
    ROLES,
    SEVERITIES,
    Comment,
    Incident,
    Subscription,
    Workspace,
    check_incident,
    new_etag,
)
from portal.integrations.sentinel.emulator.times import format_ticks, parse_ticks, to_ticks

MAX_COMMENTS = 100
MAX_COMMENT_LENGTH = 30_000


@dataclass
class Bucket:
    """ARM's token bucket: ``capacity`` requests, refilled at ``refill`` per second."""

    capacity: float
    refill: float
    tokens: float
    at: datetime

    def take(self, now: datetime) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds to wait when refused)."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, (now - self.at).total_seconds()) * self.refill)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0
        wait = math.ceil((1 - self.tokens) / self.refill) if self.refill > 0 else 3600
        return False, 0, max(1, wait)


@dataclass
class Limits:
    read_capacity: float = 250
    read_refill: float = 25
    write_capacity: float = 200
    write_refill: float = 10


class SentinelState:
    def __init__(self, *, clock: EmulatorClock | None = None, seed: bool = True) -> None:
        # Faults without a path prefix hit ARM only, never the sign-in.
        self.control = EmulatorControl(clock=clock or EmulatorClock(), faults=FaultRegistry(("/subscriptions",)))
        self.directory = Directory()
        self.identity = EntraIdentity(self.control.clock, self.directory)
        self.logic_apps = LogicApps()
        self.subscriptions: dict[str, Subscription] = {}
        self.workspaces: dict[str, Workspace] = {}  # by name, lower case: names are unique in the emulator
        self.limits = Limits()
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self.races: dict[str, int] = {}  # incident name -> API writes still to lose a race (see the admin API)
        self._last_ticks = 0
        self._seed = seed
        if seed:
            self._load_fixtures()

    def _load_fixtures(self) -> None:
        from portal.integrations.sentinel.emulator.fixtures import seed_fixtures

        seed_fixtures(self)

    @property
    def clock(self) -> EmulatorClock:
        return self.control.clock

    @property
    def faults(self) -> FaultRegistry:
        return self.control.faults

    def reset(self) -> None:
        """Back to the seeded data: no faults, tokens, Logic Apps or requests (the clock stays as set)."""
        self.control.reset()
        self.identity.reset()
        self.directory.clear()
        self.logic_apps.reset()
        self.subscriptions.clear()
        self.workspaces.clear()
        self.limits = Limits()
        self._buckets.clear()
        self.races.clear()
        if self._seed:
            self._load_fixtures()

    def now_ticks(self) -> int:
        """Now, with a 7th fractional digit as Sentinel has, never twice the same (changes stay ordered)."""
        ticks = max(to_ticks(self.clock.now()) + 7, self._last_ticks + 1)
        self._last_ticks = ticks
        return ticks

    # -- throttling ------------------------------------------------------------------------------

    def throttle(self, scope: str, actor: str, kind: str) -> tuple[bool, int, int]:
        """Take a token from (scope, actor)'s ``read`` or ``write`` bucket."""
        key = (scope, actor, kind)
        bucket = self._buckets.get(key)
        now = self.clock.now()
        if bucket is None:
            reads = kind == "read"
            capacity = self.limits.read_capacity if reads else self.limits.write_capacity
            refill = self.limits.read_refill if reads else self.limits.write_refill
            bucket = self._buckets[key] = Bucket(capacity, refill, capacity, now)
        return bucket.take(now)

    def set_limits(self, limits: Limits) -> None:
        self.limits = limits
        self._buckets.clear()

    # -- Azure resources -------------------------------------------------------------------------

    def add_subscription(self, tenant_id: str, display_name: str, subscription_id: str | None = None) -> Subscription:
        tenant = self.directory.tenant(tenant_id)
        subscription = Subscription(subscription_id or str(uuid.uuid4()), tenant.id, display_name)
        if subscription.id in self.subscriptions:
            raise EmulatedError(409, "SubscriptionExists", f"Subscription {subscription.id} exists already.")
        self.subscriptions[subscription.id] = subscription
        return subscription

    def add_workspace(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        customer_id: str | None = None,
        location: str = "westeurope",
    ) -> Workspace:
        if subscription_id not in self.subscriptions:
            raise EmulatedError(
                404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
            )
        if not resource_group or not name or name.lower() in self.workspaces:
            raise EmulatedError(400, "InvalidValue", "A workspace needs a resource group and a name not used already.")
        workspace = Workspace(name, subscription_id, resource_group, customer_id or str(uuid.uuid4()), location)
        self.workspaces[name.lower()] = workspace
        return workspace

    def workspace(self, name: str) -> Workspace:
        workspace = self.workspaces.get(name.lower())
        if workspace is None:
            raise EmulatedError(404, "WorkspaceNotFound", f"There is no workspace {name!r}.")
        return workspace

    def tenant_of(self, workspace: Workspace) -> str:
        return self.subscriptions[workspace.subscription_id].tenant_id

    def set_role(self, workspace: Workspace, login: str, role: str | None) -> EntraUser:
        user = self.directory.user(login)
        if user.tenant_id != self.tenant_of(workspace):
            raise EmulatedError(400, "InvalidValue", f"{login} is not in the workspace's tenant.")
        if role is None:
            workspace.roles.pop(user.object_id, None)
        elif role not in ROLES:
            raise EmulatedError(400, "InvalidValue", f"role must be one of {', '.join(ROLES)} (or null).")
        else:
            workspace.roles[user.object_id] = role
        return user

    # -- incidents -------------------------------------------------------------------------------

    def incident(self, workspace: Workspace, name: str) -> Incident:
        incident = workspace.incidents.get(name) or next(
            (i for i in workspace.incidents.values() if i.name.lower() == name.lower()), None
        )
        if incident is None:
            raise EmulatedError(404, "NotFound", f"Incident '{name}' was not found in workspace '{workspace.name}'.")
        return incident

    def resolve_owner(self, workspace: Workspace, owner: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
        """Sentinel fills an owner in from the directory, whichever of objectId, UPN or email was given."""
        if not owner:
            return None
        given = {"userPrincipalName": owner} if isinstance(owner, str) else dict(owner)
        key = next((str(given[k]) for k in ("objectId", "userPrincipalName", "email") if given.get(k)), "")
        user = self.directory.find_user(key) if key else None
        if user is None or user.tenant_id != self.tenant_of(workspace):
            if not given.get("objectId"):
                if not any(given.get(k) for k in ("assignedTo", "userPrincipalName", "email")):
                    return None
                raise EmulatedError(400, "BadRequest", f"The owner '{key}' could not be found in the tenant.")
            return {
                "objectId": given.get("objectId"),
                "email": given.get("email"),
                "assignedTo": given.get("assignedTo"),
                "userPrincipalName": given.get("userPrincipalName"),
                "ownerType": given.get("ownerType", "Unknown"),
            }
        return {
            "objectId": user.object_id,
            "email": user.email,
            "assignedTo": user.display_name,
            "userPrincipalName": user.user_principal_name,
            "ownerType": "User",
        }

    def _apply(self, workspace: Workspace, incident: Incident, checked: Mapping[str, Any]) -> None:
        incident.title = checked["title"]
        incident.description = checked["description"]
        incident.severity = checked["severity"]
        incident.status = checked["status"]
        incident.classification = checked["classification"]
        incident.classification_reason = checked["classification_reason"]
        incident.classification_comment = checked["classification_comment"]
        incident.labels = checked["labels"]
        incident.owner = self.resolve_owner(workspace, checked["owner"])

    def writable(self, incident: Incident) -> dict[str, Any]:
        """The incident's writable properties, as a PUT would send them back unchanged."""
        return {
            "title": incident.title,
            "description": incident.description,
            "severity": incident.severity,
            "status": incident.status,
            "classification": incident.classification,
            "classificationReason": incident.classification_reason,
            "classificationComment": incident.classification_comment,
            "owner": incident.owner,
            "labels": incident.labels,
        }

    def create_incident(
        self,
        workspace: Workspace,
        properties: Mapping[str, Any],
        *,
        name: str | None = None,
        alerts: list[Mapping[str, Any]] | None = None,
        entities: list[Mapping[str, Any]] | None = None,
        created: int | None = None,
        modified: int | None = None,
        from_api: bool = False,
    ) -> Incident:
        checked = check_incident(dict(properties))
        name = name or str(uuid.uuid4())
        if name in workspace.incidents:
            raise EmulatedError(409, "Conflict", f"Incident '{name}' exists already.")
        created = created if created is not None else self.now_ticks()
        workspace.last_number += 1
        incident = Incident(
            name=name,
            number=workspace.last_number,
            title=checked["title"],
            severity=checked["severity"],
            status=checked["status"],
            created=created,
            modified=modified if modified is not None else max(created, self.now_ticks()),
            provider_name=str(properties.get("providerName") or "Azure Sentinel"),
            tactics=[str(t) for t in properties.get("tactics") or []],
            techniques=[str(t) for t in properties.get("techniques") or []],
            related_rule_ids=[str(r) for r in properties.get("relatedAnalyticRuleIds") or []],
            provider_incident_url=properties.get("providerIncidentUrl"),
        )
        self._apply(workspace, incident, checked)
        self._activity(incident, properties)
        for alert in alerts or ():
            self.add_alert(workspace, incident, alert)
        for entity in entities or ():
            self.add_entity(workspace, incident, entity)
        workspace.incidents[name] = incident
        self._announce(workspace, incident, "Create", from_api=from_api)
        return incident

    def _activity(self, incident: Incident, properties: Mapping[str, Any]) -> None:
        for key, attribute in (("firstActivityTimeUtc", "first_activity"), ("lastActivityTimeUtc", "last_activity")):
            value = properties.get(key)
            if value is None:
                continue
            try:
                setattr(incident, attribute, parse_ticks(str(value)))
            except ValueError:
                raise EmulatedError(400, "BadRequest", f"{key} must be an ISO 8601 time.") from None

    def update_incident(
        self,
        workspace: Workspace,
        incident: Incident,
        properties: Mapping[str, Any],
        *,
        from_api: bool = False,
        modified: int | None = None,
    ) -> Incident:
        """Replace the writable properties (a PUT); the admin API merges its changes first."""
        checked = check_incident(dict(properties))
        self._apply(workspace, incident, checked)
        self._activity(incident, properties)
        self.touch(workspace, incident, from_api=from_api, modified=modified)
        return incident

    def race(self, workspace: Workspace, incident: Incident) -> None:
        """If a race is armed for ``incident``, an analyst changes it now (before the API write lands)."""
        if self.races.get(incident.name, 0) > 0:
            self.races[incident.name] -= 1
            self.touch(workspace, incident, from_api=False)

    def touch(self, workspace: Workspace, incident: Incident, *, from_api: bool, modified: int | None = None) -> None:
        incident.modified = modified if modified is not None else self.now_ticks()
        incident.etag = new_etag()
        self._announce(workspace, incident, "Update", from_api=from_api)

    def _announce(self, workspace: Workspace, incident: Incident, event: str, *, from_api: bool) -> None:
        payload = trigger_payload(
            event,
            incident.to_json(workspace, trigger=True),
            subscription=workspace.subscription_id,
            resource_group=workspace.resource_group,
            workspace=workspace.name,
            workspace_id=workspace.customer_id,
        )
        self.logic_apps.emit(workspace.name, payload, from_api=from_api)

    def delete_incident(self, workspace: Workspace, name: str) -> bool:
        incident = workspace.incidents.get(name)
        if incident is None:
            return False
        del workspace.incidents[incident.name]
        return True

    def add_alert(self, workspace: Workspace, incident: Incident, alert: Mapping[str, Any]) -> dict[str, Any]:
        """A SecurityAlert entity from a few fields (display name, severity, product...)."""
        name = str(alert.get("name") or uuid.uuid4())
        severity = str(alert.get("severity") or incident.severity)
        status = str(alert.get("status") or "New")
        if severity not in SEVERITIES or status not in ALERT_STATUSES:
            raise EmulatedError(400, "InvalidValue", "An alert's severity or status is not one Sentinel knows.")
        at = format_ticks(incident.created)
        display = str(alert.get("alertDisplayName") or incident.title)
        entity = {
            "id": workspace.entity_id(name),
            "name": name,
            "type": "Microsoft.SecurityInsights/Entities",
            "kind": "SecurityAlert",
            "properties": {
                "systemAlertId": name,
                "tactics": [str(t) for t in alert.get("tactics") or incident.tactics],
                "alertDisplayName": display,
                "description": str(alert.get("description") or ""),
                "confidenceLevel": "Unknown",
                "severity": severity,
                "vendorName": str(alert.get("vendorName") or "Microsoft"),
                "productName": str(alert.get("productName") or "Azure Sentinel"),
                "alertType": str(alert.get("alertType") or display),
                "processingEndTime": at,
                "status": status,
                "endTimeUtc": at,
                "startTimeUtc": at,
                "timeGenerated": at,
                "compromisedEntity": str(alert.get("compromisedEntity") or ""),
                "resourceIdentifiers": [
                    {
                        "type": "LogAnalytics",
                        "workspaceId": workspace.customer_id,
                        "subscriptionId": workspace.subscription_id,
                        "resourceGroup": workspace.resource_group,
                    }
                ],
                "additionalData": {"AlertMessageEnqueueTime": at},
                "friendlyName": display,
            },
        }
        incident.alerts.append(entity)
        return entity

    def add_entity(self, workspace: Workspace, incident: Incident, entity: Mapping[str, Any]) -> dict[str, Any]:
        kind = str(entity.get("kind") or "")
        properties = dict(entity.get("properties") or {})
        if not kind or not properties.get("friendlyName"):
            raise EmulatedError(400, "InvalidValue", "An entity needs a kind and properties.friendlyName.")
        name = str(entity.get("name") or uuid.uuid4())
        shaped = {
            "id": workspace.entity_id(name),
            "name": name,
            "type": "Microsoft.SecurityInsights/Entities",
            "kind": kind,
            "properties": properties,
        }
        incident.entities.append(shaped)
        return shaped

    # -- comments --------------------------------------------------------------------------------

    def author_of(self, user: EntraUser | None, claims: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if user is not None:
            return {
                "objectId": user.object_id,
                "email": user.email,
                "userPrincipalName": user.user_principal_name,
                "name": user.display_name,
            }
        claims = claims or {}
        return {
            "objectId": claims.get("oid"),
            "email": claims.get("preferred_username"),
            "userPrincipalName": claims.get("preferred_username"),
            "name": claims.get("name"),
        }

    def put_comment(
        self,
        workspace: Workspace,
        incident: Incident,
        comment_id: str,
        message: Any,
        author: dict[str, Any],
        *,
        created: int | None = None,
        from_api: bool = False,
    ) -> tuple[Comment, bool]:
        """Create (True) or update (False) a comment with a client-chosen id."""
        if not isinstance(message, str) or not message.strip():
            raise EmulatedError(400, "BadRequest", "The message field is required.")
        if len(message) > MAX_COMMENT_LENGTH:
            raise EmulatedError(
                400, "BadRequest", f"The comment is too long: at most {MAX_COMMENT_LENGTH} characters are allowed."
            )
        existing = incident.comments.get(comment_id)
        now = created if created is not None else self.now_ticks()
        if existing is not None:
            existing.message = message
            existing.modified = now
            existing.etag = new_etag(quoted=False)
            comment, made = existing, False
        else:
            if len(incident.comments) >= MAX_COMMENTS:
                raise EmulatedError(
                    400, "BadRequest", f"An incident can have at most {MAX_COMMENTS} comments; this one has them."
                )
            comment = Comment(comment_id, message, now, now, author)
            incident.comments[comment_id] = comment
            made = True
        # A comment is a change of the incident: a poll on lastModifiedTimeUtc must see it.
        self.touch(workspace, incident, from_api=from_api, modified=max(now, incident.modified))
        return comment, made

    def delete_comment(self, workspace: Workspace, incident: Incident, comment_id: str) -> bool:
        if incident.comments.pop(comment_id, None) is None:
            return False
        self.touch(workspace, incident, from_api=True)
        return True

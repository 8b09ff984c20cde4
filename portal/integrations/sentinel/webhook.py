"""Reading the Logic App's webhook: a Sentinel automation rule runs a playbook whose HTTP action
posts the incident trigger body (``@triggerBody()``) here, with the connection's secret in a header.

A Logic App cannot sign a body, so the secret itself is the credential: compared in constant
time, never logged. The payload is only a hint: the worker GETs the incident (authoritative,
with a fresh etag), so a delivery names the incident and its workspace and nothing else is
trusted. The delivery id is the trigger's ``eventUniqueId`` (a Logic App retry sends the same
one), else the incident and its change time, so redeliveries are dropped by the framework.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from portal.integrations.base import ConnectionView, WebhookReading, WebhookWork
from portal.integrations.sentinel.manifest import workspace_scope

SECRET_HEADERS = ("x-portal-signature", "x-socdesk-signature")
EVENT_TYPES = frozenset({"create", "update"})


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for key, value in headers.items():
        if key.lower() in names:
            return value
    return None


def _key(data: Mapping[str, Any], name: str) -> Any:
    """A key looked up case-insensitively (Logic App templates and real payloads disagree on casing)."""
    wanted = name.lower()
    return next((value for key, value in data.items() if str(key).lower() == wanted), None)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _segment_after(arm_id: str, name: str) -> str:
    parts = arm_id.strip("/").split("/")
    return next((parts[i + 1] for i, part in enumerate(parts[:-1]) if part.lower() == name), "")


def _workspace(event: Mapping[str, Any], incident_id: str) -> tuple[str, str, str]:
    info = _mapping(_key(event, "workspaceInfo"))
    subscription = str(_key(info, "SubscriptionId") or _segment_after(incident_id, "subscriptions"))
    group = str(_key(info, "ResourceGroupName") or _segment_after(incident_id, "resourcegroups"))
    name = str(_key(info, "WorkspaceName") or _segment_after(incident_id, "workspaces"))
    return subscription, group, name


def read_webhook(connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookReading:
    body_id = "sha256:" + hashlib.sha256(body).hexdigest()
    secret = connection.secrets.get("webhook_secret")
    if not isinstance(secret, str) or not secret:
        return WebhookReading(valid=False, delivery_id=body_id, detail="No webhook secret is set for this connection.")
    given = _header(headers, SECRET_HEADERS)
    if not given:
        return WebhookReading(
            valid=False, delivery_id=body_id, detail="The X-Portal-Signature header (the webhook secret) is missing."
        )
    if not hmac.compare_digest(given.strip().encode(), secret.encode()):
        return WebhookReading(valid=False, delivery_id=body_id, detail="The webhook secret does not match.")
    try:
        event = json.loads(body)
    except ValueError:
        return WebhookReading(valid=False, delivery_id=body_id, detail="The body is not JSON.")
    if not isinstance(event, dict):
        return WebhookReading(valid=False, delivery_id=body_id, detail="The body is not a JSON object.")
    schema = str(_key(event, "objectSchemaType") or "Incident")
    kind = str(_key(event, "objectEventType") or "").lower()
    incident = _mapping(_key(event, "object"))
    name, incident_id = _key(incident, "name"), str(_key(incident, "id") or "")
    properties = _mapping(_key(incident, "properties"))
    unique = _key(event, "eventUniqueId")
    modified = _key(properties, "lastModifiedTimeUtc") or _key(incident, "etag") or ""
    delivery_id = f"event:{unique}"[:200] if isinstance(unique, str) and unique else f"incident:{name}:{modified}"[:200]
    if schema.lower() != "incident":
        return WebhookReading(valid=True, delivery_id=delivery_id, detail=f"A {schema[:40]!r} event needs no sync.")
    if kind and kind not in EVENT_TYPES:
        return WebhookReading(valid=True, delivery_id=delivery_id, detail=f"Event type {kind[:40]!r} needs no sync.")
    if not isinstance(name, str) or not name or "/" in name:
        return WebhookReading(
            valid=False, delivery_id=body_id, detail="The payload names no incident (object.name is missing)."
        )
    subscription, group, workspace_name = _workspace(event, incident_id)
    if not subscription or not group or not workspace_name:
        return WebhookReading(
            valid=False, delivery_id=body_id, detail="The payload does not say which workspace the incident is in."
        )
    # The link is found by its workspace; the link's own tenant completes the incident's remote id
    # (the payload does not name the tenant).
    work = WebhookWork(
        entity="incidents", remote_id=name, remote_scope=workspace_scope(subscription, group, workspace_name)
    )
    return WebhookReading(valid=True, delivery_id=delivery_id, work=[work])

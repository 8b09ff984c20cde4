"""Reading Acme's webhooks: verify the signature, then say which case to sync.

``X-Acme-Signature: t=<unix seconds>,v1=<hex>`` where the hex is HMAC-SHA256 over
``"<t>.<raw body>"`` with the connection's webhook secret. Deliveries older or newer than five
minutes are refused (a captured request cannot be replayed later); several ``v1`` values are
allowed, so Acme can sign with an old and a new secret while one is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from portal.integrations.acme import mapping
from portal.integrations.base import ConnectionView, WebhookReading, WebhookWork

SIGNATURE_HEADER = "x-acme-signature"
TOLERANCE_SECONDS = 300
EVENT_TYPES = frozenset({"case.created", "case.updated"})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.lower())
    return (timestamp, signatures) if timestamp is not None and signatures else None


def signature_problem(secret: str, header: str | None, body: bytes, now: datetime) -> str | None:
    """Why the delivery cannot be trusted, or None when it can."""
    if not header:
        return "The X-Acme-Signature header is missing."
    parsed = _parse(header)
    if parsed is None:
        return "The X-Acme-Signature header is malformed."
    timestamp, signatures = parsed
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        return "The signature timestamp is more than five minutes away from now (a replay, or a wrong clock)."
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        return "The signature does not match (wrong webhook secret, or the body was altered)."
    return None


def _delivery_id(event: Any, body: bytes) -> str:
    if isinstance(event, dict) and isinstance(event.get("eventId"), str) and event["eventId"]:
        return str(event["eventId"])[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def read_webhook(connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookReading:
    body_id = _delivery_id(None, body)
    secret = connection.secrets.get("webhook_secret")
    if not isinstance(secret, str) or not secret:
        return WebhookReading(valid=False, delivery_id=body_id, detail="No webhook secret is set for this connection.")
    problem = signature_problem(secret, _header(headers, SIGNATURE_HEADER), body, now)
    if problem:
        return WebhookReading(valid=False, delivery_id=body_id, detail=problem)
    try:
        event = json.loads(body)
    except ValueError:
        return WebhookReading(valid=False, delivery_id=body_id, detail="The body is not JSON.")
    delivery_id = _delivery_id(event, body)
    if not isinstance(event, dict):
        return WebhookReading(valid=False, delivery_id=delivery_id, detail="The body is not a JSON object.")
    tenant, case_id, kind = event.get("tenant"), event.get("caseId"), event.get("type")
    if kind not in EVENT_TYPES:
        return WebhookReading(valid=True, delivery_id=delivery_id, detail=f"Event type {kind!r} needs no sync.")
    if not isinstance(tenant, str) or not tenant or not isinstance(case_id, str) or not case_id or "/" in tenant:
        return WebhookReading(valid=False, delivery_id=delivery_id, detail="The event names no tenant or case.")
    work = WebhookWork(entity="cases", remote_id=mapping.case_remote_id(tenant, case_id), remote_scope=tenant)
    return WebhookReading(valid=True, delivery_id=delivery_id, work=[work])

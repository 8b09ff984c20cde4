"""Acme's outbound webhooks: an event per case change, POSTed signed to the configured URL.

Signature: ``X-Acme-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with
the webhook secret. The timestamp is real time, not the emulator clock: it guards the delivery
(replay window), while ``occurredAt`` in the body is the case's own (emulated) change time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Acme-Signature"


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Acme-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def build_event(
    tenant: str, case_id: str, event_type: str, occurred_at: datetime, event_id: str | None = None
) -> dict[str, str]:
    return {
        "eventId": event_id or str(uuid.uuid4()),
        "type": event_type,
        "tenant": tenant,
        "caseId": case_id,
        "occurredAt": occurred_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def encode_event(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def signed_request(secret: str, event: dict[str, Any], timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the POST that delivers ``event``: what a test sends to socdesk by hand."""
    body = encode_event(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Acme-Webhooks/1.0",
        SIGNATURE_HEADER: sign_webhook(secret, body, int(time.time()) if timestamp is None else timestamp),
    }
    return body, headers


@dataclass(frozen=True)
class WebhookDelivery:
    event_id: str
    status: int | None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"eventId": self.event_id, "status": self.status, "error": self.error}


class WebhookEmitter:
    """Collects events while a webhook URL is configured; :meth:`flush` delivers them.

    The emulator's routes flush in a background task after answering. ``transport`` lets a test
    deliver into an in-process app (``httpx.ASGITransport``) instead of over the network.
    """

    def __init__(self) -> None:
        self.url: str | None = None
        self.secret: str | None = None
        self.transport: httpx.AsyncBaseTransport | None = None
        self.pending: list[dict[str, str]] = []
        self.deliveries: list[WebhookDelivery] = []

    def reset(self) -> None:
        self.url = self.secret = None
        self.transport = None
        self.pending.clear()
        self.deliveries.clear()

    def emit(self, event: dict[str, str]) -> None:
        if self.url and self.secret:  # nobody subscribed: the event goes nowhere, as at a real vendor
            self.pending.append(event)

    async def flush(self) -> list[WebhookDelivery]:
        url, secret = self.url, self.secret
        events, self.pending = self.pending, []
        if not url or not secret or not events:
            return []
        sent: list[WebhookDelivery] = []
        async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
            for event in events:
                body, headers = signed_request(secret, event)
                try:
                    response = await client.post(url, content=body, headers=headers)
                    delivery = WebhookDelivery(event["eventId"], response.status_code)
                except httpx.HTTPError as exc:
                    log.warning("webhook delivery to %s failed: %s", url, exc)
                    delivery = WebhookDelivery(event["eventId"], None, type(exc).__name__)
                sent.append(delivery)
        self.deliveries = [*self.deliveries, *sent][-200:]
        return sent

"""Microsoft Sentinel as a socdesk vendor: what the sync engine, the outbox relay and webhooks call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.integrations.base import (
    ConnectionCheck,
    ConnectionView,
    Delivered,
    EntityHandler,
    OutboundChange,
    TokenSource,
    WebhookReading,
)
from portal.integrations.errors import InvalidRequest, VendorError
from portal.integrations.http import Credentials, VendorHttp
from portal.integrations.manifest import Manifest
from portal.integrations.sentinel import mapping, webhook
from portal.integrations.sentinel.api import SentinelApi, TenantCredentials, signed_in_tenants
from portal.integrations.sentinel.incidents import IncidentsHandler
from portal.integrations.sentinel.manifest import MANIFEST, SEVERITIES, default_arm_base
from portal.integrations.sentinel.mapping import SentinelMappingError

Change = Callable[[dict[str, Any]], dict[str, Any] | None]


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def close_change(classification: str, reason: str | None, comment: str) -> Change:
    def change(properties: dict[str, Any]) -> dict[str, Any] | None:
        if (
            properties.get("status") == "Closed"
            and properties.get("classification") == classification
            and properties.get("classificationReason") == reason
        ):
            return None  # closed like this already (a redelivery, or closed in Sentinel the same way)
        properties.update(status="Closed", classification=classification, classificationComment=comment)
        if reason:
            properties["classificationReason"] = reason
        else:
            properties.pop("classificationReason", None)
        return properties

    return change


def reopen_change(properties: dict[str, Any]) -> dict[str, Any] | None:
    if properties.get("status") != "Closed":
        return None
    properties["status"] = "Active"
    for key in ("classification", "classificationReason", "classificationComment"):
        properties.pop(key, None)
    return properties


def severity_change(severities: list[str]) -> Change:
    def change(properties: dict[str, Any]) -> dict[str, Any] | None:
        if properties.get("severity") in severities:  # several severities may share one priority
            return None
        properties["severity"] = severities[0]
        return properties

    return change


def status_change(statuses: list[str]) -> Change:
    def change(properties: dict[str, Any]) -> dict[str, Any] | None:
        # A closed incident is reopened by the reopen change only: a status move never undoes a closure.
        if properties.get("status") == "Closed" or properties.get("status") in statuses:
            return None
        properties["status"] = statuses[0]
        return properties

    return change


class SentinelVendor:
    manifest: Manifest = MANIFEST
    entities: Mapping[str, EntityHandler] = {"incidents": IncidentsHandler()}

    def base_url(self, connection: ConnectionView) -> str:
        return str(connection.config.get("arm_url") or default_arm_base(str(connection.config.get("cloud") or "")))

    def credentials(self, connection: ConnectionView, tokens: TokenSource) -> Credentials:
        return TenantCredentials(connection, tokens)

    def client(self, http: VendorHttp, connection: ConnectionView) -> SentinelApi:
        return SentinelApi(http=http, connection=connection)

    async def check(self, api: SentinelApi, connection: ConnectionView) -> ConnectionCheck:
        tenants = signed_in_tenants(connection.secrets)
        if not tenants:
            return ConnectionCheck(ok=False, message="No customer tenant is signed in yet: sign in with Microsoft.")
        seen: list[str] = []
        problems: list[str] = []
        for tenant in tenants:
            try:
                subscriptions = await api.tenant(tenant).list_subscriptions()
            except VendorError as exc:
                problems.append(f"tenant {tenant}: {exc.describe()}")
                continue
            seen.append(f"{tenant} ({len(subscriptions)} subscription{'' if len(subscriptions) == 1 else 's'})")
        if problems:
            return ConnectionCheck(ok=False, message="Azure refused: " + "; ".join(problems))
        return ConnectionCheck(
            ok=True, message="Signed in to Azure for " + ", ".join(seen) + ".", details={"tenants": ", ".join(tenants)}
        )

    async def deliver(self, api: SentinelApi, session: AsyncSession, change: OutboundChange) -> Delivered:
        """Send one ticket change to its incident. Every branch is safe to repeat (the relay is at-least-once)."""
        if change.remote_type != mapping.INCIDENT:
            raise InvalidRequest(f"Sentinel cannot apply a change to a {change.remote_type!r}.")
        try:
            workspace, name = mapping.split_incident_remote_id(change.remote_id)
        except SentinelMappingError as exc:
            raise InvalidRequest(str(exc)) from None
        client, payload, mappings = api.tenant(workspace.tenant), change.payload, api.connection.mappings

        if change.operation == "comment":
            body = _text(payload.get("body"))
            if not body:
                raise InvalidRequest("An empty comment cannot be sent.")
            author = _text(payload.get("author"))
            message = mapping.comment_message(f"{body}\n\n— {author} (socdesk)" if author else body)
            comment_id = mapping.comment_id(change.idempotency_key)  # a redelivery rewrites the same comment
            await client.put_comment(workspace, name, comment_id, message, ticket_id=change.ticket_id)
            return Delivered(produced_remote_type=mapping.COMMENT, produced_remote_id=comment_id)

        if change.operation == "close":
            classification, reason = mapping.closure_to_send(
                _text(payload.get("classification")) or None, _text(payload.get("reason")) or None, mappings
            )
            comment = _text(payload.get("note")) or "Closed in socdesk."
            await client.update_incident(
                workspace, name, close_change(classification, reason, comment[:4000]), ticket_id=change.ticket_id
            )
            return Delivered()

        if change.operation == "reopen":
            await client.update_incident(workspace, name, reopen_change, ticket_id=change.ticket_id)
            return Delivered()

        if change.operation == "priority":
            severities = mapping.severities_for(_text(payload.get("priority_id")), mappings)
            if not severities:
                return Delivered()  # no Sentinel severity maps to that priority: nothing to tell Sentinel
            await client.update_incident(workspace, name, severity_change(severities), ticket_id=change.ticket_id)
            return Delivered()

        if change.operation == "status":
            # Closures travel as "close"; a status no open Sentinel status maps to tells Sentinel nothing.
            wanted = _text(payload.get("status_id"))
            statuses = [] if payload.get("closed") else mapping.sentinel_statuses_for(wanted, mappings)
            if statuses:
                await client.update_incident(workspace, name, status_change(statuses), ticket_id=change.ticket_id)
            return Delivered()

        if change.operation == "create":
            severity = _text(payload.get("severity"))
            properties = {
                "title": _text(payload.get("title"))[:500] or "Incident from socdesk",
                "description": _text(payload.get("description"))[:5000],
                "severity": severity if severity in SEVERITIES else "Medium",
                "status": "New",
            }
            await client.create_incident(workspace, name, properties, ticket_id=change.ticket_id)
            return Delivered()

        raise InvalidRequest(f"Sentinel does not take {change.operation!r} changes.")

    def read_webhook(
        self, connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookReading:
        return webhook.read_webhook(connection, headers, body, now)

"""Acme Cases as a socdesk vendor: what the sync engine, the outbox relay and webhooks call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.integrations.acme import mapping, webhook
from portal.integrations.acme.cases import AcmeApi, CasesHandler
from portal.integrations.acme.client import AcmeClient
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.acme.mapping import CaseMappingError
from portal.integrations.base import (
    ConnectionCheck,
    ConnectionView,
    Delivered,
    EntityHandler,
    OutboundChange,
    TokenSource,
    WebhookReading,
)
from portal.integrations.errors import InvalidRequest
from portal.integrations.http import Credentials, VendorHttp
from portal.integrations.manifest import Manifest


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


class AcmeVendor:
    manifest: Manifest = MANIFEST
    entities: Mapping[str, EntityHandler] = {"cases": CasesHandler()}

    def base_url(self, connection: ConnectionView) -> str:
        return str(connection.config.get("api_url") or "")

    def credentials(self, connection: ConnectionView, tokens: TokenSource) -> Credentials:
        return tokens.credentials(connection, MANIFEST)

    def client(self, http: VendorHttp, connection: ConnectionView) -> AcmeApi:
        return AcmeApi(client=AcmeClient(http), connection=connection)

    async def check(self, api: AcmeApi, connection: ConnectionView) -> ConnectionCheck:
        me = await api.client.me()
        tenants = await api.client.list_tenants()
        user = _text(me.get("user")) or "an unnamed user"
        names = [_text(tenant.get("name")) or _text(tenant.get("id")) for tenant in tenants]
        if not names:
            return ConnectionCheck(ok=True, message=f"Signed in to Acme as {user}, who sees no tenants yet.")
        return ConnectionCheck(
            ok=True,
            message=f"Signed in to Acme as {user}; tenants: {', '.join(names)}.",
            details={"user": user, "tenants": ", ".join(_text(tenant.get("id")) for tenant in tenants)},
        )

    async def deliver(self, api: AcmeApi, session: AsyncSession, change: OutboundChange) -> Delivered:
        """Send one ticket change to its case. Every branch is safe to repeat (the relay is at-least-once)."""
        if change.remote_type != mapping.CASE:
            raise InvalidRequest(f"Acme cannot apply a change to a {change.remote_type!r}.")
        try:
            tenant, case_id = mapping.split_case_remote_id(change.remote_id)
        except CaseMappingError as exc:
            raise InvalidRequest(str(exc)) from None
        client, payload = api.client, change.payload

        if change.operation == "comment":
            body = _text(payload.get("body"))
            if not body:
                raise InvalidRequest("An empty comment cannot be sent.")
            comment_id = str(change.idempotency_key)  # a redelivery writes the same comment, not a second one
            await client.put_comment(
                tenant, case_id, comment_id, body, _text(payload.get("author")) or "socdesk",
                ticket_id=change.ticket_id,
            )  # fmt: skip
            return Delivered(produced_remote_type=mapping.COMMENT, produced_remote_id=comment_id)

        if change.operation == "close":
            changes = {
                "status": "closed",
                "classification": mapping.acme_classification(payload.get("classification")),
                "closingNote": _text(payload.get("note")) or None,
            }
            await client.update_case(tenant, case_id, changes, ticket_id=change.ticket_id)
            return Delivered()

        if change.operation == "reopen":
            case = await client.get_case(tenant, case_id)
            if case.get("status") == "closed":
                await client.update_case(
                    tenant, case_id, {"status": "active"}, etag=case.get("etag"), ticket_id=change.ticket_id
                )
            return Delivered()

        if change.operation == "priority":
            severities = self._severities(payload, api.connection.mappings)
            if not severities:
                return Delivered()  # no Acme severity maps to that priority: nothing to say to Acme
            case = await client.get_case(tenant, case_id)
            if case.get("severity") not in severities:  # several severities may share a priority
                await client.update_case(
                    tenant, case_id, {"severity": severities[0]}, etag=case.get("etag"), ticket_id=change.ticket_id
                )
            return Delivered()

        raise InvalidRequest(f"Acme does not take {change.operation!r} changes.")

    @staticmethod
    def _severities(payload: Mapping[str, Any], mappings: Mapping[str, Any]) -> list[str]:
        severity = payload.get("severity")
        if severity in mapping.SEVERITIES:
            return [str(severity)]
        if payload.get("priority_id"):
            return mapping.severities_for(str(payload["priority_id"]), mappings)
        return []

    def read_webhook(
        self, connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookReading:
        return webhook.read_webhook(connection, headers, body, now)

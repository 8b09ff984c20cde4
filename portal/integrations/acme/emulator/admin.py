"""Acme's own admin routes: act as an Acme user (tenants, cases, comments) and set up webhooks.

Changes made here behave like changes made in Acme's console: they bump ``modifiedAt`` (or set
it explicitly, to play a case that the search index only shows late) and send webhook events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from portal.integrations.acme.emulator.api import base_url, text_field, written
from portal.integrations.acme.emulator.state import ADMIN_FIELDS, AcmeError, AcmeState
from portal.integrations.emulation.admin import json_object, parse_time

CASE_CREATE_FIELDS = {"tenant", "id", "createdAt", "modifiedAt"} | ADMIN_FIELDS


def acme_admin_handlers(state: AcmeState) -> Sequence[ControllerRouterHandler]:
    """Handlers to mount under ``/_emulator`` beside the shared ones."""

    @post("/tenants")
    async def create_tenant(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        tenant = state.create_tenant(text_field(data, "id"), str(data.get("name") or ""))
        return Response(tenant.to_json(), status_code=201)

    @post("/cases")
    async def upsert_case(request: Request[Any, Any, Any]) -> Response[Any]:
        """Create a case (no ``id``, or an unknown one) or change an existing one, as an Acme user."""
        data = await json_object(request)
        unknown = set(data) - CASE_CREATE_FIELDS
        if unknown:
            raise AcmeError(400, "InvalidField", f"Unknown fields: {', '.join(sorted(unknown))}.")
        modified_at = parse_time(data["modifiedAt"], "modifiedAt") if data.get("modifiedAt") else None
        case_id = data.get("id")
        if case_id and case_id in state.cases:
            case = state.case(str(case_id), data.get("tenant"))
            changes = {key: value for key, value in data.items() if key in ADMIN_FIELDS}
            state.update_case(case, changes, modified_at=modified_at)
            return written(state, case.to_json(base_url(request)), 200)
        case = state.create_case(
            text_field(data, "tenant"),
            title=text_field(data, "title"),
            description=str(data.get("description") or ""),
            severity=str(data.get("severity") or "medium"),
            status=str(data.get("status") or "new"),
            classification=data.get("classification"),
            assignee=data.get("assignee"),
            case_id=str(case_id) if case_id else None,
            created_at=parse_time(data["createdAt"], "createdAt") if data.get("createdAt") else None,
            modified_at=modified_at,
        )
        return written(state, case.to_json(base_url(request)), 201)

    @post("/cases/{case_id:str}/comments")
    async def add_comment(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Response[Any]:
        data = await json_object(request)
        comment, created = state.add_comment(
            state.case(case_id, data.get("tenant")),
            body=text_field(data, "body"),
            author=str(data.get("author") or "analyst@acme.test"),
            comment_id=str(data["id"]) if data.get("id") else None,
            created_at=parse_time(data["createdAt"], "createdAt") if data.get("createdAt") else None,
        )
        return written(state, comment.to_json(), 201 if created else 200)

    @get("/webhook", sync_to_thread=False)
    def webhook() -> dict[str, Any]:
        return {
            "url": state.webhooks.url,
            "secretSet": bool(state.webhooks.secret),
            "pending": len(state.webhooks.pending),
            "deliveries": [delivery.to_json() for delivery in state.webhooks.deliveries],
        }

    @post("/webhook", status_code=200)
    async def set_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
        data = await json_object(request)
        state.webhooks.url = text_field(data, "url")
        state.webhooks.secret = text_field(data, "secret")
        return {"url": state.webhooks.url, "secretSet": True}

    @delete("/webhook", sync_to_thread=False)
    def clear_webhook() -> None:
        state.webhooks.url = state.webhooks.secret = None
        state.webhooks.pending.clear()

    @post("/webhook/flush", status_code=200)
    async def flush_webhooks() -> dict[str, Any]:
        return {"value": [delivery.to_json() for delivery in await state.webhooks.flush()]}

    return [create_tenant, upsert_case, add_comment, webhook, set_webhook, clear_webhook, flush_webhooks]

"""The console's own admin routes (under ``/_emulator``): act as its administrators and analysts.

- ``GET /console``: the console's name, counts and tokens.
- ``POST /accounts`` ``{name, id?, accountType?, usageType?, totalLicenses?, externalId?}``;
  ``POST /sites`` ``{accountId, name, id?, siteType?, isDefault?, totalLicenses?, externalId?}``.
- ``POST /agents`` ``{siteId, <agent fields>...}``; ``GET /agents/{id}``; ``PATCH /agents/{id}`` ``{<agent fields>}``
  (``siteId`` moves it); ``DELETE /agents/{id}?mode=decommission|remove`` (decommission keeps it
  listed with ``isDecommissioned: true``; remove purges it from the console).
- ``POST /threats`` ``{agentId, threatName?, classification?, confidenceLevel?, incidentStatus?,
  analystVerdict?, mitigationStatus?, filePath?, createdAt?, updatedAt?, ...}``;
  ``PATCH /threats/{id}`` ``{incidentStatus?, analystVerdict?, mitigationStatus?, updatedAt?}``;
  ``POST /threats/{id}/notes`` ``{text, by?}``; ``GET /threats/{id}``: the threat with its notes.
- ``POST /alerts`` ``{agentId, ruleName?, severity?, ...}``; ``PATCH /alerts/{id}``
  ``{incidentStatus?, analystVerdict?}`` (lowercase, as in API write bodies); ``GET /alerts/{id}``.
- ``GET /tokens``; ``POST /tokens`` ``{user, kind?, scope?, scopeIds?, role?, permissions?,
  expiresAt? | expiresInDays?, token?, introspectable?}``; ``PATCH /tokens/{userId}``
  ``{expiresAt?, role?, permissions?}``; ``POST /tokens/{userId}/expire`` | ``/revoke`` | ``/regenerate``.

Changes made here behave like changes made in the console: they move ``updatedAt``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler

from portal.integrations.emulation.admin import json_object, parse_time
from portal.integrations.sentinelone.emulator.errors import invalid
from portal.integrations.sentinelone.emulator.records import agent_json, alert_json, threat_json
from portal.integrations.sentinelone.emulator.state import ROLES, ApiUser, S1State, iso


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{key}: must be a non-empty string.")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _text(data, key)


def token_json(state: S1State, user: ApiUser) -> dict[str, Any]:
    return {
        "userId": user.id,
        "user": user.full_name,
        "email": user.email,
        "kind": user.kind,
        "scope": user.scope,
        "scopeIds": list(user.scope_ids),
        "role": user.role,
        "permissions": list(user.permissions),
        "token": user.token,  # a local emulator's tokens guard nothing real; tests and the demo need them
        "createdAt": iso(user.token_created_at),
        "expiresAt": iso(user.token_expires_at),
        "revoked": user.revoked,
        "valid": user.valid_at(state.now()),
        "introspectable": user.introspectable,
    }


def s1_admin_handlers(state: S1State) -> Sequence[ControllerRouterHandler]:
    """Handlers to mount under ``/_emulator`` beside the kit's shared ones."""

    @get("/console", sync_to_thread=False)
    def console() -> dict[str, Any]:
        return {
            "console": state.console,
            "name": state.name,
            "accounts": len(state.accounts),
            "sites": len(state.sites),
            "agents": len(state.agents),
            "threats": len(state.threats),
            "alerts": len(state.alerts),
            "tokens": [token_json(state, user) for user in state.users.values()],
        }

    @post("/accounts")
    async def create_account(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        account = state.create_account(
            _text(data, "name"),
            account_id=_optional_text(data, "id"),
            account_type=str(data.get("accountType") or "Paid"),
            usage_type=str(data.get("usageType") or "customer"),
            total_licenses=int(data.get("totalLicenses") or 0),
            external_id=_optional_text(data, "externalId"),
        )
        return Response({"data": state.account_json(account)}, status_code=201)

    @post("/sites")
    async def create_site(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        site = state.create_site(
            _text(data, "accountId"),
            _text(data, "name"),
            site_id=_optional_text(data, "id"),
            site_type=str(data.get("siteType") or "Paid"),
            is_default=bool(data.get("isDefault", False)),
            total_licenses=int(data.get("totalLicenses") or 0),
            external_id=_optional_text(data, "externalId"),
        )
        return Response({"data": state.site_json(site)}, status_code=201)

    @post("/agents")
    async def add_agent(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        site_id = _text(data, "siteId")
        agent = state.add_agent(site_id, {key: value for key, value in data.items() if key != "siteId"})
        return Response({"data": agent_json(agent)}, status_code=201)

    @get("/agents/{agent_id:str}", sync_to_thread=False)
    def read_agent(agent_id: FromPath[str]) -> dict[str, Any]:
        return {"data": agent_json(state.agent(agent_id))}

    @patch("/agents/{agent_id:str}")
    async def update_agent(request: Request[Any, Any, Any], agent_id: FromPath[str]) -> dict[str, Any]:
        return {"data": agent_json(state.update_agent(agent_id, await json_object(request)))}

    @delete("/agents/{agent_id:str}", status_code=200, sync_to_thread=False)
    def delete_agent(agent_id: FromPath[str], mode: FromQuery[str] = "decommission") -> dict[str, Any]:
        if mode == "remove":
            state.remove_agent(agent_id)
            return {"data": {"removed": agent_id}}
        if mode != "decommission":
            raise invalid("mode: decommission or remove.")
        return {"data": agent_json(state.decommission_agent(agent_id))}

    @post("/threats")
    async def raise_threat(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        agent_id = _text(data, "agentId")
        threat = state.raise_threat(agent_id, {key: value for key, value in data.items() if key != "agentId"})
        return Response({"data": threat_json(state, threat)}, status_code=201)

    @get("/threats/{threat_id:str}", sync_to_thread=False)
    def read_threat(threat_id: FromPath[str]) -> dict[str, Any]:
        threat = state.threat(threat_id)
        notes = sorted(threat.notes.values(), key=lambda note: (note.created_at, int(note.id)))
        return {"data": threat_json(state, threat), "notes": [note.to_json() for note in notes]}

    @patch("/threats/{threat_id:str}")
    async def change_threat(request: Request[Any, Any, Any], threat_id: FromPath[str]) -> dict[str, Any]:
        data = await json_object(request)
        unknown = set(data) - {"incidentStatus", "analystVerdict", "mitigationStatus", "updatedAt"}
        if unknown:
            raise invalid(f"{', '.join(sorted(unknown))}: cannot be changed here.")
        threat = state.threat(threat_id)
        state.set_threat(
            threat,
            incident_status=data.get("incidentStatus"),
            analyst_verdict=data.get("analystVerdict"),
            mitigation_status=data.get("mitigationStatus"),
            at=parse_time(data["updatedAt"], "updatedAt") if data.get("updatedAt") else None,
        )
        return {"data": threat_json(state, threat)}

    @post("/threats/{threat_id:str}/notes")
    async def add_note(request: Request[Any, Any, Any], threat_id: FromPath[str]) -> Response[Any]:
        data = await json_object(request)
        note = state.add_note(state.threat(threat_id), _text(data, "text"), by=str(data.get("by") or ""))
        return Response({"data": note.to_json()}, status_code=201)

    @post("/alerts")
    async def raise_alert(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        agent_id = _text(data, "agentId")
        alert = state.raise_alert(agent_id, {key: value for key, value in data.items() if key != "agentId"})
        return Response({"data": alert_json(state, alert)}, status_code=201)

    @get("/alerts/{alert_id:str}", sync_to_thread=False)
    def read_alert(alert_id: FromPath[str]) -> dict[str, Any]:
        return {"data": alert_json(state, state.alert(alert_id))}

    @patch("/alerts/{alert_id:str}")
    async def change_alert(request: Request[Any, Any, Any], alert_id: FromPath[str]) -> dict[str, Any]:
        data = await json_object(request)
        unknown = set(data) - {"incidentStatus", "analystVerdict", "updatedAt"}
        if unknown:
            raise invalid(f"{', '.join(sorted(unknown))}: cannot be changed here.")
        alert = state.alert(alert_id)
        state.set_alert(
            alert,
            incident_status=data.get("incidentStatus"),
            analyst_verdict=data.get("analystVerdict"),
            at=parse_time(data["updatedAt"], "updatedAt") if data.get("updatedAt") else None,
        )
        return {"data": alert_json(state, alert)}

    @get("/tokens", sync_to_thread=False)
    def list_tokens() -> dict[str, Any]:
        return {"data": [token_json(state, user) for user in state.users.values()]}

    @post("/tokens")
    async def create_token(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        expires_at = parse_time(data["expiresAt"], "expiresAt") if data.get("expiresAt") else None
        if data.get("expiresInDays") is not None:
            try:
                expires_at = state.now() + timedelta(days=float(data["expiresInDays"]))
            except (TypeError, ValueError):
                raise invalid("expiresInDays: must be a number.") from None
        scope_ids = data.get("scopeIds") or []
        permissions = data.get("permissions") or []
        if not isinstance(scope_ids, list) or not isinstance(permissions, list):
            raise invalid("scopeIds and permissions: must be lists.")
        user = state.create_user(
            _text(data, "user"),
            kind=str(data.get("kind") or "console"),
            scope=str(data.get("scope") or "global"),
            scope_ids=[str(item) for item in scope_ids],
            role=str(data.get("role") or "Admin"),
            expires_at=expires_at,
            token=_optional_text(data, "token"),
            email=_optional_text(data, "email"),
            permissions=[str(item) for item in permissions],
            introspectable=bool(data.get("introspectable", True)),
        )
        return Response(token_json(state, user), status_code=201)

    @patch("/tokens/{user_id:str}")
    async def change_token(request: Request[Any, Any, Any], user_id: FromPath[str]) -> dict[str, Any]:
        data = await json_object(request)
        user = state.user(user_id)
        unknown = set(data) - {"expiresAt", "role", "permissions", "introspectable"}
        if unknown:
            raise invalid(f"{', '.join(sorted(unknown))}: cannot be changed here.")
        if "expiresAt" in data:
            user.token_expires_at = parse_time(data["expiresAt"], "expiresAt")
        if "role" in data:
            if data["role"] not in ROLES:
                raise invalid(f"role: must be one of {', '.join(ROLES)}.")
            user.role = str(data["role"])
        if "permissions" in data:
            user.permissions = tuple(str(item) for item in data["permissions"] or ())
        if "introspectable" in data:
            user.introspectable = bool(data["introspectable"])
        return token_json(state, user)

    @post("/tokens/{user_id:str}/expire", status_code=200, sync_to_thread=False)
    def expire_token(user_id: FromPath[str]) -> dict[str, Any]:
        user = state.user(user_id)
        user.token_expires_at = min(user.token_expires_at, state.now())
        return token_json(state, user)

    @post("/tokens/{user_id:str}/revoke", status_code=200, sync_to_thread=False)
    def revoke_token(user_id: FromPath[str]) -> dict[str, Any]:
        user = state.user(user_id)
        user.revoked = True
        return token_json(state, user)

    @post("/tokens/{user_id:str}/regenerate", status_code=200)
    async def regenerate_token(request: Request[Any, Any, Any], user_id: FromPath[str]) -> dict[str, Any]:
        """A new token for the user (the old one stops working), for another lifetime."""
        data = await json_object(request)
        user = state.user(user_id)
        life = timedelta(days=float(data.get("expiresInDays") or (30 if user.kind == "console" else 365)))
        user.token = _optional_text(data, "token") or secrets.token_urlsafe(60)
        user.token_created_at, user.token_expires_at, user.revoked = state.now(), state.now() + life, False
        return token_json(state, user)

    return [
        console,
        create_account,
        create_site,
        add_agent,
        read_agent,
        update_agent,
        delete_agent,
        raise_threat,
        read_threat,
        change_threat,
        add_note,
        raise_alert,
        read_alert,
        change_alert,
        list_tokens,
        create_token,
        change_token,
        expire_token,
        revoke_token,
        regenerate_token,
    ]

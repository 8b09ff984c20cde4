"""The Sentinel emulator's own admin routes (under ``/_emulator``): play Entra's and Azure's
administrators and a Sentinel analyst, and drive the workspaces' Logic Apps.

Incident changes made here behave like changes made in the Sentinel portal: they bump
``lastModifiedTimeUtc`` and the etag and fire the Logic App (after the answer is sent).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from litestar import Request, Response, delete, get, patch, post, put
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from portal.integrations.emulation.admin import json_object, parse_time
from portal.integrations.emulation.app import EmulatedError
from portal.integrations.sentinel.emulator.logicapp import EVENTS, LogicApp
from portal.integrations.sentinel.emulator.model import Incident, Workspace
from portal.integrations.sentinel.emulator.state import Limits, SentinelState
from portal.integrations.sentinel.emulator.times import to_ticks

INCIDENT_FIELDS = frozenset(
    {"title", "description", "severity", "status", "classification", "classificationReason",
     "classificationComment", "owner", "labels", "firstActivityTimeUtc", "lastActivityTimeUtc"}
)  # fmt: skip
CREATE_FIELDS = INCIDENT_FIELDS | {
    "name", "alerts", "entities", "tactics", "techniques", "providerName", "providerIncidentUrl",
    "relatedAnalyticRuleIds", "createdTimeUtc", "lastModifiedTimeUtc",
}  # fmt: skip


def text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EmulatedError(400, "InvalidValue", f"{key} must be a non-empty string.")
    return value.strip()


def _count(data: dict[str, Any], key: str = "times") -> int:
    value = data.get(key, 1)
    if not isinstance(value, int) or not 1 <= value <= 100:
        raise EmulatedError(400, "InvalidValue", f"{key} is a whole number from 1 to 100.")
    return value


def _ticks(data: dict[str, Any], key: str) -> int | None:
    return to_ticks(parse_time(data[key], key)) if data.get(key) else None


Attach = Callable[[Workspace, Incident, Mapping[str, Any]], dict[str, Any]]


def with_owner(data: dict[str, Any]) -> dict[str, Any]:
    """The analyst names an owner by UPN (or email); the API takes an owner object."""
    owner = data.get("owner")
    return data | {"owner": {"userPrincipalName": owner}} if isinstance(owner, str) else data


def full_incident(state: SentinelState, workspace: Workspace, incident: Incident) -> dict[str, Any]:
    """An incident as a test wants to see it: the REST resource plus its comments, alerts and entities."""
    incident_id = workspace.incident_id(incident.name)
    return incident.to_json(workspace) | {
        "comments": [comment.to_json(incident_id) for comment in incident.comments.values()],
        "alerts": [dict(alert) for alert in incident.alerts],
        "entities": [dict(entity) for entity in incident.entities],
    }


def sentinel_admin_handlers(state: SentinelState) -> Sequence[ControllerRouterHandler]:
    def written(body: Any, status: int = 200) -> Response[Any]:
        return Response(body, status_code=status, background=BackgroundTask(state.logic_apps.flush))

    def change(workspace: str, name: str, changes: dict[str, Any], modified: int | None = None) -> Response[Any]:
        """An analyst's edit in the portal: the incident's other properties stay as they are."""
        found = state.workspace(workspace)
        target = state.incident(found, name)
        state.update_incident(found, target, state.writable(target) | changes, modified=modified)
        return written(full_incident(state, found, target))

    def attach(workspace: str, name: str, add: Attach, data: dict[str, Any]) -> Response[Any]:
        """An alert or entity joins an incident later (alert processing lags): a change of the incident."""
        found = state.workspace(workspace)
        target = state.incident(found, name)
        made = add(found, target, data)
        state.touch(found, target, from_api=False)
        return written(made, 201)

    # -- Entra ID ------------------------------------------------------------------------------

    @get("/directory", sync_to_thread=False)
    def directory() -> dict[str, Any]:
        return {
            "tenants": [tenant.to_json() for tenant in state.directory.tenants.values()],
            "apps": [
                {"clientId": c.client_id, "name": c.name, "redirectUris": list(c.redirect_uris)}
                for c in state.identity.clients.values()
            ],
        }

    @post("/tenants")
    async def create_tenant(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        tenant = state.directory.add_tenant(
            text(data, "displayName"),
            text(data, "domain"),
            tenant_id=data.get("id"),
            user_consent_allowed=bool(data.get("userConsentAllowed", True)),
        )
        return Response(tenant.to_json(), status_code=201)

    @post("/tenants/{tenant:str}/settings", status_code=200)
    async def tenant_settings(request: Request[Any, Any, Any], tenant: FromPath[str]) -> dict[str, Any]:
        data = await json_object(request)
        found = state.directory.tenant(tenant)
        if "userConsentAllowed" in data:
            found.user_consent_allowed = bool(data["userConsentAllowed"])
        return found.to_json()

    @post("/tenants/{tenant:str}/users")
    async def create_user(request: Request[Any, Any, Any], tenant: FromPath[str]) -> Response[Any]:
        data = await json_object(request)
        user = state.directory.add_user(
            tenant,
            text(data, "userPrincipalName"),
            str(data.get("displayName") or ""),
            text(data, "password"),
            object_id=data.get("objectId"),
            email=data.get("email"),
            admin=bool(data.get("admin", False)),
        )
        return Response(user.to_json(), status_code=201)

    @post("/tenants/{tenant:str}/admin-consent", status_code=200)
    async def grant_admin_consent(request: Request[Any, Any, Any], tenant: FromPath[str]) -> dict[str, Any]:
        client_id = text(await json_object(request), "clientId")
        found = state.directory.tenant(tenant)
        found.admin_consents.add(client_id)
        return found.to_json()

    @delete("/tenants/{tenant:str}/admin-consent/{client_id:str}", status_code=200, sync_to_thread=False)
    def revoke_admin_consent(tenant: FromPath[str], client_id: FromPath[str]) -> dict[str, Any]:
        found = state.directory.tenant(tenant)
        found.admin_consents.discard(client_id)
        return found.to_json()

    @delete("/users/{login:str}/consents", status_code=200, sync_to_thread=False)
    def revoke_user_consents(login: FromPath[str]) -> dict[str, Any]:
        user = state.directory.user(login)
        removed = [key for key in state.directory.user_consents if key[0] == user.object_id]
        for key in removed:
            del state.directory.user_consents[key]
        return {"revoked": len(removed)}

    @post("/users/{login:str}/revoke-sessions", status_code=200, sync_to_thread=False)
    def revoke_sessions(login: FromPath[str]) -> dict[str, int]:
        """Entra's "Revoke sessions": every refresh token of the user is dead (AADSTS50173)."""
        return {"revoked": state.identity.revoke_refresh_tokens(subject=state.directory.user(login).object_id)}

    @post("/users/{login:str}/expire-access-tokens", status_code=200, sync_to_thread=False)
    def expire_user_tokens(login: FromPath[str]) -> dict[str, int]:
        return {"expired": state.identity.expire_access_tokens(subject=state.directory.user(login).object_id)}

    @post("/tokens", status_code=200)
    async def tokens(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Tokens for a user as if they had signed in: {clientId, user, scope}."""
        data = await json_object(request)
        return state.identity.issue_user_tokens(
            text(data, "clientId"), text(data, "user"), text(data, "scope").split(), str(request.base_url).rstrip("/")
        )

    # -- Azure ---------------------------------------------------------------------------------

    @post("/subscriptions")
    async def create_subscription(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        subscription = state.add_subscription(
            text(data, "tenantId"), text(data, "displayName"), data.get("subscriptionId")
        )
        return Response(subscription.to_json(), status_code=201)

    @post("/workspaces")
    async def create_workspace(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await json_object(request)
        workspace = state.add_workspace(
            text(data, "subscriptionId").lower(),
            text(data, "resourceGroup"),
            text(data, "name"),
            customer_id=data.get("customerId"),
            location=str(data.get("location") or "westeurope"),
        )
        return Response(workspace.to_json() | {"resourceId": workspace.resource_id}, status_code=201)

    @put("/workspaces/{workspace:str}/roles/{login:str}", status_code=200)
    async def set_role(
        request: Request[Any, Any, Any], workspace: FromPath[str], login: FromPath[str]
    ) -> dict[str, Any]:
        """{"role": "Microsoft Sentinel Responder"} (or null to remove it)."""
        data = await json_object(request)
        found = state.workspace(workspace)
        user = state.set_role(found, login, data.get("role"))
        return {"workspace": found.name, "user": user.user_principal_name, "role": found.roles.get(user.object_id)}

    @post("/throttling", status_code=200)
    async def throttling(request: Request[Any, Any, Any]) -> dict[str, float]:
        data = await json_object(request)
        try:
            limits = Limits(
                float(data.get("readCapacity", 250)),
                float(data.get("readRefill", 25)),
                float(data.get("writeCapacity", 200)),
                float(data.get("writeRefill", 10)),
            )
        except (TypeError, ValueError):
            raise EmulatedError(400, "InvalidValue", "Capacities and refill rates are numbers.") from None
        state.set_limits(limits)
        return vars(limits)

    # -- the analyst ---------------------------------------------------------------------------

    @get("/workspaces/{workspace:str}/incidents", sync_to_thread=False)
    def incidents(workspace: FromPath[str]) -> dict[str, Any]:
        found = state.workspace(workspace)
        ordered = sorted(found.incidents.values(), key=lambda i: i.number)
        return {"value": [full_incident(state, found, incident) for incident in ordered]}

    @get("/workspaces/{workspace:str}/incidents/{name:str}", sync_to_thread=False)
    def incident(workspace: FromPath[str], name: FromPath[str]) -> dict[str, Any]:
        found = state.workspace(workspace)
        return full_incident(state, found, state.incident(found, name))

    @post("/workspaces/{workspace:str}/incidents")
    async def create_incident(request: Request[Any, Any, Any], workspace: FromPath[str]) -> Response[Any]:
        data = await json_object(request)
        unknown = set(data) - CREATE_FIELDS
        if unknown:
            raise EmulatedError(400, "InvalidField", f"Unknown fields: {', '.join(sorted(unknown))}.")
        found = state.workspace(workspace)
        made = state.create_incident(
            found,
            {"status": "New"} | with_owner(data),
            name=data.get("name"),
            alerts=data.get("alerts") or [],
            entities=data.get("entities") or [],
            created=_ticks(data, "createdTimeUtc"),
            modified=_ticks(data, "lastModifiedTimeUtc"),
        )
        return written(full_incident(state, found, made), 201)

    @patch("/workspaces/{workspace:str}/incidents/{name:str}")
    async def change_incident(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        """Change some properties (status, severity, owner, title...), the rest stays."""
        data = await json_object(request)
        unknown = set(data) - INCIDENT_FIELDS - {"lastModifiedTimeUtc"}
        if unknown:
            raise EmulatedError(400, "InvalidField", f"Unknown fields: {', '.join(sorted(unknown))}.")
        changes = {key: value for key, value in with_owner(data).items() if key in INCIDENT_FIELDS}
        return change(workspace, name, changes, _ticks(data, "lastModifiedTimeUtc"))

    @post("/workspaces/{workspace:str}/incidents/{name:str}/close", status_code=200)
    async def close_incident(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        data = await json_object(request)
        closure = {key: data.get(key) for key in ("classification", "classificationReason", "classificationComment")}
        return change(workspace, name, closure | {"status": "Closed"})

    @post("/workspaces/{workspace:str}/incidents/{name:str}/reopen", status_code=200)
    async def reopen_incident(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        data = await json_object(request)
        return change(workspace, name, {"status": str(data.get("status") or "Active")})

    @post("/workspaces/{workspace:str}/incidents/{name:str}/comments")
    async def add_comment(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        """{"message", "author": a user's UPN, "id"?}: a comment as an analyst writes it in the portal."""
        data = await json_object(request)
        found = state.workspace(workspace)
        target = state.incident(found, name)
        author = state.directory.user(text(data, "author"))
        comment, created = state.put_comment(
            found,
            target,
            str(data.get("id") or uuid.uuid4()),
            data.get("message"),
            state.author_of(author),
            created=_ticks(data, "createdTimeUtc"),
        )
        return written(comment.to_json(found.incident_id(target.name)), 201 if created else 200)

    @post("/workspaces/{workspace:str}/incidents/{name:str}/alerts")
    async def add_alert(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        return attach(workspace, name, state.add_alert, await json_object(request))

    @post("/workspaces/{workspace:str}/incidents/{name:str}/entities")
    async def add_entity(
        request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]
    ) -> Response[Any]:
        """Entities arrive after the incident (alert processing lags): add one later."""
        return attach(workspace, name, state.add_entity, await json_object(request))

    @post("/workspaces/{workspace:str}/incidents/{name:str}/race", status_code=200)
    async def race(request: Request[Any, Any, Any], workspace: FromPath[str], name: FromPath[str]) -> dict[str, Any]:
        """The next ``times`` API PUTs of this incident race an analyst: the incident changes just before
        each of them, so a PUT carrying the etag it read gets 409 Conflict."""
        data = await json_object(request)
        found = state.workspace(workspace)
        target = state.incident(found, name)
        state.races[target.name] = state.races.get(target.name, 0) + _count(data)
        return {"incident": target.name, "races": state.races[target.name]}

    # -- Logic Apps ----------------------------------------------------------------------------

    @get("/workspaces/{workspace:str}/logic-app", sync_to_thread=False)
    def logic_app(workspace: FromPath[str]) -> dict[str, Any]:
        app = state.logic_apps.apps.get(state.workspace(workspace).name.lower())
        return {"logicApp": app.to_json() if app else None}

    @put("/workspaces/{workspace:str}/logic-app", status_code=200)
    async def set_logic_app(request: Request[Any, Any, Any], workspace: FromPath[str]) -> dict[str, Any]:
        """{"url", "headers": {name: value}, "events": ["Create", "Update"], "includeApiChanges", "retries",
        "retrySeconds", "delaySeconds", "dropNext"}."""
        data = await json_object(request)
        found = state.workspace(workspace)
        headers = data.get("headers") or {}
        events = frozenset(data.get("events") or EVENTS)
        if not isinstance(headers, dict) or not events <= EVENTS:
            raise EmulatedError(400, "InvalidValue", "headers is an object; events are Create and/or Update.")
        try:
            app = LogicApp(
                url=text(data, "url"),
                headers={str(k): str(v) for k, v in headers.items()},
                events=events,
                include_api_changes=bool(data.get("includeApiChanges", True)),
                retries=int(data.get("retries", 4)),
                retry_seconds=float(data.get("retrySeconds", 7.0)),
                delay_seconds=float(data.get("delaySeconds", 0.0)),
                drop_next=int(data.get("dropNext", 0)),
            )
        except (TypeError, ValueError):
            raise EmulatedError(
                400, "InvalidValue", "retries and dropNext are integers, the seconds numbers."
            ) from None
        state.logic_apps.apps[found.name.lower()] = app
        return {"logicApp": app.to_json()}

    @delete("/workspaces/{workspace:str}/logic-app", sync_to_thread=False)
    def remove_logic_app(workspace: FromPath[str]) -> None:
        state.logic_apps.apps.pop(state.workspace(workspace).name.lower(), None)

    @post("/workspaces/{workspace:str}/logic-app/redeliver", status_code=200)
    async def redeliver(request: Request[Any, Any, Any], workspace: FromPath[str]) -> dict[str, Any]:
        """Send the last payload again, unchanged, ``times`` times (default 1)."""
        data = await json_object(request)
        queued = state.logic_apps.redeliver(state.workspace(workspace).name, _count(data))
        sent = await state.logic_apps.flush()
        return {"queued": queued, "value": [delivery.to_json() for delivery in sent]}

    @post("/logic-apps/flush", status_code=200)
    async def flush() -> dict[str, Any]:
        return {"value": [delivery.to_json() for delivery in await state.logic_apps.flush()]}

    @get("/logic-apps/deliveries", sync_to_thread=False)
    def deliveries() -> dict[str, Any]:
        return {
            "pending": len(state.logic_apps.pending),
            "value": [delivery.to_json() for delivery in state.logic_apps.deliveries],
        }

    return [
        directory, create_tenant, tenant_settings, create_user, grant_admin_consent, revoke_admin_consent,
        revoke_user_consents, revoke_sessions, expire_user_tokens, tokens, create_subscription, create_workspace,
        set_role, throttling, incidents, incident, create_incident, change_incident, close_incident, reopen_incident,
        add_comment, add_alert, add_entity, race, logic_app, set_logic_app, remove_logic_app, redeliver, flush,
        deliveries,
    ]  # fmt: skip

"""Azure Resource Manager: subscriptions, Log Analytics workspaces and Sentinel's incidents API.

Every call needs ``api-version`` (400 ``MissingApiVersionParameter`` / ``InvalidApiVersionParameter``)
and a Bearer token for ``https://management.azure.com/`` (401 ``AuthenticationFailed``,
``InvalidAuthenticationToken``, ``ExpiredAuthenticationToken``; a token from another tenant than
the subscription's: ``InvalidAuthenticationTokenTenant``), with a ``WWW-Authenticate`` header
naming the tenant to sign in to. A user acts through their role on the workspace (403
``AuthorizationFailed``). Reads and writes draw on token buckets per subscription and caller
(429 ``SubscriptionRequestsThrottled`` with ``Retry-After``; ``x-ms-ratelimit-remaining-*`` on
every answer). Paths match case-insensitively, as ARM's do. Lists page with ``nextLink``
(absolute, carrying ``$skipToken``); see :mod:`.odata`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, delete, get, post, put

from portal.integrations.emulation.app import EmulatedError
from portal.integrations.emulation.oauth_server import TokenInfo
from portal.integrations.sentinel.emulator import odata
from portal.integrations.sentinel.emulator.directory import EntraUser
from portal.integrations.sentinel.emulator.model import Incident, Subscription, Workspace
from portal.integrations.sentinel.emulator.state import SentinelState
from portal.integrations.sentinel.emulator.times import from_ticks

SENTINEL_VERSIONS = (
    "2020-01-01", "2021-04-01", "2021-10-01", "2022-08-01", "2022-11-01", "2023-02-01", "2023-11-01",
    "2024-03-01", "2024-09-01", "2025-03-01", "2025-06-01", "2025-09-01",
)  # fmt: skip
SUBSCRIPTION_VERSIONS = ("2016-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-12-01")
WORKSPACE_VERSIONS = ("2020-08-01", "2020-10-01", "2021-06-01", "2022-10-01", "2023-09-01", "2025-02-01")
ARM_AUDIENCES = frozenset(
    {"https://management.azure.com/", "https://management.azure.com",
     "https://management.core.windows.net/", "https://management.core.windows.net"}
)  # fmt: skip
SUB = r"/subscriptions/(?P<sub>[^/]+)"
WS = SUB + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.OperationalInsights/workspaces/(?P<ws>[^/]+)"
SI = WS + r"/providers/Microsoft\.SecurityInsights"
INCIDENT = SI + r"/incidents/(?P<incident>[^/]+)"
COMMENT = INCIDENT + r"/comments/(?P<comment>[^/]+)"


@dataclass
class Call:
    """One ARM request being answered: who calls, on what."""

    request: Request[Any, Any, Any]
    method: str
    token: TokenInfo
    user: EntraUser | None
    match: Mapping[str, str]
    body: Any
    headers: dict[str, str]

    @property
    def oid(self) -> str:
        return str(self.token.claims.get("oid", self.token.subject))

    @property
    def upn(self) -> str:
        return str(self.token.claims.get("preferred_username", self.token.subject))


Handler = Callable[["Arm", Call], Response[Any]]


def _arm_time(ticks_or_moment: Any) -> str:
    moment = from_ticks(ticks_or_moment) if isinstance(ticks_or_moment, int) else ticks_or_moment
    return f"{moment.month}/{moment.day}/{moment.year} {moment:%I:%M:%S %p}".replace(" 0", " ", 1)


class Arm:
    def __init__(self, state: SentinelState) -> None:
        self.state = state
        self.routes: list[tuple[str, re.Pattern[str], tuple[str, ...], Handler]] = []
        for method, pattern, versions, handler in (
            ("GET", r"/subscriptions", SUBSCRIPTION_VERSIONS, Arm.list_subscriptions),
            ("GET", SUB, SUBSCRIPTION_VERSIONS, Arm.get_subscription),
            ("GET", SUB + r"/providers/Microsoft\.OperationalInsights/workspaces", WORKSPACE_VERSIONS,
             Arm.list_workspaces),
            ("GET", WS, WORKSPACE_VERSIONS, Arm.get_workspace),
            ("GET", SI + r"/incidents", SENTINEL_VERSIONS, Arm.list_incidents),
            ("GET", INCIDENT, SENTINEL_VERSIONS, Arm.get_incident),
            ("PUT", INCIDENT, SENTINEL_VERSIONS, Arm.put_incident),
            ("DELETE", INCIDENT, SENTINEL_VERSIONS, Arm.delete_incident),
            ("POST", INCIDENT + r"/alerts", SENTINEL_VERSIONS, Arm.list_alerts),
            ("POST", INCIDENT + r"/entities", SENTINEL_VERSIONS, Arm.list_entities),
            ("POST", INCIDENT + r"/bookmarks", SENTINEL_VERSIONS, Arm.list_bookmarks),
            ("GET", INCIDENT + r"/comments", SENTINEL_VERSIONS, Arm.list_comments),
            ("GET", COMMENT, SENTINEL_VERSIONS, Arm.get_comment),
            ("PUT", COMMENT, SENTINEL_VERSIONS, Arm.put_comment),
            ("DELETE", COMMENT, SENTINEL_VERSIONS, Arm.delete_comment),
        ):  # fmt: skip
            self.routes.append((method, re.compile(f"^{pattern}/?$", re.IGNORECASE), versions, handler))

    # -- the pipeline every call goes through ----------------------------------------------------

    async def answer(self, request: Request[Any, Any, Any]) -> Response[Any]:
        headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
            "x-ms-routing-request-id": f"WESTEUROPE:{self.state.clock.now():%Y%m%dT%H%M%SZ}:{uuid.uuid4()}",
        }
        if request.headers.get("x-ms-client-request-id"):
            headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        try:
            response = await self._answer(request, headers)
        except EmulatedError as exc:
            response = Response(
                self.state.control.error_body(exc.status_code, exc.code, exc.message),
                status_code=exc.status_code,
                headers=exc.headers or None,
            )
        response.headers.update(headers)
        return response

    async def _answer(self, request: Request[Any, Any, Any], headers: dict[str, str]) -> Response[Any]:
        path, method = request.url.path, request.method.upper()
        found = [(m, pattern.match(path), versions, handler) for m, pattern, versions, handler in self.routes]
        matching = [(m, match, versions, handler) for m, match, versions, handler in found if match]
        if not matching:
            raise EmulatedError(404, "NotFound", f"The resource path '{path}' is not one this service offers.")
        chosen = next(((match, v, h) for m, match, v, h in matching if m == method), None)
        if chosen is None:
            raise EmulatedError(
                405, "HttpMethodNotSupported", f"The requested resource does not support http method '{method}'."
            )
        match, versions, handler = chosen
        groups = {key: value for key, value in match.groupdict().items() if value is not None}
        subscription = self.state.subscriptions.get(groups.get("sub", "").lower())
        token = self._authenticate(request, subscription)
        version = request.query_params.get("api-version")
        if not version:
            raise EmulatedError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version not in versions:
            raise EmulatedError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are '{','.join(reversed(versions))}'.",
            )
        if "sub" in groups:
            if subscription is None:
                raise EmulatedError(
                    404, "SubscriptionNotFound", f"The subscription '{groups['sub']}' could not be found."
                )
            if subscription.tenant_id != token.tenant_id:
                raise self._wrong_tenant(request, token, subscription)
        self._throttle(token, subscription, method, headers)
        body: Any = None
        if method in ("PUT", "PATCH"):
            try:
                body = await request.json()
            except (ValueError, TypeError):
                raise EmulatedError(
                    400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
                ) from None
        user = self.state.directory.find_user(str(token.claims.get("oid", token.subject)))
        call = Call(request, method, token, user, groups, body, {k.lower(): v for k, v in request.headers.items()})
        return handler(self, call)

    def _bearer_error(
        self, request: Request[Any, Any, Any], tenant: str, code: str, message: str, description: str
    ) -> EmulatedError:
        login = str(request.base_url).rstrip("/")
        challenge = (
            f'Bearer authorization_uri="{login}/{tenant}", error="invalid_token", error_description="{description}"'
        )
        return EmulatedError(401, code, message, headers={"WWW-Authenticate": challenge})

    def _authenticate(self, request: Request[Any, Any, Any], subscription: Subscription | None) -> TokenInfo:
        tenant = subscription.tenant_id if subscription else "common"
        check = self.state.identity.check_bearer(request.headers.get("authorization"))
        if check.problem == "missing":
            raise self._bearer_error(
                request, tenant, "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )  # fmt: skip
        if check.problem in ("invalid", "revoked") or check.info is None:
            raise self._bearer_error(
                request, tenant, "InvalidAuthenticationToken", "The access token is invalid.",
                "The access token is invalid.",
            )  # fmt: skip
        info = check.info
        if check.problem == "expired":
            raise self._bearer_error(
                request, tenant, "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_arm_time(info.expires_at)}' is earlier than current UTC time "
                f"'{_arm_time(self.state.clock.now())}'.",
                "The access token has expired.",
            )  # fmt: skip
        if info.audience not in ARM_AUDIENCES:
            allowed = ",".join(f"'{a}'" for a in sorted(ARM_AUDIENCES))
            raise self._bearer_error(
                request, tenant, "InvalidAuthenticationToken",
                f"The access token has been obtained for wrong audience or resource '{info.audience}'. It should "
                f"exactly match with one of the allowed audiences {allowed}.",
                "The access token has been obtained for wrong audience or resource.",
            )  # fmt: skip
        return info

    def _wrong_tenant(
        self, request: Request[Any, Any, Any], token: TokenInfo, subscription: Subscription
    ) -> EmulatedError:
        login = str(request.base_url).rstrip("/")
        return self._bearer_error(
            request, subscription.tenant_id, "InvalidAuthenticationTokenTenant",
            f"The access token is from the wrong issuer 'https://sts.windows.net/{token.tenant_id}/'. It must match "
            f"the tenant 'https://sts.windows.net/{subscription.tenant_id}/' associated with this subscription. "
            f"Please use the authority (URL) '{login}/{subscription.tenant_id}' to get the token.",
            "The access token is from the wrong issuer.",
        )  # fmt: skip

    def _throttle(
        self, token: TokenInfo, subscription: Subscription | None, method: str, headers: dict[str, str]
    ) -> None:
        kind = "read" if method == "GET" else "write"
        actor = str(token.claims.get("oid", token.subject))
        scope, level = (subscription.id, "subscription") if subscription else (token.tenant_id, "tenant")
        allowed, remaining, wait = self.state.throttle(scope, actor, kind)
        headers[f"x-ms-ratelimit-remaining-{level}-{kind}s"] = str(remaining)
        if not allowed:
            raise EmulatedError(
                429,
                "SubscriptionRequestsThrottled" if subscription else "TenantRequestsThrottled",
                f"Number of '{kind}' requests for {level} '{scope}' actor '{actor}' exceeded. Please try again after "
                f"'{wait}' seconds after the last request. "
                "Please see https://aka.ms/ARMThrottling for further information.",
                headers={"Retry-After": str(wait)},
            )

    # -- lookups ---------------------------------------------------------------------------------

    def _workspace(self, call: Call, action: str) -> Workspace:
        """The workspace of the path, after its resource group; 404s as ARM words them, then the role check."""
        sub, rg, name = call.match["sub"], call.match["rg"], call.match["ws"]
        in_sub = [w for w in self.state.workspaces.values() if w.subscription_id == sub.lower()]
        if not any(w.resource_group.lower() == rg.lower() for w in in_sub):
            raise EmulatedError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        workspace = self.state.workspaces.get(name.lower())
        if workspace is None or workspace not in in_sub or workspace.resource_group.lower() != rg.lower():
            raise EmulatedError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.OperationalInsights/workspaces/{name}' under resource group '{rg}' was not "
                "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        if action.endswith("/read"):
            permission = "read"
        elif "/comments/" in action:
            permission = "comments/write"
        else:
            permission = "incidents/delete" if action.endswith("/delete") else "incidents/write"
        if not workspace.allows(call.oid, permission):
            scope = call.request.url.path
            raise EmulatedError(
                403,
                "AuthorizationFailed",
                f"The client '{call.upn}' with object id '{call.oid}' does not have authorization to perform action "
                f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
                "refresh your credentials.",
            )
        return workspace

    def _incident(self, call: Call, action: str) -> tuple[Workspace, Incident]:
        workspace = self._workspace(call, action)
        return workspace, self.state.incident(workspace, call.match["incident"])

    def _next_link(self, call: Call, token: str | None) -> str | None:
        if token is None:
            return None
        params = {k: v for k, v in call.request.query_params.items() if k != "$skipToken"} | {"$skipToken": token}
        return f"{str(call.request.base_url).rstrip('/')}{call.request.url.path}?{urlencode(params)}"

    def _listing(self, call: Call, items: list[dict[str, Any]], order: str, top: int) -> dict[str, Any]:
        field, _, direction = order.partition(" ")
        chosen, token = odata.page(
            items,
            call.request.query_params,
            default_order=[odata.Order(field, direction == "desc")],
            default_top=top,
        )
        body: dict[str, Any] = {"value": chosen}
        link = self._next_link(call, token)
        if link:
            body["nextLink"] = link
        return body

    # -- handlers --------------------------------------------------------------------------------

    def list_subscriptions(self, call: Call) -> Response[Any]:
        visible = [
            s
            for s in self.state.subscriptions.values()
            if s.tenant_id == call.token.tenant_id
            and any(w.subscription_id == s.id and call.oid in w.roles for w in self.state.workspaces.values())
        ]
        return Response({"value": [s.to_json() for s in visible]})

    def get_subscription(self, call: Call) -> Response[Any]:
        return Response(self.state.subscriptions[call.match["sub"].lower()].to_json())

    def list_workspaces(self, call: Call) -> Response[Any]:
        sub = call.match["sub"].lower()
        visible = [w for w in self.state.workspaces.values() if w.subscription_id == sub and call.oid in w.roles]
        return Response({"value": [w.to_json() for w in visible]})

    def get_workspace(self, call: Call) -> Response[Any]:
        return Response(self._workspace(call, "Microsoft.OperationalInsights/workspaces/read").to_json())

    def list_incidents(self, call: Call) -> Response[Any]:
        workspace = self._workspace(call, "Microsoft.SecurityInsights/incidents/read")
        items = [incident.to_json(workspace) for incident in workspace.incidents.values()]
        return Response(self._listing(call, items, "properties/createdTimeUtc desc", 50))

    def get_incident(self, call: Call) -> Response[Any]:
        workspace, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/read")
        return Response(incident.to_json(workspace))

    def put_incident(self, call: Call) -> Response[Any]:
        workspace = self._workspace(call, "Microsoft.SecurityInsights/incidents/write")
        name = call.match["incident"]
        body = call.body
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise EmulatedError(400, "BadRequest", "The request body must be an incident with a properties object.")
        existing = next((i for i in workspace.incidents.values() if i.name.lower() == name.lower()), None)
        if existing is not None:
            self.state.race(workspace, existing)
        if_match, if_none_match = call.headers.get("if-match"), call.headers.get("if-none-match")
        if if_match and (existing is None or (if_match.strip() != "*" and if_match.strip() != existing.etag)):
            raise EmulatedError(
                412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
            )
        if if_none_match and if_none_match.strip() == "*" and existing is not None:
            raise EmulatedError(
                412, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met."
            )
        etag = body.get("etag")
        if existing is not None and etag is not None and etag != existing.etag:
            raise EmulatedError(
                409, "Conflict", f"Newer version of resource '{existing.name}' exists. Data was not saved"
            )
        if existing is None:
            incident = self.state.create_incident(workspace, body["properties"], name=name, from_api=True)
            return Response(incident.to_json(workspace), status_code=201)
        self.state.update_incident(workspace, existing, body["properties"], from_api=True)
        return Response(existing.to_json(workspace), status_code=200)

    def delete_incident(self, call: Call) -> Response[Any]:
        workspace = self._workspace(call, "Microsoft.SecurityInsights/incidents/delete")
        removed = self.state.delete_incident(workspace, call.match["incident"])
        return Response(None, status_code=200 if removed else 204)

    def list_alerts(self, call: Call) -> Response[Any]:
        _, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/alerts/read")
        return Response({"value": [dict(alert) for alert in incident.alerts]})

    def list_entities(self, call: Call) -> Response[Any]:
        _, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/entities/read")
        counts: dict[str, int] = {}
        for entity in incident.entities:
            counts[entity["kind"]] = counts.get(entity["kind"], 0) + 1
        return Response(
            {
                "entities": [dict(entity) for entity in incident.entities],
                "metaData": [{"entityKind": kind, "count": count} for kind, count in counts.items()],
            }
        )

    def list_bookmarks(self, call: Call) -> Response[Any]:
        self._incident(call, "Microsoft.SecurityInsights/incidents/bookmarks/read")
        return Response({"value": []})

    def list_comments(self, call: Call) -> Response[Any]:
        workspace, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/comments/read")
        incident_id = workspace.incident_id(incident.name)
        items = [comment.to_json(incident_id) for comment in incident.comments.values()]
        return Response(self._listing(call, items, "properties/createdTimeUtc asc", 100))

    def get_comment(self, call: Call) -> Response[Any]:
        workspace, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/comments/read")
        comment = incident.comments.get(call.match["comment"])
        if comment is None:
            raise EmulatedError(404, "NotFound", f"Comment '{call.match['comment']}' was not found.")
        return Response(comment.to_json(workspace.incident_id(incident.name)))

    def put_comment(self, call: Call) -> Response[Any]:
        workspace, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/comments/write")
        body = call.body
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise EmulatedError(400, "BadRequest", "The request body must be a comment with a properties object.")
        comment, created = self.state.put_comment(
            workspace,
            incident,
            call.match["comment"],
            properties.get("message"),
            self.state.author_of(call.user, call.token.claims),
            from_api=True,
        )
        return Response(comment.to_json(workspace.incident_id(incident.name)), status_code=201 if created else 200)

    def delete_comment(self, call: Call) -> Response[Any]:
        workspace, incident = self._incident(call, "Microsoft.SecurityInsights/incidents/comments/write")
        removed = self.state.delete_comment(workspace, incident, call.match["comment"])
        return Response(None, status_code=200 if removed else 204)


def arm_router(state: SentinelState) -> Router:
    """``/subscriptions`` and everything under it, answered by one case-insensitive dispatcher."""
    arm = Arm(state)

    @get(["/subscriptions", "/subscriptions/{path:path}"], name="arm-get")
    async def arm_get(request: Request[Any, Any, Any]) -> Response[Any]:
        return await arm.answer(request)

    @put("/subscriptions/{path:path}", name="arm-put", status_code=200)
    async def arm_put(request: Request[Any, Any, Any]) -> Response[Any]:
        return await arm.answer(request)

    @post("/subscriptions/{path:path}", name="arm-post", status_code=200)
    async def arm_post(request: Request[Any, Any, Any]) -> Response[Any]:
        return await arm.answer(request)

    @delete("/subscriptions/{path:path}", name="arm-delete", status_code=200)
    async def arm_delete(request: Request[Any, Any, Any]) -> Response[Any]:
        return await arm.answer(request)

    return Router(path="/", route_handlers=[arm_get, arm_put, arm_post, arm_delete])

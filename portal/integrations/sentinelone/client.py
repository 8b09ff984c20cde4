"""The SentinelOne Management API v2.1, one method per endpoint, on the shared :class:`VendorHttp` base.

Every answer is checked for the ``{data, pagination, errors}`` envelope before anyone reads it
(a list without ``data`` is a bad payload, never "nothing new"); ``pagination`` may be absent
(one page) and ``nextCursor`` may be null or an empty string on the last page. Refusals are
re-raised with what a person has to do about them (a new token, a permission for the role).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from portal.integrations.base import ConnectionView
from portal.integrations.errors import AuthExpired, BadPayload, Forbidden, InvalidRequest, NotFound
from portal.integrations.http import VendorHttp
from portal.integrations.sentinelone.records import RecordError, lookup, maybe_time

API = "/web/api/v2.1"
MAX_LIMIT = 1000
REFUSED = (
    "SentinelOne refused the API token (it has expired, was revoked, or is wrong): create a new one "
    "(a service user's token lasts as long as you choose) and paste it on the connection's Setup tab"
)
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None


def s1_time(moment: datetime) -> str:
    """What the ``__gt``/``__lt`` filters take: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadPayload(f"SentinelOne sent {what} that is not a JSON object.")
    return data


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadPayload(f"SentinelOne sent {what} without a 'data' list.")
    if not all(isinstance(item, dict) for item in value):
        raise BadPayload(f"SentinelOne sent {what} whose entries are not all objects.")
    return value


def _cursor(body: Mapping[str, Any], what: str) -> tuple[str | None, int | None]:
    pagination = body.get("pagination")
    if pagination is None:
        return None, None
    if not isinstance(pagination, dict):
        raise BadPayload(f"SentinelOne sent {what} whose pagination is not an object.")
    cursor = pagination.get("nextCursor")
    if cursor is not None and not isinstance(cursor, str):
        raise BadPayload(f"SentinelOne sent {what} whose nextCursor is not a string.")
    total = pagination.get("totalItems")
    return (cursor or None), (total if isinstance(total, int) and not isinstance(total, bool) else None)


def read_list(body: Any, what: str) -> Page:
    """A list answer: ``data`` is the list (sites: ``data.sites``)."""
    envelope = _object(body, what)
    data = envelope.get("data")
    if isinstance(data, dict) and "sites" in data:
        data = data["sites"]
    cursor, total = _cursor(envelope, what)
    return Page(items=_objects(data, what), next_cursor=cursor, total=total)


def _ids_filter(ids: Sequence[str]) -> dict[str, Any]:
    return {"ids": [str(value) for value in ids]}


class SentinelOneClient:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except AuthExpired as exc:
            raise AuthExpired(f"{REFUSED} ({exc.message})", status=exc.status) from None
        except Forbidden as exc:
            raise Forbidden(
                f"The token's user may not {what} ({exc.message}): give the service user Account (or Global) "
                "scope and a role that can view endpoints, accounts, threats and alerts and resolve them",
                status=exc.status,
            ) from None

    async def _get(self, path: str, what: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._call(what, lambda: self.http.json("GET", f"{API}{path}", params=dict(params or {})))

    async def _post(
        self,
        path: str,
        what: str,
        body: Mapping[str, Any],
        ticket_id: uuid.UUID | None = None,
        *,
        idempotent: bool = True,  # absolute values (a status, a verdict) may be sent again after a 5xx
    ) -> Any:
        return await self._call(
            what,
            lambda: self.http.json("POST", f"{API}{path}", json=dict(body), ticket_id=ticket_id, idempotent=idempotent),
        )

    async def _page(self, path: str, what: str, params: Mapping[str, Any], cursor: str | None, limit: int) -> Page:
        query = {**params, "limit": max(1, min(MAX_LIMIT, limit))}
        if cursor:
            query["cursor"] = cursor
        return read_list(await self._get(path, what, query), what)

    async def _all(self, path: str, what: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._page(path, what, params or {}, cursor, MAX_LIMIT)
            items += page.items
            if not page.next_cursor or page.next_cursor == cursor:
                return items
            cursor = page.next_cursor

    # ---------------------------------------------------------------- who am I

    async def current_user(self) -> dict[str, Any]:
        body = _object(await self._get("/user", "read its own user"), "the current user")
        return _object(body.get("data"), "the current user")

    async def token_details(self, token: str) -> dict[str, Any]:
        body = await self._post("/users/api-token-details", "read its token's details", {"data": {"apiToken": token}})
        return _object(_object(body, "token details").get("data"), "token details")

    # ---------------------------------------------------------------- customers

    async def accounts(self) -> list[dict[str, Any]]:
        return await self._all("/accounts", "list accounts")

    async def sites(self) -> list[dict[str, Any]]:
        return await self._all("/sites", "list sites")

    # ---------------------------------------------------------------- endpoints

    async def agents(self, cursor: str | None = None, limit: int = 200) -> Page:
        return await self._page(
            "/agents", "list endpoints (agents)", {"sortBy": "id", "sortOrder": "asc"}, cursor, limit
        )

    async def agent(self, agent_id: str) -> dict[str, Any] | None:
        page = await self._page("/agents", "read an endpoint", {"ids": agent_id}, None, 1)
        return page.items[0] if page.items else None

    # ---------------------------------------------------------------- threats

    async def threats(self, updated_after: datetime | None, cursor: str | None = None, limit: int = 100) -> Page:
        params: dict[str, Any] = {"sortBy": "updatedAt", "sortOrder": "asc"}
        if updated_after is not None:
            params["updatedAt__gt"] = s1_time(updated_after)
        return await self._page("/threats", "list threats", params, cursor, limit)

    async def threat(self, threat_id: str) -> dict[str, Any] | None:
        page = await self._page("/threats", "read a threat", {"ids": threat_id}, None, 1)
        return page.items[0] if page.items else None

    async def threat_notes(self, threat_id: str) -> list[dict[str, Any]]:
        return await self._all(f"/threats/{threat_id}/notes", "read threat notes")

    async def add_threat_note(self, threat_id: str, text: str, *, ticket_id: uuid.UUID | None = None) -> None:
        body = {"data": {"text": text}, "filter": _ids_filter([threat_id])}
        await self._post("/threats/notes", "add threat notes", body, ticket_id, idempotent=False)

    async def set_threat_status(self, threat_id: str, status: str, *, ticket_id: uuid.UUID | None = None) -> None:
        body = {"data": {"incidentStatus": status}, "filter": _ids_filter([threat_id])}
        await self._post("/threats/incident", "change a threat's incident status", body, ticket_id)

    async def set_threat_verdict(self, threat_id: str, verdict: str, *, ticket_id: uuid.UUID | None = None) -> None:
        body = {"data": {"analystVerdict": verdict}, "filter": _ids_filter([threat_id])}
        await self._post("/threats/analyst-verdict", "change a threat's analyst verdict", body, ticket_id)

    # ---------------------------------------------------------------- cloud-detection alerts

    async def alerts(self, created_after: datetime | None, cursor: str | None = None, limit: int = 100) -> Page:
        params: dict[str, Any] = {"sortBy": "alertInfoCreatedAt", "sortOrder": "asc"}
        if created_after is not None:
            params["createdAt__gt"] = s1_time(created_after)
        return await self._page("/cloud-detection/alerts", "list alerts (Custom Alerts.view)", params, cursor, limit)

    async def alert(self, alert_id: str) -> dict[str, Any] | None:
        page = await self._page("/cloud-detection/alerts", "read an alert", {"ids": alert_id}, None, 1)
        return page.items[0] if page.items else None

    async def set_alert_status(self, alert_id: str, status: str, *, ticket_id: uuid.UUID | None = None) -> None:
        body = {"data": {"incidentStatus": status}, "filter": _ids_filter([alert_id])}
        await self._post("/cloud-detection/alerts/incident", "change an alert's status", body, ticket_id)

    async def set_alert_verdict(self, alert_id: str, verdict: str, *, ticket_id: uuid.UUID | None = None) -> None:
        body = {"data": {"analystVerdict": verdict}, "filter": _ids_filter([alert_id])}
        await self._post(
            "/cloud-detection/alerts/analyst-verdict", "change an alert's analyst verdict", body, ticket_id
        )


@dataclass(frozen=True)
class SentinelOneApi:
    """What the engine hands SentinelOne's handlers: the client, the connection and its token."""

    client: SentinelOneClient
    connection: ConnectionView

    @property
    def token(self) -> str:
        return str(self.connection.secrets.get("api_token") or "")

    def page_size(self) -> int:
        try:
            return max(1, min(MAX_LIMIT, int(self.connection.config.get("page_size") or 200)))
        except (TypeError, ValueError):
            return 200

    async def token_expiry(self) -> datetime | None:
        """When the token expires, as SentinelOne says (token details, else the current user's token)."""
        try:
            details = await self.client.token_details(self.token)
            found = details.get("expiresAt")
        except (InvalidRequest, NotFound, Forbidden, BadPayload):
            # Service-user tokens may not introspect this way: the current user knows its token's expiry.
            user = await self.client.current_user()
            found = lookup(user, "apiToken.expiresAt") or user.get("apiTokenExpiresAt")
        try:
            return maybe_time(found, "expiresAt")
        except RecordError:
            return None

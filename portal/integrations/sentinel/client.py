"""Azure Resource Manager and Microsoft.SecurityInsights, one method per endpoint, on :class:`VendorHttp`.

The client knows paths, the api-version and payload shapes; retries, token refresh, error
classification and the request log are the HTTP base's. Every list follows ``nextLink`` exactly
as given (it already carries the api-version and skip token), and only on the ARM host the
client was built for: a bearer token is never sent anywhere else. A list answer without
``value`` is a bad payload, never "nothing changed".

Incidents are updated the way ARM requires: PUT is a full replace, so every update GETs the
incident, re-applies the change to what it got, and PUTs the whole object with its etag; a
stale etag (409, or 412 for an ``If-Match``) means someone else wrote first: refetch, re-apply,
retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from portal.integrations.errors import BadPayload, Conflict, NotFound
from portal.integrations.http import VendorHttp, json_or_none
from portal.integrations.sentinel.mapping import Workspace

SUBSCRIPTIONS_API_VERSION = "2022-12-01"
WORKSPACES_API_VERSION = "2023-09-01"
MAX_CONFLICT_RETRIES = 3  # an update that keeps losing races this often is left to the outbox's backoff
MAX_LIST_PAGES = 50  # subscriptions, workspaces, comments: a bound, not an expected size
WRITABLE = (
    "title", "description", "severity", "status", "classification", "classificationReason",
    "classificationComment", "owner", "labels", "firstActivityTimeUtc", "lastActivityTimeUtc",
)  # fmt: skip


@dataclass(frozen=True)
class IncidentPage:
    incidents: list[dict[str, Any]]
    next_link: str | None


def describe_arm_error(response: httpx.Response) -> str:
    """ARM's error envelope as ``Code: message`` (the code is what people search for)."""
    data = json_or_none(response)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        return f"{code}: {message}" if code and message else code or message
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def odata_time(moment: datetime) -> str:
    """An unquoted OData datetime literal, to the microsecond (the filter is ``ge``, never ``gt``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _segment(value: str) -> str:
    return quote(value, safe="")


def workspace_path(workspace: Workspace) -> str:
    return (
        f"/subscriptions/{_segment(workspace.subscription)}/resourceGroups/{_segment(workspace.resource_group)}"
        f"/providers/Microsoft.OperationalInsights/workspaces/{_segment(workspace.name)}"
        "/providers/Microsoft.SecurityInsights"
    )


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadPayload(f"Azure sent {what} that is not a JSON object.")
    return data


def _list_of_objects(data: Any, key: str, what: str) -> list[dict[str, Any]]:
    value = _object(data, what).get(key)
    if not isinstance(value, list):
        raise BadPayload(f"Azure sent {what} without a '{key}' list.")
    if not all(isinstance(item, dict) for item in value):
        raise BadPayload(f"Azure sent {what} whose entries are not all objects.")
    return value


class SentinelClient:
    """Calls for one customer tenant (``http`` carries that tenant's token)."""

    def __init__(self, http: VendorHttp, api_version: str) -> None:
        self.http = http
        self.api_version = api_version

    # -- paging ---------------------------------------------------------------------------------

    def _next_link(self, data: Mapping[str, Any], what: str) -> str | None:
        link = data.get("nextLink")
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            raise BadPayload(f"Azure sent {what} whose nextLink is not a string.")
        ours, theirs = urlsplit(self.http.base_url), urlsplit(link)
        if (theirs.scheme, theirs.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
            # The next page would carry our bearer token: only to the ARM host we were configured with.
            raise BadPayload(f"Azure sent {what} whose nextLink points to another host ({theirs.netloc[:100]}).")
        return link

    async def _all(self, path: str, params: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        data = await self.http.json("GET", path, params=params)
        for _ in range(MAX_LIST_PAGES):
            items += _list_of_objects(data, "value", what)
            link = self._next_link(data, what)
            if link is None:
                return items
            data = await self.http.json("GET", link)
        raise BadPayload(f"Azure kept sending pages of {what} (more than {MAX_LIST_PAGES}).")

    # -- ARM: choosing a workspace --------------------------------------------------------------

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        return await self._all("/subscriptions", {"api-version": SUBSCRIPTIONS_API_VERSION}, "a subscription list")

    async def list_workspaces(self, subscription_id: str) -> list[dict[str, Any]]:
        path = f"/subscriptions/{_segment(subscription_id)}/providers/Microsoft.OperationalInsights/workspaces"
        return await self._all(path, {"api-version": WORKSPACES_API_VERSION}, "a workspace list")

    # -- incidents ------------------------------------------------------------------------------

    def _incident_path(self, workspace: Workspace, name: str) -> str:
        return f"{workspace_path(workspace)}/incidents/{_segment(name)}"

    async def list_incidents(
        self,
        workspace: Workspace,
        *,
        modified_since: datetime | None = None,
        top: int = 200,
        next_link: str | None = None,
    ) -> IncidentPage:
        """One page of incidents, oldest change first; ``next_link`` continues a listing as Azure gave it."""
        if next_link:
            data = await self.http.json("GET", next_link)
        else:
            params: dict[str, Any] = {
                "api-version": self.api_version,
                "$orderby": "properties/lastModifiedTimeUtc asc",
                "$top": max(1, min(1000, top)),
            }
            if modified_since is not None:
                params["$filter"] = f"properties/lastModifiedTimeUtc ge {odata_time(modified_since)}"
            data = await self.http.json("GET", f"{workspace_path(workspace)}/incidents", params=params)
        incidents = _list_of_objects(data, "value", "an incident list")
        return IncidentPage(incidents=incidents, next_link=self._next_link(data, "an incident list"))

    async def get_incident(self, workspace: Workspace, name: str) -> dict[str, Any]:
        data = await self.http.json(
            "GET", self._incident_path(workspace, name), params={"api-version": self.api_version}
        )
        return _object(data, "an incident")

    async def put_incident(
        self, workspace: Workspace, name: str, body: Mapping[str, Any], *, ticket_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        data = await self.http.json(
            "PUT", self._incident_path(workspace, name), params={"api-version": self.api_version}, json=dict(body),
            ticket_id=ticket_id,
        )  # fmt: skip
        return _object(data, "a written incident")

    async def update_incident(
        self,
        workspace: Workspace,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        ticket_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """GET, apply ``change`` to the properties, PUT the whole incident with its etag; retry on conflicts.

        ``change`` gets a copy of the current properties and returns the properties to write, or
        None when the incident already says what we want (then nothing is written).
        """
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            current = await self.get_incident(workspace, name)
            properties = current.get("properties")
            if not isinstance(properties, dict):
                raise BadPayload("Azure sent an incident without properties.")
            wanted = change(dict(properties))
            if wanted is None:
                return current
            body: dict[str, Any] = {"properties": {key: wanted[key] for key in WRITABLE if key in wanted}}
            if isinstance(current.get("etag"), str):
                body["etag"] = current["etag"]
            try:
                return await self.put_incident(workspace, name, body, ticket_id=ticket_id)
            except Conflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                continue  # someone else wrote first: refetch and re-apply
        raise AssertionError("unreachable")  # pragma: no cover

    async def create_incident(
        self, workspace: Workspace, name: str, properties: Mapping[str, Any], *, ticket_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        """Create under a client-chosen name; if it exists already (a redelivery), leave it as it is."""
        try:
            return await self.get_incident(workspace, name)
        except NotFound:
            pass
        return await self.put_incident(workspace, name, {"properties": dict(properties)}, ticket_id=ticket_id)

    # -- comments, alerts, entities -------------------------------------------------------------

    async def list_comments(self, workspace: Workspace, name: str) -> list[dict[str, Any]]:
        return await self._all(
            f"{self._incident_path(workspace, name)}/comments", {"api-version": self.api_version}, "a comment list"
        )

    async def put_comment(
        self, workspace: Workspace, name: str, comment_id: str, message: str, *, ticket_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        """Write a comment under a client-chosen id: sending it again rewrites it (200), never a second one."""
        data = await self.http.json(
            "PUT", f"{self._incident_path(workspace, name)}/comments/{_segment(comment_id)}",
            params={"api-version": self.api_version}, json={"properties": {"message": message}}, ticket_id=ticket_id,
        )  # fmt: skip
        return _object(data, "a comment")

    async def list_alerts(self, workspace: Workspace, name: str) -> list[dict[str, Any]]:
        # A POST that only reads: safe to repeat after a timeout.
        data = await self.http.json(
            "POST", f"{self._incident_path(workspace, name)}/alerts", params={"api-version": self.api_version},
            idempotent=True,
        )  # fmt: skip
        return _list_of_objects(data, "value", "an alert list")

    async def list_entities(self, workspace: Workspace, name: str) -> list[dict[str, Any]]:
        data = await self.http.json(
            "POST", f"{self._incident_path(workspace, name)}/entities", params={"api-version": self.api_version},
            idempotent=True,
        )  # fmt: skip
        return _list_of_objects(data, "entities", "an entity list")

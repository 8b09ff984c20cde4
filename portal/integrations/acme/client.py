"""The Acme Cases API, one method per endpoint, on the shared :class:`VendorHttp` base.

The client knows paths and payload shapes; retries, token refresh, error classification and
the request log are the HTTP base's. Whatever Acme answers is checked for the shape its API
promises before anyone reads it: a list without ``value`` is a bad payload, never "no cases".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from portal.integrations.errors import BadPayload, Conflict
from portal.integrations.http import VendorHttp

API = "/api/v1"
MAX_CONFLICT_RETRIES = 3  # an update that keeps losing races this often is left to the outbox's backoff


@dataclass(frozen=True)
class CasePage:
    cases: list[dict[str, Any]]
    next_cursor: str | None


def _segment(value: str) -> str:
    return quote(value, safe="")


def _case_path(tenant: str, case_id: str) -> str:
    return f"{API}/tenants/{_segment(tenant)}/cases/{_segment(case_id)}"


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadPayload(f"Acme sent {what} that is not a JSON object.")
    return data


def _list_of_objects(data: Any, what: str) -> list[dict[str, Any]]:
    """The ``value`` list of a list answer; anything else is a bad payload (not an empty page)."""
    value = _object(data, what).get("value")
    if not isinstance(value, list):
        raise BadPayload(f"Acme sent {what} without a 'value' list.")
    if not all(isinstance(item, dict) for item in value):
        raise BadPayload(f"Acme sent {what} whose entries are not all objects.")
    return value


def acme_time(moment: datetime) -> str:
    """What ``modifiedSince`` expects: UTC with a Z, to the millisecond (Acme's own precision)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AcmeClient:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def list_tenants(self) -> list[dict[str, Any]]:
        return _list_of_objects(await self.http.json("GET", f"{API}/tenants"), "a tenant list")

    async def me(self) -> dict[str, Any]:
        return _object(await self.http.json("GET", f"{API}/me"), "the signed-in user")

    async def list_cases(
        self,
        tenant: str,
        modified_since: datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> CasePage:
        params: dict[str, Any] = {}
        if cursor:
            params["cursor"] = cursor  # the cursor carries its own filter
        elif modified_since is not None:
            params["modifiedSince"] = acme_time(modified_since)
        if limit is not None:
            params["limit"] = limit
        data = await self.http.json("GET", f"{API}/tenants/{_segment(tenant)}/cases", params=params)
        cases = _list_of_objects(data, "a case list")
        next_cursor = data.get("nextCursor")
        if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
            raise BadPayload("Acme sent a case list whose nextCursor is not a string.")
        return CasePage(cases=cases, next_cursor=next_cursor)

    async def get_case(self, tenant: str, case_id: str) -> dict[str, Any]:
        return _object(await self.http.json("GET", _case_path(tenant, case_id)), "a case")

    async def update_case(
        self,
        tenant: str,
        case_id: str,
        changes: Mapping[str, Any],
        etag: str | None = None,
        *,
        ticket_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """PATCH with ``If-Match``; on 412 refetch, re-apply and retry (up to 3 times).

        The changes are absolute values, so re-applying them to the refetched case is the same
        request with the new etag; if the case already has them, nothing is sent at all.
        """
        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            if etag is None:
                case = await self.get_case(tenant, case_id)
                if all(case.get(key) == value for key, value in changes.items()):
                    return case
                etag = case.get("etag")
                if not isinstance(etag, str) or not etag:
                    raise BadPayload("Acme sent a case without an etag.")
            try:
                data = await self.http.json(
                    "PATCH", _case_path(tenant, case_id), json=dict(changes), headers={"If-Match": etag},
                    ticket_id=ticket_id,
                )  # fmt: skip
            except Conflict as exc:
                if exc.status != 412 or attempt == MAX_CONFLICT_RETRIES:
                    raise
                etag = None  # someone else changed it: refetch and re-apply
                continue
            return _object(data, "an updated case")
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_comments(self, tenant: str, case_id: str) -> list[dict[str, Any]]:
        return _list_of_objects(await self.http.json("GET", f"{_case_path(tenant, case_id)}/comments"), "comments")

    async def put_comment(
        self, tenant: str, case_id: str, comment_id: str, body: str, author: str, *, ticket_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        """Write a comment under a client-chosen id: sending it again changes nothing (200, not 201)."""
        data = await self.http.json(
            "PUT",
            f"{_case_path(tenant, case_id)}/comments/{_segment(comment_id)}",
            json={"body": body, "author": author},
            ticket_id=ticket_id,
        )
        return _object(data, "a comment")

"""The Acme Cases API (``/api/v1``): what socdesk's Acme client talks to.

Every route needs a Bearer access token from the emulator's OAuth server (reads need
``cases.read``, writes ``cases.write``). Case lists page by an opaque cursor over
(modifiedAt, id); ``modifiedSince`` is inclusive. Case updates need ``If-Match``; comments are
written with a client-chosen id, so a repeated PUT is a no-op.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from datetime import datetime
from typing import Any

from litestar import MediaType, Request, Response, Router, get, patch, put
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath

from portal.integrations.acme.emulator.state import API_FIELDS, AcmeCase, AcmeError, AcmeState, iso, to_ms
from portal.integrations.emulation.admin import json_object

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
COMMENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def encode_cursor(since: datetime | None, last: AcmeCase) -> str:
    """Opaque to clients: where the next page starts, and the filter it belongs to."""
    raw = json.dumps({"s": iso(since) if since else None, "m": iso(last.modified_at), "i": last.id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, tuple[datetime, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        since = datetime.fromisoformat(data["s"]) if data["s"] else None
        return since, (datetime.fromisoformat(data["m"]), str(data["i"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise AcmeError(400, "InvalidCursor", "The cursor is not one this API issued.") from None


def parse_since(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AcmeError(400, "InvalidValue", "modifiedSince must be an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise AcmeError(400, "InvalidValue", "modifiedSince must include a time zone (Z or an offset).")
    return to_ms(moment)


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise AcmeError(400, "InvalidValue", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(value)


def text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise AcmeError(400, "InvalidValue", f"{key} must be a string.")
    return value


def base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def written(state: AcmeState, body: Any, status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    """A write's answer; the webhook events it caused go out once the answer is sent."""
    return Response(body, status_code=status, headers=headers, background=BackgroundTask(state.webhooks.flush))


def api_router(state: AcmeState) -> Router:
    async def authenticate(request: Request[Any, Any, Any]) -> Response[Any] | None:
        token = state.oauth.validate_bearer(request.headers.get("authorization"))
        if token is None:
            return Response(
                state.control.error_body(
                    401, "InvalidAuthenticationToken", "Access token is missing, invalid or expired."
                ),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        needed = "cases.write" if request.method in WRITE_METHODS else "cases.read"
        if needed not in token.scopes:
            return Response(
                state.control.error_body(403, "InsufficientScope", f"The token lacks the {needed} scope."),
                status_code=403,
            )
        request.state.token = token
        return None

    @get("/tenants", sync_to_thread=False)
    def tenants() -> dict[str, Any]:
        return {"value": [tenant.to_json() for tenant in state.tenants.values()]}

    @get("/me", sync_to_thread=False)
    def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
        token = request.state.token
        return {
            "user": token.subject,
            "tenants": [tenant.to_json() for tenant in state.tenants.values()],
            "scopes": sorted(token.scopes),
        }

    @get("/tenants/{tenant:str}/cases", sync_to_thread=False)
    def list_cases(request: Request[Any, Any, Any], tenant: FromPath[str]) -> dict[str, Any]:
        query = request.query_params
        limit = parse_limit(query.get("limit"))
        cursor = query.get("cursor")
        if cursor:
            since, after = decode_cursor(cursor)
        else:
            since, after = parse_since(query.get("modifiedSince")), None
        cases, more = state.cases_after(tenant, since, after, limit)
        return {
            "value": [case.to_json(base_url(request)) for case in cases],
            "nextCursor": encode_cursor(since, cases[-1]) if more and cases else None,
        }

    @get("/tenants/{tenant:str}/cases/{case_id:str}", sync_to_thread=False)
    def get_case(
        request: Request[Any, Any, Any], tenant: FromPath[str], case_id: FromPath[str]
    ) -> Response[dict[str, Any]]:
        case = state.case(case_id, tenant)
        return Response(case.to_json(base_url(request)), headers={"ETag": case.etag})

    @patch("/tenants/{tenant:str}/cases/{case_id:str}")
    async def update_case(
        request: Request[Any, Any, Any], tenant: FromPath[str], case_id: FromPath[str]
    ) -> Response[Any]:
        case = state.case(case_id, tenant)
        if_match = request.headers.get("if-match")
        if not if_match:
            raise AcmeError(428, "PreconditionRequired", "Send If-Match with the case's etag.")
        if if_match.strip() not in ("*", case.etag):
            raise AcmeError(412, "PreconditionFailed", "The case was changed by someone else (etag mismatch).")
        state.update_case(case, await json_object(request), allowed=API_FIELDS)
        return written(state, case.to_json(base_url(request)), 200, {"ETag": case.etag})

    @get("/tenants/{tenant:str}/cases/{case_id:str}/comments", sync_to_thread=False)
    def list_comments(tenant: FromPath[str], case_id: FromPath[str]) -> dict[str, Any]:
        comments = sorted(state.case(case_id, tenant).comments.values(), key=lambda c: (c.created_at, c.id))
        return {"value": [comment.to_json() for comment in comments]}

    @put("/tenants/{tenant:str}/cases/{case_id:str}/comments/{comment_id:str}")
    async def put_comment(
        request: Request[Any, Any, Any], tenant: FromPath[str], case_id: FromPath[str], comment_id: FromPath[str]
    ) -> Response[Any]:
        case = state.case(case_id, tenant)
        if not COMMENT_ID.match(comment_id):
            raise AcmeError(400, "InvalidValue", "A comment id is 1-128 letters, digits, '.', '_' or '-'.")
        data = await json_object(request)
        comment, created = state.add_comment(
            case, body=text_field(data, "body"), author=text_field(data, "author"), comment_id=comment_id
        )
        return written(state, comment.to_json(), 201 if created else 200)

    return Router(
        path="/api/v1",
        route_handlers=[tenants, me, list_cases, get_case, update_case, list_comments, put_comment],
        before_request=authenticate,
    )


def ui_router(state: AcmeState) -> Router:
    """The page a case's ``url`` points at: enough for a demo's "open in Acme" link to land somewhere."""

    @get("/ui/tenants/{tenant:str}/cases/{case_id:str}", media_type=MediaType.HTML, sync_to_thread=False)
    def case_page(tenant: FromPath[str], case_id: FromPath[str]) -> str:
        case = state.case(case_id, tenant)
        comments = "".join(
            f"<li><strong>{html.escape(c.author)}</strong>: {html.escape(c.body)}</li>" for c in case.comments.values()
        )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Acme case {case.number}</title></head><body><main>"
            f"<h1>#{case.number} {html.escape(case.title)}</h1>"
            f"<p>Severity {case.severity}, status {case.status}, tenant {html.escape(case.tenant)}.</p>"
            f"<p>{html.escape(case.description)}</p><ul>{comments}</ul></main></body></html>"
        )

    return Router(path="/", route_handlers=[case_page])

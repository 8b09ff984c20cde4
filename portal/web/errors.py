"""Errors as people see them: a page, an HTMX-swappable message, or JSON for API clients."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError
from portal.web.auth import session_cookie_name
from portal.web.pages import current_user, is_htmx

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def _render(request: Request[Any, Any, Any], status_code: int, detail: str) -> Response[Any]:
    title = TITLES.get(status_code, "Error")
    if _wants_json(request):
        return Response(
            {"type": "about:blank", "title": title, "status": status_code, "detail": detail},
            status_code=status_code,
            media_type="application/problem+json",
        )
    if is_htmx(request):
        # Errors go to the flash region, whatever the element that asked was aiming at.
        return Template(
            "errors/_message.html",
            context={"status_code": status_code, "title": title, "detail": detail},
            status_code=status_code,
            headers={"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"},
        )
    return Template(
        "errors/error.html",
        context={
            "status_code": status_code,
            "title": title,
            "detail": detail,
            "current_user": current_user(request),
        },
        status_code=status_code,
        media_type=MediaType.HTML,
    )


def not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if request.url.path.startswith("/api/"):
        response = _render(request, 401, str(exc.detail))
        response.headers["WWW-Authenticate"] = 'Bearer realm="socdesk"'
        return response
    if _wants_json(request):
        return _render(request, 401, "Sign in to continue.")
    query: dict[str, str] = {}
    if request.method == "GET" and not is_htmx(request):
        query["next"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    settings = request.app.state.settings
    if request.cookies.get(session_cookie_name(settings)) not in (None, "", "null"):
        query["expired"] = "1"
    target = "/login" + (f"?{urlencode(query)}" if query else "")
    if is_htmx(request):
        return Response(content="", status_code=401, headers={"HX-Redirect": target})
    return Redirect(path=target, status_code=303)


def permission_denied(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    detail = str(exc.detail)
    if "CSRF" in detail:
        log.warning("refused %s %s: CSRF token missing or invalid", request.method, request.url.path)
        detail = "This form has expired or did not come from socdesk. Reload the page and try again."
    return _render(request, 403, detail)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        detail = "The request was not understood: some fields are missing or malformed."
        if _wants_json(request):
            return Response(
                {"type": "about:blank", "title": "Bad request", "status": 400, "detail": detail, "errors": exc.extra},
                status_code=400,
                media_type="application/problem+json",
            )
        return _render(request, 400, detail)
    detail = str(exc.detail) if exc.status_code < 500 else TITLES.get(exc.status_code, "Error")
    return _render(request, exc.status_code, detail)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _render(request, HTTP_500_INTERNAL_SERVER_ERROR, "The error has been logged.")


def not_found(request: Request[Any, Any, Any], exc: NotFoundError) -> Response[Any]:
    # The same answer whether the object is missing or outside the user's clients.
    return _render(request, 404, "Nothing here, or nothing you have access to.")


def forbidden(request: Request[Any, Any, Any], exc: ForbiddenError) -> Response[Any]:
    return _render(request, 403, str(exc) or "You are not allowed to do this.")


def invalid(request: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
    """Last resort for validation errors a handler did not render beside its form fields."""
    if _wants_json(request):
        return Response(
            {
                "type": "about:blank",
                "title": "Invalid input",
                "status": 422,
                "detail": exc.message,
                "errors": exc.fields,
            },
            status_code=422,
            media_type="application/problem+json",
        )
    detail = exc.message + " " + " ".join(f"{field}: {message}" for field, message in exc.fields.items())
    return _render(request, 422, detail)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    NotFoundError: not_found,
    ForbiddenError: forbidden,
    ValidationError: invalid,
    NotAuthorizedException: not_authorized,
    PermissionDeniedException: permission_denied,
    HTTPException: http_error,
    Exception: unexpected_error,
}

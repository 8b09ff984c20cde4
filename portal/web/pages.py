"""Rendering helpers shared by controllers: full pages and HTMX partials from the same templates."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from portal.domain.accounts.models import User


def current_user(request: Request[Any, Any, Any]) -> User | None:
    user = request.scope.get("user")
    return user if isinstance(user, User) else None


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-history-restore-request")


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    partial: str | None = None,
    nav: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The full ``template``, or ``partial`` (a ``_fragment.html``) when HTMX asks for a swap."""
    name = partial if partial and is_htmx(request) else template
    response = Template(
        template_name=name,
        context={"current_user": current_user(request), "nav_active": nav, **context},
        status_code=status_code,
    )
    if partial:
        # One URL answers with a page or a fragment; caches must keep them apart.
        response.headers["Vary"] = "HX-Request"
    return response

"""Sign-in and sign-out pages."""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.accounts.service import authenticate
from portal.domain.accounts.throttle import LoginThrottle
from portal.web.auth import sign_in, sign_out
from portal.web.pages import current_user, page

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "That email and password don't match an active account."


def safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce a fresh session elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    opt = {"exclude_from_auth": True}

    @get("/login", name="login")
    async def login_page(
        self,
        request: Request[Any, Any, Any],
        next: FromQuery[str | None] = None,
        expired: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        if current_user(request) is not None:
            return Redirect(path=safe_next(next), status_code=303)
        notice = None
        if expired:
            notice = "Your session has expired. Sign in again to continue."
        elif request.query_params.get("signed_out"):
            notice = "You have been signed out."
        return page(request, "auth/login.html", next=safe_next(next), notice=notice)

    @post("/login", name="login_submit")
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        login_throttle: NamedDependency[LoginThrottle],
    ) -> Template | Redirect:
        form = await request.form()
        email = str(form.get("email", "")).strip()
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "")))
        address = _client_address(request)

        def refuse(message: str, status_code: int) -> Template:
            return page(request, "auth/login.html", email=email, next=target, error=message, status_code=status_code)

        if not email or not password:
            return refuse("Enter your email and password.", 400)

        verdict = await login_throttle.check(email, address)
        if verdict.blocked:
            minutes = max(1, math.ceil(verdict.retry_after_seconds / 60))
            log.warning("sign-in throttled for an account or address %s", address)
            return refuse(
                f"Too many failed sign-in attempts. Wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
                429,
            )

        user = await authenticate(db_session, email, password)
        if user is None:
            await login_throttle.record_failure(email, address)
            log.info("failed sign-in from %s", address)
            return refuse(BAD_CREDENTIALS, 401)

        await login_throttle.record_success(email)
        sign_in(request, user)
        log.info("user %s signed in from %s", user.id, address)
        return Redirect(path=target, status_code=303)

    @post("/logout", name="logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        sign_out(request)
        return Redirect(path="/login?signed_out=1", status_code=303)

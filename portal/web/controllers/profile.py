"""The signed-in user's own page: who they are, their password, their API tokens."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.accounts.models import User
from portal.domain.accounts.passwords import verify_password
from portal.domain.accounts.service import AccountError, set_password
from portal.domain.accounts.tokens import IssuedToken, create_token, list_tokens, revoke_token, token_state
from portal.domain.errors import ValidationError
from portal.web.auth import sign_in
from portal.web.pages import page


def _me(request: Request[Any, Any, Any]) -> User:
    user: User = request.user
    return user


class ProfileController(Controller):
    path = "/profile"

    async def _render(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        *,
        issued: IssuedToken | None = None,
        token_errors: dict[str, str] | None = None,
        password_errors: dict[str, str] | None = None,
        password_changed: bool = False,
        status_code: int = 200,
    ) -> Template:
        tokens = await list_tokens(db_session, _me(request))
        return page(
            request,
            "profile/index.html",
            tokens=[(token, token_state(token)) for token in tokens],
            issued=issued,
            token_errors=token_errors or {},
            password_errors=password_errors or {},
            password_changed=password_changed,
            status_code=status_code,
        )

    @get("/", name="profile")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        return await self._render(request, db_session)

    @post("/tokens", name="profile_token_create")
    async def create(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        form = await request.form()
        raw_days = str(form.get("expires_in_days", "")).strip()
        try:
            days = int(raw_days) if raw_days else None
        except ValueError:
            return await self._render(
                request, db_session, token_errors={"expires_in_days": "Enter a number of days."}, status_code=422
            )
        try:
            issued = await create_token(db_session, _me(request), str(form.get("name", "")), expires_in_days=days)
        except ValidationError as exc:
            return await self._render(request, db_session, token_errors=exc.fields, status_code=422)
        # Shown in this response only: the digest is all that is kept.
        return await self._render(request, db_session, issued=issued, status_code=201)

    @post("/tokens/{token_id:uuid}/revoke", name="profile_token_revoke")
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], token_id: FromPath[uuid.UUID]
    ) -> Redirect:
        await revoke_token(db_session, _me(request), token_id)
        return Redirect(path="/profile", status_code=303)

    @post("/password", name="profile_password")
    async def change_password(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        form = await request.form()
        me = _me(request)
        current, new, repeat = (str(form.get(key, "")) for key in ("current_password", "new_password", "repeat"))
        if not verify_password(me.password_hash, current):
            errors = {"current_password": "That is not your current password."}
        elif new != repeat:
            errors = {"repeat": "The two new passwords differ."}
        else:
            try:
                await set_password(db_session, me, new)
            except AccountError as exc:
                errors = {"new_password": exc.message}
            else:
                # Changing the password ends every session (see retrieve_user); keep this one going.
                sign_in(request, me)
                return await self._render(request, db_session, password_changed=True)
        return await self._render(request, db_session, password_errors=errors, status_code=422)

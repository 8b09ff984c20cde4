"""Who is signed in: the session's contents, their timeouts, and the user behind them."""

from __future__ import annotations

import time
import uuid
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend
from litestar.security.session_auth import SessionAuth

from portal.config import Settings
from portal.domain.accounts.models import User
from portal.domain.accounts.service import get_active_user
from portal.web.sessions import RotatingSessionConfig, rotate_session_id

USER_ID = "uid"
SIGNED_IN_AT = "auth_at"


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this exact origin, but browsers only accept it over HTTPS.
    return "__Host-socdesk_session" if settings.https else "socdesk_session"


def sign_in(connection: ASGIConnection[Any, Any, Any, Any], user: User) -> None:
    connection.clear_session()
    connection.set_session({USER_ID: str(user.id), SIGNED_IN_AT: time.time()})
    rotate_session_id(connection)


def sign_out(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    connection.clear_session()


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    settings: Settings = connection.app.state.settings
    raw_id = session.get(USER_ID)
    signed_in_at = session.get(SIGNED_IN_AT)
    if not isinstance(raw_id, str) or not isinstance(signed_in_at, int | float):
        return None
    if time.time() - signed_in_at > settings.session_absolute_hours * 3600:
        connection.clear_session()
        return None
    try:
        user_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    alchemy: SQLAlchemyAsyncConfig = connection.app.state.alchemy_config
    db = alchemy.provide_session(connection.app.state, connection.scope)
    user = await get_active_user(db, user_id)
    if user is None or user.password_changed_at.timestamp() > signed_in_at:
        # Deactivated, deleted, or the password changed since this sign-in: the session ends now.
        connection.clear_session()
        return None
    return user


def build_session_auth(settings: Settings) -> SessionAuth[User, ServerSideSessionBackend]:
    return SessionAuth[User, ServerSideSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=RotatingSessionConfig(
            key=session_cookie_name(settings),
            store="sessions",
            max_age=settings.session_idle_minutes * 60,
            renew_on_access=True,
            httponly=True,
            secure=settings.https,
            samesite="lax",
        ),
        exclude_opt_key="exclude_from_auth",
        exclude_http_methods=["OPTIONS"],
    )

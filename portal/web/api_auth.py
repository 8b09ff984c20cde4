"""Bearer-token authentication for the JSON API (no cookies, so no CSRF exposure)."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from portal.domain.accounts.tokens import authenticate_token

API_TOKEN_EXCLUDE_KEY = "exclude_from_token_auth"  # noqa: S105  (an opt key)


class ApiTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: Any) -> None:
        super().__init__(app, exclude_from_auth_key=API_TOKEN_EXCLUDE_KEY)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise NotAuthorizedException("Send a personal API token as 'Authorization: Bearer <token>'.")
        alchemy: SQLAlchemyAsyncConfig = connection.app.state.alchemy_config
        db = alchemy.provide_session(connection.app.state, connection.scope)
        user = await authenticate_token(db, presented.strip())
        if user is None:
            raise NotAuthorizedException("The API token is unknown, revoked or expired.")
        return AuthenticationResult(user=user, auth=None)

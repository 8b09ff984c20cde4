"""Connecting a vendor by signing in there (OAuth): start the sign-in, and take the provider's answer.

The pending sign-ins live in the server-side session (Redis), keyed by state, so an answer is
accepted only in the browser session that started it, once, within 10 minutes, and only from
the provider it was sent to (see :mod:`portal.integrations.oauth`). Redirect targets are fixed
paths built from ids, never taken from the request.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.audit.service import record
from portal.domain.errors import NotFoundError
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox, SecretsUnreadable
from portal.domain.sync.connector import SyncRuntime
from portal.integrations import oauth
from portal.integrations.catalog import MANIFESTS
from portal.web.guards import requires_admin
from portal.web.pages import current_user, is_htmx

PENDING_SESSION_KEY = "oauth_pending"


def connection_path(connection_id: uuid.UUID | str) -> str:
    return f"/integrations/connections/{connection_id}"


def _failed(
    request: Request[Any, Any, Any], detail: str, *, connection_id: uuid.UUID | str | None, status_code: int = 400
) -> Template:
    if is_htmx(request):
        # A Connect button driven by HTMX: the message goes to the flash region, as other errors do.
        return Template(
            "errors/_message.html",
            context={"status_code": status_code, "title": "Cannot sign in", "detail": detail},
            status_code=status_code,
            headers={"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"},
        )
    if connection_id:
        back_url, back_label = connection_path(connection_id), "Back to the connection"
    else:
        back_url, back_label = "/integrations", "Integrations"
    return Template(
        "oauth/failed.html",
        context={
            "status_code": status_code,
            "title": "The sign-in did not connect",
            "detail": detail,
            "back_url": back_url,
            "back_label": back_label,
            "current_user": current_user(request),
            "nav_active": "integrations",
        },
        status_code=status_code,
    )


class OAuthController(Controller):
    @post(
        "/integrations/connections/{connection_id:uuid}/connect",
        name="connection_oauth_connect",
        guards=[requires_admin],
    )
    async def connect(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        """Send the administrator to the provider's sign-in and consent page."""
        access.require_admin()
        connection = await db_session.get(Connection, connection_id)
        if connection is None:
            raise NotFoundError("connection")
        manifest = MANIFESTS.get(connection.vendor)
        if manifest is None or manifest.oauth is None:
            return _failed(request, "This connection does not sign in with OAuth.", connection_id=connection.id)
        try:
            has_secret = bool(secret_box.open(connection.secrets_ciphertext).get("client_secret"))
        except SecretsUnreadable as exc:
            return _failed(request, str(exc), connection_id=connection.id)
        try:
            has_base = bool(oauth.login_base(manifest, connection.config))
        except ValueError:
            has_base = False
        if not has_secret or not connection.config.get("client_id") or not has_base:
            return _failed(
                request,
                "Enter the sign-in address, client id and client secret and save them before signing in.",
                connection_id=connection.id,
            )
        user: User = request.user
        form = await request.form()
        try:
            url, pending = oauth.begin_authorization(
                connection.id, connection.vendor, manifest, connection.config, oauth.redirect_uri(settings),
                user_id=user.id, tenant=str(form.get("tenant") or "") or None,
            )  # fmt: skip
        except ValueError as exc:
            return _failed(request, f"Cannot start the sign-in: {exc}.", connection_id=connection.id)
        entries = oauth.add_pending(request.session.get(PENDING_SESSION_KEY), pending)
        request.set_session({**request.session, PENDING_SESSION_KEY: entries})
        if is_htmx(request):
            # An HTMX button: have htmx navigate the whole page (a 303 would be followed by the XHR).
            return Response(content="", status_code=200, headers={"HX-Redirect": url})
        return Redirect(path=url, status_code=303)

    @get(oauth.CALLBACK_PATH, name="oauth_callback")
    async def callback(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        secret_box: NamedDependency[SecretBox],
        vendor_http_client: NamedDependency[httpx.AsyncClient],
        sync_runtime: NamedDependency[SyncRuntime],
    ) -> Response[Any]:
        """The provider's answer: tokens stored and back to the connection, or a page saying what went wrong."""
        params = {key: str(value) for key, value in request.query_params.items()}
        # The state is spent now, whatever follows (the session is saved with the error page too).
        pending, kept = oauth.take_pending(request.session.get(PENDING_SESSION_KEY), params.get("state", ""))
        request.set_session({**request.session, PENDING_SESSION_KEY: kept})
        user: User = request.user
        connection: Connection | None = None
        if pending is not None and pending.get("kind") == "admin_consent":
            return await self._admin_consent(request, db_session, access, pending, params, user)
        try:
            oauth.check_callback(pending, params, user_id=user.id)
            assert pending is not None
            connection = await db_session.get(Connection, uuid.UUID(str(pending["connection_id"])))
            manifest = MANIFESTS.get(connection.vendor) if connection else None
            if connection is None or manifest is None or connection.vendor != pending.get("vendor"):
                connection = None
                raise oauth.AuthorizationFailed("connection_gone", "The connection no longer exists.")
            tokens = await oauth.complete_authorization(
                pending,
                params,
                client=vendor_http_client,
                recorder=sync_runtime.recorder,
                manifest=manifest,
                config=connection.config,
                client_secret=str(secret_box.open(connection.secrets_ciphertext).get("client_secret") or ""),
                user_id=user.id,
            )
        except (oauth.AuthorizationFailed, SecretsUnreadable) as exc:
            failure = (
                exc if isinstance(exc, oauth.AuthorizationFailed) else oauth.AuthorizationFailed("secrets", str(exc))
            )
            # The connection the state was minted for (the answer's own claims are not trusted).
            target = str(pending["connection_id"]) if pending is not None else None
            await record(
                db_session, access, "connection.oauth_failed", object_type="connection",
                object_id=target or "unknown", object_label=connection.name if connection else "",
                after={"reason": failure.reason, "message": failure.message},
            )  # fmt: skip
            # Error responses roll the request's transaction back; the audit entry must stay.
            await db_session.commit()
            return _failed(request, failure.message, connection_id=target)
        try:
            key = oauth.account_key(manifest, tokens)
        except oauth.AuthorizationFailed as exc:
            return _failed(request, exc.message, connection_id=connection.id)
        await oauth.store_tokens(db_session, secret_box, connection, tokens, key)
        await record(
            db_session, access, "connection.connected", object_type="connection", object_id=connection.id,
            object_label=connection.name,
            after={"scope": tokens.scope, "account": str(tokens.claims.get("sub", "")), "key": key},
        )  # fmt: skip
        return Redirect(path=connection_path(connection.id), status_code=303)

    async def _admin_consent(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        pending: dict[str, Any],
        params: dict[str, str],
        user: User,
    ) -> Response[Any]:
        """An administrator consent answer: nothing to store (no tokens yet), but recorded and said."""
        target = str(pending["connection_id"])
        try:
            tenant = oauth.check_admin_consent(pending, params, user_id=user.id)
        except oauth.AuthorizationFailed as exc:
            await record(
                db_session, access, "connection.admin_consent_failed", object_type="connection", object_id=target,
                after={"reason": exc.reason, "message": exc.message, "tenant": str(pending.get("tenant") or "")},
            )  # fmt: skip
            await db_session.commit()
            return _failed(request, exc.message, connection_id=target)
        await record(
            db_session, access, "connection.admin_consent", object_type="connection", object_id=target,
            after={"tenant": tenant},
        )  # fmt: skip
        flash(
            request,
            f"Administrator consent granted for tenant {tenant}. Now sign in for that tenant to connect it.",
            category="success",
        )
        return Redirect(path=connection_path(target), status_code=303)

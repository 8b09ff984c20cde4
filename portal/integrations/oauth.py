"""The client side of OAuth 2 for vendor connections: sign-in, token storage and refresh.

Sign-in is the authorization-code flow with PKCE (S256), a ``state`` that binds the callback to
the browser session and to the provider it was sent to, and an OpenID ``nonce`` where the vendor
issues id tokens. :func:`begin_authorization` makes the provider URL and the pending record the
web layer keeps in the (server-side) session; :func:`complete_authorization` checks the callback
against that record and exchanges the code.

Tokens live in the connection's encrypted secrets under ``"oauth"``, one token set per account
key (``"default"``; Sentinel keeps one per customer tenant). :class:`OAuthTokens` hands vendor
clients :class:`OAuthCredentials`, which refresh ahead of expiry and after a 401, serialised
across workers by a row lock, and turn a refused refresh into ``needs_reauth``.

Every call to a token endpoint goes through :class:`~portal.integrations.http.VendorHttp`, so it
is in the outbound request log, redacted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.base import utcnow
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.integrations.base import ConnectionView
from portal.integrations.errors import ReauthRequired, Unavailable, VendorError
from portal.integrations.http import RequestRecorder, VendorHttp, default_error_message, json_or_none
from portal.integrations.manifest import Manifest, OAuthSpec
from portal.integrations.tenant_oauth import TenantOAuthSpec, tenant_path

CALLBACK_PATH = "/authcallback"
DEFAULT_KEY = "default"
SECRETS_KEY = "oauth"  # where token sets live inside the connection's secrets
PENDING_TTL_SECONDS = 600
MAX_PENDING = 5  # a few tabs may start a sign-in at once; more is noise (or someone scripting it)
REFRESH_MARGIN = timedelta(minutes=5)
# How long a refresh waits for the connection row. Longer than another worker's refresh can take
# (token endpoint timeout and retries); finite, so a caller that holds the row while calling the
# vendor (and so waits for this refresh) gets an error instead of hanging for ever.
LOCK_WAIT_SECONDS = 60.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout
REAUTH_MESSAGE = "Access was revoked or expired — reconnect (sign in again) to resume syncing."


class AuthorizationFailed(Exception):
    """The callback cannot complete a sign-in. ``reason`` is a stable code for the audit log;
    ``message`` says what happened in words staff can act on (never a secret)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None  # aware UTC; None when the provider did not say
    scope: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)  # from the id token: sub, tid, ...

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "scope": self.scope,
            "claims": dict(self.claims),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenSet:
        expires = data.get("expires_at")
        return cls(
            access_token=str(data.get("access_token") or ""),
            refresh_token=data.get("refresh_token") or None,
            expires_at=datetime.fromisoformat(expires) if expires else None,
            scope=str(data.get("scope") or ""),
            claims=dict(data.get("claims") or {}),
        )


# --- sign-in ------------------------------------------------------------------------------------


def redirect_uri(settings: Settings) -> str:
    """The callback address to register at the provider (shown on the connection setup page)."""
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def _spec(manifest: Manifest) -> OAuthSpec:
    if manifest.oauth is None:
        raise ValueError(f"{manifest.display_name} does not sign in with OAuth")
    return manifest.oauth


def login_base(manifest: Manifest, config: Mapping[str, Any]) -> str:
    """The provider's base address (the configured value named by ``OAuthSpec.base_key``)."""
    spec = _spec(manifest)
    base = str(config.get(spec.base_key) or "").rstrip("/")
    preset = spec.preset(config) if isinstance(spec, TenantOAuthSpec) else None
    if not base and preset is not None:
        base = preset.login_base.rstrip("/")
    if not base:
        raise ValueError(f"{manifest.display_name}: the sign-in address is not configured")
    return base


def sign_in_scopes(spec: OAuthSpec, config: Mapping[str, Any]) -> list[str]:
    """The scopes asked for (and consented to) at the authorize step."""
    preset = spec.preset(config) if isinstance(spec, TenantOAuthSpec) else None
    return list(preset.scopes if preset is not None else spec.scopes)


def _token_scope(spec: OAuthSpec, config: Mapping[str, Any]) -> str | None:
    """What the token endpoint is asked for; None: nothing (the grant's own scopes)."""
    if not isinstance(spec, TenantOAuthSpec):
        return None
    preset = spec.preset(config)
    scopes = preset.token_scopes if preset is not None else spec.token_scopes
    return " ".join(scopes) or None


def account_key(manifest: Manifest, tokens: TokenSet) -> str:
    """Under which key a sign-in's tokens are kept: the account (tenant) it names, or the one default."""
    spec = _spec(manifest)
    if isinstance(spec, TenantOAuthSpec):
        account = str(tokens.claims.get(spec.account_claim) or "")
        if not account:
            raise AuthorizationFailed(
                "no_account", f"The provider's id token does not say which account signed in ({spec.account_claim})."
            )
        return account
    return DEFAULT_KEY


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def begin_authorization(
    connection_id: uuid.UUID,
    vendor: str,
    manifest: Manifest,
    config: Mapping[str, Any],
    redirect_uri: str,
    *,
    user_id: uuid.UUID,
    tenant: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The provider's authorize URL, and the pending record to keep in the session until the callback.

    The record is plain JSON (the session lives in Redis). It names the provider the browser was
    sent to, so the callback identifies the provider from the state alone, never from the request.
    ``tenant`` names the tenant to sign in to, for providers whose paths are per tenant.
    """
    spec = _spec(manifest)
    authorize_path = spec.authorize_path
    if isinstance(spec, TenantOAuthSpec):
        tenant = (tenant or "").strip() or spec.default_tenant
        authorize_path = tenant_path(authorize_path, tenant)  # ValueError for anything but a tenant
    else:
        tenant = None
    client_id = str(config.get("client_id") or "")
    if not client_id:
        raise ValueError(f"{manifest.display_name}: the client id is not configured")
    issuer = login_base(manifest, config)
    state = secrets.token_urlsafe(32)  # 256 bits: unguessable, and a key into the session's pending records
    verifier = secrets.token_urlsafe(64)  # 86 characters, inside RFC 7636's 43 to 128
    nonce = secrets.token_urlsafe(32) if spec.openid else None
    params: dict[str, str] = {
        **spec.extra_authorize_params,
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(sign_in_scopes(spec, config)),
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    if nonce:
        params["nonce"] = nonce
    pending = {
        "state": state,
        "verifier": verifier,
        "nonce": nonce,
        "connection_id": str(connection_id),
        "vendor": vendor,
        "issuer": issuer,
        "redirect_uri": redirect_uri,
        "user_id": str(user_id),
        "created_at": time.time(),
        "tenant": tenant,
    }
    return f"{issuer}/{authorize_path.lstrip('/')}?{urlencode(params)}", pending


def begin_admin_consent(
    connection_id: uuid.UUID,
    vendor: str,
    manifest: Manifest,
    config: Mapping[str, Any],
    redirect_uri: str,
    *,
    user_id: uuid.UUID,
    tenant: str,
    scope: str,
) -> tuple[str, dict[str, Any]]:
    """Entra ID's admin-consent URL for a customer tenant, and its pending record (state-bound like a sign-in).

    An administrator of the customer tenant grants the app tenant-wide; tokens still come from a
    normal sign-in afterwards. Only for :class:`TenantOAuthSpec` providers.
    """
    spec = _spec(manifest)
    if not isinstance(spec, TenantOAuthSpec):
        raise ValueError(f"{manifest.display_name} has no admin consent")
    client_id = str(config.get("client_id") or "")
    if not client_id:
        raise ValueError(f"{manifest.display_name}: the client id is not configured")
    issuer = login_base(manifest, config)
    path = tenant_path("/{tenant}/v2.0/adminconsent", tenant.strip())
    state = secrets.token_urlsafe(32)
    params = {"client_id": client_id, "scope": scope, "redirect_uri": redirect_uri, "state": state}
    pending = {
        "kind": "admin_consent",
        "state": state,
        "connection_id": str(connection_id),
        "vendor": vendor,
        "issuer": issuer,
        "redirect_uri": redirect_uri,
        "user_id": str(user_id),
        "created_at": time.time(),
        "tenant": tenant.strip(),
    }
    return f"{issuer}{path}?{urlencode(params)}", pending


def check_admin_consent(pending: Mapping[str, Any] | None, params: Mapping[str, str], *, user_id: uuid.UUID) -> str:
    """The tenant an admin consent was granted for (the one we sent, never the answer's own claim)."""
    state = params.get("state", "")
    if pending is None or not hmac.compare_digest(str(pending.get("state", "")), state):
        raise AuthorizationFailed("unknown_state", "This consent answer does not belong to this browser session.")
    if pending.get("user_id") != str(user_id):
        raise AuthorizationFailed("other_user", "This consent was started by someone else.")
    if time.time() - float(pending.get("created_at", 0)) >= PENDING_TTL_SECONDS:
        raise AuthorizationFailed("expired", "The consent took longer than 10 minutes. Start it again.")
    if params.get("error"):
        description = (params.get("error_description") or "").strip()[:300]
        raise AuthorizationFailed(
            "consent_refused", f"The administrator consent was not granted ({params['error'][:100]}). {description}"
        )
    if str(params.get("admin_consent", "")).lower() != "true":
        raise AuthorizationFailed("consent_refused", "The provider did not confirm the administrator consent.")
    return str(pending.get("tenant") or "")


def _live(entries: Mapping[str, Any] | None, now: float) -> dict[str, dict[str, Any]]:
    return {
        state: dict(entry)
        for state, entry in (entries or {}).items()
        if isinstance(entry, Mapping) and now - float(entry.get("created_at", 0)) < PENDING_TTL_SECONDS
    }


def add_pending(
    entries: Mapping[str, Any] | None, pending: Mapping[str, Any], *, now: float | None = None
) -> dict[str, dict[str, Any]]:
    """The session's pending sign-ins with ``pending`` added: expired ones dropped, the newest few kept."""
    moment = time.time() if now is None else now
    kept = _live(entries, moment)
    kept[str(pending["state"])] = dict(pending)
    newest = sorted(kept.items(), key=lambda item: float(item[1].get("created_at", 0)))[-MAX_PENDING:]
    return dict(newest)


def take_pending(
    entries: Mapping[str, Any] | None, state: str, *, now: float | None = None
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """Remove the pending sign-in for ``state``: (the record or None, what the session keeps).

    One-time: whatever the outcome of the callback, the state cannot be used again.
    """
    kept = _live(entries, time.time() if now is None else now)
    return kept.pop(state, None) if state else None, kept


def _same_issuer(expected: str, actual: str) -> bool:
    # The configured login base is what we know of the provider. Its issuer identifier is that
    # address or a path below it (Acme: the base; Entra ID: /{tenant}/v2.0), never another origin.
    expected, actual = expected.rstrip("/"), actual.rstrip("/")
    return actual == expected or actual.startswith(expected + "/")


def unverified_claims(id_token: str) -> dict[str, Any]:
    """The payload of a JWT, without checking its signature.

    Only for tokens received straight from the token endpoint over TLS (OIDC Core 3.1.3.7
    allows TLS server validation in place of the signature there), and only to check nonce,
    issuer and audience. Never use it on a token that arrived any other way.
    """
    parts = id_token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    if not isinstance(claims, dict):
        raise ValueError("JWT payload is not an object")
    return claims


def _describe_token_error(response: httpx.Response) -> str:
    """``error: description`` so a refused grant can be told from other failures (see :func:`_oauth_error`)."""
    data = json_or_none(response)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        description = str(data.get("error_description") or "").strip()
        return f"{data['error']}: {description}" if description else str(data["error"])
    return default_error_message(response)


def _oauth_error(exc: VendorError) -> str:
    return exc.message.split(":", 1)[0].strip()


class _ScrubOnly:
    """Credentials for token-endpoint calls: no header (the client authenticates in the form body,
    client_secret_post), no refresh (a 401 here is final), but the secrets the request carries are
    known to the request log, so they are scrubbed even from free-text error descriptions."""

    def __init__(self, values: Iterable[str | None]) -> None:
        self._values = [value for value in values if value]

    async def headers(self) -> dict[str, str]:
        return {}

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> Iterable[str]:
        return list(self._values)


async def _token_request(
    client: httpx.AsyncClient,
    manifest: Manifest,
    config: Mapping[str, Any],
    form: dict[str, str],
    *,
    recorder: RequestRecorder,
    connection_id: uuid.UUID,
    secret_values: Iterable[str | None],
    token_path: str | None = None,
) -> dict[str, Any]:
    http = VendorHttp(
        client,
        login_base(manifest, config),
        recorder=recorder,
        connection_id=connection_id,
        credentials=_ScrubOnly(secret_values),
        describe_error=_describe_token_error,
    )
    # Not idempotent: a code is single-use and a refresh rotates the refresh token, so a retry after
    # a lost answer would fail or lose the grant. (429s are still retried: nothing was processed.)
    data = await http.json(
        "POST",
        token_path or _spec(manifest).token_path,
        data=form,
        idempotent=False,
        headers={"Accept": "application/json"},
    )
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
        raise VendorError("The token endpoint answered without an access token.")
    token_type = str(data.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise VendorError(f"The token endpoint issued a {token_type!r} token; only Bearer tokens are supported.")
    return data


def _token_set(data: Mapping[str, Any], now: datetime, *, previous: TokenSet | None = None) -> TokenSet:
    expires_in = data.get("expires_in")
    try:
        expires_at = now + timedelta(seconds=int(expires_in)) if expires_in is not None else None
    except (TypeError, ValueError):
        expires_at = None
    return TokenSet(
        access_token=str(data["access_token"]),
        # Providers that do not rotate leave the refresh token out of a refresh answer: keep ours.
        refresh_token=str(data.get("refresh_token") or "") or (previous.refresh_token if previous else None),
        expires_at=expires_at,
        scope=str(data.get("scope") or (previous.scope if previous else "")),
        claims=dict(previous.claims) if previous else {},
    )


def check_callback(pending: Mapping[str, Any] | None, params: Mapping[str, str], *, user_id: uuid.UUID) -> str:
    """Check the provider's answer against the pending record before anything else; returns the code.

    ``pending`` is the record :func:`take_pending` removed from *this* session for the answer's
    state (None when there was none). Raises :class:`AuthorizationFailed`.
    """
    state = params.get("state", "")
    if pending is None or not hmac.compare_digest(str(pending.get("state", "")), state):
        raise AuthorizationFailed(
            "unknown_state",
            "This sign-in answer does not belong to a sign-in started in this browser session, or it was "
            "already used or has expired. Start the sign-in again from the connection page.",
        )
    if pending.get("user_id") != str(user_id):
        raise AuthorizationFailed("other_user", "This sign-in was started by someone else. Start it again yourself.")
    if time.time() - float(pending.get("created_at", 0)) >= PENDING_TTL_SECONDS:
        raise AuthorizationFailed("expired", "The sign-in took longer than 10 minutes. Start it again.")
    issuer = str(pending["issuer"])
    returned_issuer = params.get("iss")
    if returned_issuer is not None and not _same_issuer(issuer, returned_issuer):
        # RFC 9207 mix-up defence: the answer came from (or claims to come from) another provider
        # than the one this state was sent to. Its code must not reach our token endpoint.
        raise AuthorizationFailed(
            "issuer_mismatch",
            f"The sign-in answer came from {returned_issuer[:200]!r}, not from {issuer!r} where it was started. "
            "It was refused.",
        )
    if params.get("error"):
        description = (params.get("error_description") or "").strip()[:300]
        error = params["error"][:100]
        if error == "access_denied":
            reason, message = "access_denied", "Sign-in was cancelled or consent was refused at the provider."
        else:
            reason, message = "provider_error", f"The provider refused the sign-in ({error})."
        detail = f"{message} {description}".strip() + " Nothing was connected."
        raise AuthorizationFailed(reason, detail)
    code = params.get("code", "")
    if not code:
        raise AuthorizationFailed("no_code", "The provider's answer carried no authorization code.")
    return code


async def complete_authorization(
    pending: Mapping[str, Any] | None,
    params: Mapping[str, str],
    *,
    client: httpx.AsyncClient,
    recorder: RequestRecorder,
    manifest: Manifest,
    config: Mapping[str, Any],
    client_secret: str,
    user_id: uuid.UUID,
    now: datetime | None = None,
) -> TokenSet:
    """Check the provider's answer (:func:`check_callback`) and exchange the code for tokens.

    The code goes to the token endpoint of the provider the state was sent to, with the PKCE
    verifier. Raises :class:`AuthorizationFailed`.
    """
    code = check_callback(pending, params, user_id=user_id)
    assert pending is not None
    issuer = str(pending["issuer"])
    if login_base(manifest, config) != issuer:
        raise AuthorizationFailed(
            "config_changed", "The connection's sign-in address changed during the sign-in. Start it again."
        )
    client_id = str(config.get("client_id") or "")
    verifier = str(pending["verifier"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": str(pending["redirect_uri"]),
        "code_verifier": verifier,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    spec = _spec(manifest)
    token_path = spec.token_path
    if isinstance(spec, TenantOAuthSpec):
        token_path = tenant_path(token_path, str(pending.get("tenant") or spec.default_tenant))
    scope = _token_scope(spec, config)
    if scope:
        form["scope"] = scope
    moment = now or utcnow()
    try:
        data = await _token_request(
            client, manifest, config, form, recorder=recorder,
            connection_id=uuid.UUID(str(pending["connection_id"])),
            secret_values=(code, verifier, client_secret), token_path=token_path,
        )  # fmt: skip
    except VendorError as exc:
        raise AuthorizationFailed("token_exchange", f"The provider did not issue tokens: {exc.message}") from exc
    tokens = _token_set(data, moment)
    if _spec(manifest).openid:
        claims = _check_id_token(data.get("id_token"), nonce=pending.get("nonce"), issuer=issuer, client_id=client_id)
        tokens = replace(tokens, claims=claims)
    return tokens


def _check_id_token(id_token: Any, *, nonce: Any, issuer: str, client_id: str) -> dict[str, Any]:
    if not isinstance(id_token, str) or not id_token:
        raise AuthorizationFailed("id_token", "The provider issued no id token although OpenID was requested.")
    try:
        # Straight from the token endpoint over TLS: see unverified_claims for why that is enough here.
        claims = unverified_claims(id_token)
    except ValueError as exc:
        raise AuthorizationFailed("id_token", "The provider's id token could not be read.") from exc
    if not isinstance(nonce, str) or not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise AuthorizationFailed("nonce_mismatch", "The id token was not issued for this sign-in (nonce mismatch).")
    if "iss" in claims and not _same_issuer(issuer, str(claims["iss"])):
        raise AuthorizationFailed("issuer_mismatch", "The id token was issued by another provider.")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if audience is not None and client_id not in audiences:
        raise AuthorizationFailed("audience_mismatch", "The id token was issued to another application.")
    # The nonce has done its job; the rest (sub, tid, ...) says which account or tenant signed in.
    return {key: value for key, value in claims.items() if key != "nonce"}


# --- storage -----------------------------------------------------------------------------------


def has_tokens(secrets_: Mapping[str, Any]) -> bool:
    """Whether a connection's (decrypted) secrets hold any OAuth token set: it has been signed in."""
    return any(
        isinstance(data, Mapping) and data.get("access_token") for data in (secrets_.get(SECRETS_KEY) or {}).values()
    )


def stored_tokens(secrets_: Mapping[str, Any], key: str = DEFAULT_KEY) -> TokenSet | None:
    data = (secrets_.get(SECRETS_KEY) or {}).get(key)
    return TokenSet.from_json(data) if isinstance(data, Mapping) and data.get("access_token") else None


def accounts(secrets_: Mapping[str, Any]) -> dict[str, TokenSet]:
    """Every signed-in account's token set by key (one per customer tenant for per-tenant providers)."""
    return {
        str(key): TokenSet.from_json(data)
        for key, data in (secrets_.get(SECRETS_KEY) or {}).items()
        if isinstance(data, Mapping) and data.get("access_token")
    }


def _earliest_expiry(secrets_: Mapping[str, Any]) -> datetime | None:
    moments = [
        tokens.expires_at
        for data in (secrets_.get(SECRETS_KEY) or {}).values()
        if isinstance(data, Mapping)
        for tokens in (TokenSet.from_json(data),)
        if tokens.expires_at is not None
    ]
    return min(moments) if moments else None


def _put_tokens(box: SecretBox, connection: Connection, tokens: TokenSet, key: str) -> None:
    values = box.open(connection.secrets_ciphertext)
    values[SECRETS_KEY] = {**(values.get(SECRETS_KEY) or {}), key: tokens.to_json()}
    connection.secrets_ciphertext = box.seal(values)
    connection.access_token_expires_at = _earliest_expiry(values)


async def lock_connection(session: AsyncSession, connection_id: uuid.UUID) -> Connection | None:
    """Load the connection locked for changing its secrets (anyone rewriting ``secrets_ciphertext``
    should: a token refresh in a worker rewrites it too, and the later write would drop the other's)."""
    # FOR NO KEY UPDATE, not FOR UPDATE: it serialises token writers just the same, but does not
    # conflict with the KEY SHARE locks that inserting rows referencing the connection takes: the
    # outbound-log row written while we wait on the token endpoint, and the sync run or outbox
    # rows of the job transaction that is waiting for this refresh. FOR UPDATE would deadlock on both.
    return await session.scalar(
        select(Connection)
        .where(Connection.id == connection_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


async def store_tokens(
    session: AsyncSession, box: SecretBox, connection: Connection, tokens: TokenSet, key: str = DEFAULT_KEY
) -> None:
    """Keep ``tokens`` (encrypted) as the connection's token set ``key``; the connection is connected again.

    The row is locked and re-read first, so secrets another transaction stored meanwhile (a
    worker's refresh of another key, a new client secret) are kept, not overwritten.
    """
    locked = await lock_connection(session, connection.id)
    if locked is None:
        raise LookupError("connection is gone")
    _put_tokens(box, locked, tokens, key)
    if locked.status != ConnectionStatus.DISABLED.value:  # signing in again does not re-enable a disabled one
        locked.status = ConnectionStatus.CONNECTED.value
        locked.status_message = ""
    await session.flush()


# --- using and refreshing tokens ---------------------------------------------------------------


class OAuthCredentials:
    """Bearer credentials from one stored token set, refreshed ahead of expiry and after a 401.

    Several workers may hold credentials for the same connection. A refresh locks the connection
    row, so only one of them calls the token endpoint; the others find the new token on file and
    use it. That matters beyond saving a call: with rotation, the refresh token a loser would
    send has just been spent, and the provider would answer ``invalid_grant``.
    """

    def __init__(
        self,
        connection: ConnectionView,
        manifest: Manifest,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        client: httpx.AsyncClient,
        recorder: RequestRecorder,
        key: str = DEFAULT_KEY,
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] = utcnow,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        _spec(manifest)
        self.connection_id = connection.id
        self.key = key
        self._manifest = manifest
        self._config = dict(connection.config)
        self._client_secret = str(connection.secrets.get("client_secret") or "")
        self._tokens = stored_tokens(connection.secrets, key)
        self._sessionmaker = sessionmaker
        self._box = box
        self._client = client
        self._recorder = recorder
        self._margin = margin
        self._clock = clock
        self._lock_wait_ms = max(1, round(lock_wait_seconds * 1000))
        self._lock = asyncio.Lock()  # one refresh at a time within this process, too

    @property
    def tokens(self) -> TokenSet | None:
        return self._tokens

    async def headers(self) -> dict[str, str]:
        tokens = self._tokens
        if tokens is None or tokens.expires_within(self._margin, self._clock()):
            await self._renew(forced=False, stale=tokens.access_token if tokens else None)
            tokens = self._tokens
        assert tokens is not None
        return {"Authorization": f"Bearer {tokens.access_token}"}

    async def refresh(self) -> bool:
        """After a 401: a token newer than the refused one (another worker's, or a fresh refresh)."""
        stale = self._tokens.access_token if self._tokens else None
        await self._renew(forced=True, stale=stale)
        return self._tokens is not None and self._tokens.access_token != stale

    def known_secrets(self) -> Iterable[str]:
        values = [self._client_secret]
        if self._tokens is not None:
            values += [self._tokens.access_token, self._tokens.refresh_token or ""]
        return [value for value in values if value]

    def _fresh(self, tokens: TokenSet | None) -> bool:
        return tokens is not None and not tokens.expires_within(self._margin, self._clock())

    async def _renew(self, *, forced: bool, stale: str | None) -> None:
        async with self._lock:
            if self._tokens is not None and self._tokens.access_token != stale and self._fresh(self._tokens):
                return  # renewed by another caller in this process while we waited
            failure: ReauthRequired | None = None
            async with self._sessionmaker() as session, session.begin():
                await session.execute(text(f"SET LOCAL lock_timeout = {self._lock_wait_ms}"))
                try:
                    connection = await lock_connection(session, self.connection_id)
                except DBAPIError as exc:
                    if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                        raise
                    raise Unavailable(
                        "The connection's tokens are locked by another transaction; the refresh will be retried."
                    ) from exc
                if connection is None:
                    raise ReauthRequired("The connection no longer exists.")
                values = self._box.open(connection.secrets_ciphertext)
                self._client_secret = str(values.get("client_secret") or self._client_secret)
                stored = stored_tokens(values, self.key)
                if stored is not None and self._fresh(stored) and (stored.access_token != stale or not forced):
                    # Another worker refreshed while we waited for the lock (or our copy was old).
                    self._tokens = stored
                    return
                outcome = await self._refresh_locked(connection, stored)
                if isinstance(outcome, TokenSet):
                    self._tokens = outcome
                else:
                    connection.status = ConnectionStatus.NEEDS_REAUTH.value
                    connection.status_message = outcome.message
                    failure = outcome
            if failure is not None:
                raise failure  # only now: leaving the block above committed the status change

    def _reauth_message(self) -> str:
        """Which account to sign in again for, when a connection holds several (a Sentinel customer tenant)."""
        if self.key == DEFAULT_KEY:
            return REAUTH_MESSAGE
        return REAUTH_MESSAGE.replace("reconnect (sign in again)", f"sign in again for {self.key[:80]}")

    async def _refresh_locked(self, connection: Connection, stored: TokenSet | None) -> TokenSet | ReauthRequired:
        """Refresh while holding the row lock: the new token set (stored), or why a person must sign in again."""
        if stored is None or not stored.refresh_token:
            return ReauthRequired(self._reauth_message())
        config = {**self._config, **connection.config}
        form = {
            "grant_type": "refresh_token",
            "refresh_token": stored.refresh_token,
            "client_id": str(config.get("client_id") or ""),
            "client_secret": self._client_secret,
        }
        spec = _spec(self._manifest)
        token_path = spec.token_path
        if isinstance(spec, TenantOAuthSpec):
            # Each tenant's grant is refreshed at that tenant (its key is the tenant id).
            token_path = tenant_path(token_path, self.key)
        scope = _token_scope(spec, config)
        if scope:
            form["scope"] = scope
        try:
            data = await _token_request(
                self._client, self._manifest, config, form, recorder=self._recorder,
                connection_id=self.connection_id,
                secret_values=(stored.refresh_token, stored.access_token, self._client_secret),
                token_path=token_path,
            )  # fmt: skip
        except VendorError as exc:
            if _oauth_error(exc) != "invalid_grant":
                raise  # the provider is down or refuses the client: not something a person's sign-in fixes
            # Refused for good (revoked consent, expired or already-spent refresh token). No retry:
            # the same token would be refused again.
            return ReauthRequired(self._reauth_message(), status=exc.status)
        fresh = _token_set(data, self._clock(), previous=stored)
        # The new access token and the rotated refresh token are written together; the spent
        # refresh token is no longer stored anywhere.
        _put_tokens(self._box, connection, fresh, self.key)
        if connection.status == ConnectionStatus.NEEDS_REAUTH.value:
            connection.status = ConnectionStatus.CONNECTED.value
            connection.status_message = ""
        return fresh


class OAuthTokens:
    """The :class:`~portal.integrations.base.TokenSource` for OAuth vendors (workers and web alike)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        client: httpx.AsyncClient,
        recorder: RequestRecorder,
        *,
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] = utcnow,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._box = box
        self._client = client
        self._recorder = recorder
        self._margin = margin
        self._clock = clock
        self._lock_wait_seconds = lock_wait_seconds

    def credentials(self, connection: ConnectionView, manifest: Manifest, key: str = DEFAULT_KEY) -> OAuthCredentials:
        return OAuthCredentials(
            connection, manifest, sessionmaker=self._sessionmaker, box=self._box, client=self._client,
            recorder=self._recorder, key=key, margin=self._margin, clock=self._clock,
            lock_wait_seconds=self._lock_wait_seconds,
        )  # fmt: skip

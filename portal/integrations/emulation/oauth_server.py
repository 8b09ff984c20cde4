"""An OAuth 2.0 authorization server to sign in to, as strict as the real ones where it matters.

Authorization code with PKCE (S256 only), single-use codes that expire, a consent page with
real Accept/Cancel forms, ``iss`` on every redirect (RFC 9207), refresh-token rotation (the old
refresh token is dead once used), OpenID id tokens carrying the nonce, and knobs to expire
access tokens or revoke every grant. :class:`OAuthServer` holds the state and the rules and
knows nothing of HTTP frameworks; :func:`oauth_router` mounts it in a Litestar app at any path
(Acme: ``/oauth``; Microsoft: ``/{tenant}/oauth2/v2.0``), :func:`oauth_admin_router` exposes
the knobs under ``/_emulator/oauth``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from litestar import MediaType, Request, Response, Router, get, post
from litestar.exceptions import HTTPException

from portal.integrations.emulation.admin import json_object
from portal.integrations.emulation.clock import EmulatorClock

PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256 digest, unpadded
PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1

# The issuer: fixed, derived from (base URL, path parameters) like Microsoft's per-tenant one,
# or None for "wherever the server is reached" (the request's base URL).
Issuer = str | Callable[[str, Mapping[str, str]], str] | None


class OAuthError(Exception):
    """An RFC 6749 error response: ``error`` is the code clients branch on.

    ``reason`` names the rule that refused (``pkce``, ``refresh_revoked``...), so a vendor's
    server can answer in its own words (:meth:`OAuthServer.error_json`).
    """

    def __init__(self, error: str, description: str, *, status: int = 400, reason: str = "") -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.reason = reason

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class Principal:
    """Who signed in: the server's one default account, or a person from a vendor's directory."""

    subject: str
    tenant_id: str
    claims: Mapping[str, Any] = field(default_factory=dict)  # extra id-token claims (name, oid...)


@dataclass(frozen=True)
class TokenInfo:
    """What a valid access token grants: the API emulator's view of the caller."""

    client_id: str
    subject: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: datetime
    audience: str = ""  # the resource the token is for, where the vendor has several
    claims: Mapping[str, Any] = field(default_factory=dict)  # the principal's extra claims


@dataclass(frozen=True)
class BearerCheck:
    """An ``Authorization`` header judged: the grant, or why there is none
    (``missing``, ``invalid``, ``expired``, ``revoked``)."""

    info: TokenInfo | None
    problem: str = ""


@dataclass
class PendingConsent:
    """An authorization request shown on the consent page, waiting for Accept or Cancel."""

    id: str
    client: RegisteredClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str
    nonce: str | None
    issuer: str
    expires_at: datetime
    principal: Principal | None = None  # None: nobody has signed in yet (servers with a directory)
    params: Mapping[str, str] = field(default_factory=dict)  # the authorization request as sent
    context: Mapping[str, str] = field(default_factory=dict)  # path parameters (e.g. the tenant)


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    nonce: str | None
    issuer: str
    expires_at: datetime
    used: bool = False
    tokens: list[str] = field(default_factory=list)  # revoked if the code is replayed
    principal: Principal | None = None


@dataclass
class _AccessToken:
    info: TokenInfo
    revoked: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    scopes: tuple[str, ...]
    issuer: str
    active: bool = True
    principal: Principal | None = None
    issued_at: datetime | None = None
    ended: str = ""  # why it no longer works: "rotated", "revoked", "replayed"


@dataclass(frozen=True)
class AuthorizeStep:
    """What the authorize endpoint does next: show an error page, redirect, or ask for consent."""

    error_page: str = ""
    location: str = ""
    consent: PendingConsent | None = None
    page: str = ""  # any other HTML to show (a sign-in form, a form_post answer)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def with_query(url: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class OAuthServer:
    def __init__(
        self,
        clock: EmulatorClock | None = None,
        *,
        subject: str = "analyst@vendor.test",
        tenant_id: str = "00000000-0000-0000-0000-000000000001",
        display_name: str = "Emulated vendor",
        issuer: Issuer = None,
        scopes_supported: Collection[str] | None = None,
        access_token_lifetime: int = 3600,
        code_lifetime: int = 600,
        refresh_token_lifetime: int | None = None,  # None: refresh tokens never expire by age
    ) -> None:
        self.clock = clock or EmulatorClock()
        self.subject = subject
        self.tenant_id = tenant_id
        self.display_name = display_name
        self.issuer = issuer
        self.scopes_supported = frozenset(scopes_supported) if scopes_supported is not None else None
        self.access_token_lifetime = access_token_lifetime
        self.code_lifetime = code_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.auto_approve = False
        self.clients: dict[str, RegisteredClient] = {}
        self._consents: dict[str, PendingConsent] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}

    # -- knobs ---------------------------------------------------------------------------------

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Sequence[str], name: str = ""
    ) -> RegisteredClient:
        client = RegisteredClient(client_id, client_secret, tuple(redirect_uris), name or client_id)
        self.clients[client_id] = client
        return client

    def issue_tokens(
        self,
        client_id: str,
        scopes: Sequence[str],
        *,
        nonce: str | None = None,
        issuer: str = "http://emulator.test",
        principal: Principal | None = None,
    ) -> dict[str, Any]:
        """A token response minted directly, for tests that skip the browser sign-in."""
        resolved = self.issuer if isinstance(self.issuer, str) else issuer
        return self._mint(client_id, tuple(scopes), resolved, nonce, principal=principal)

    def expire_access_tokens(self, *, subject: str | None = None) -> int:
        """Every live access token (of ``subject``, or everyone's) is now expired; refresh tokens still work."""
        now = self.clock.now()
        live = [
            token
            for token in self._access.values()
            if not token.revoked and now < token.info.expires_at and (subject is None or token.info.subject == subject)
        ]
        for token in live:
            token.info = replace(token.info, expires_at=now)
        return len(live)

    def revoke_refresh_tokens(self, *, subject: str | None = None) -> int:
        """Every grant (of ``subject``, or everyone's) is gone: refreshing answers invalid_grant."""
        live = [
            token
            for token in self._refresh.values()
            if token.active and (subject is None or self._principal(token.principal).subject == subject)
        ]
        for token in live:
            token.active = False
            token.ended = "revoked"
        return len(live)

    def reset(self) -> None:
        self.auto_approve = False
        self.clients.clear()
        self._consents.clear()
        self._codes.clear()
        self._access.clear()
        self._refresh.clear()

    def validate_bearer(self, header: str | None) -> TokenInfo | None:
        """The grant behind an ``Authorization: Bearer`` header, or None when it is not (or no longer) valid."""
        check = self.check_bearer(header)
        return None if check.problem else check.info

    def check_bearer(self, header: str | None) -> BearerCheck:
        """Like :meth:`validate_bearer`, saying why a header grants nothing (APIs word each case apart)."""
        if not header:
            return BearerCheck(None, "missing")
        scheme, _, value = header.partition(" ")
        token = self._access.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return BearerCheck(None, "invalid")
        if token.revoked:
            return BearerCheck(token.info, "revoked")
        if self.clock.now() >= token.info.expires_at:
            return BearerCheck(token.info, "expired")
        return BearerCheck(token.info)

    def issuer_for(self, base_url: str, path_params: Mapping[str, str] | None = None) -> str:
        if self.issuer is None:
            return base_url.rstrip("/")
        if isinstance(self.issuer, str):
            return self.issuer
        return self.issuer(base_url.rstrip("/"), path_params or {})

    # -- authorization endpoint ----------------------------------------------------------------

    def begin_authorization(
        self, params: Mapping[str, str], issuer: str, context: Mapping[str, str] | None = None
    ) -> AuthorizeStep:
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return AuthorizeStep(error_page="This application is not registered (unknown client_id).")
        redirect_uri = params.get("redirect_uri") or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
        if redirect_uri not in client.redirect_uris:
            # Never redirect to an address the application did not register: that is how codes get stolen.
            return AuthorizeStep(error_page="The redirect_uri is not registered for this application.")

        def refuse(error: str, description: str) -> AuthorizeStep:
            extras = self.redirect_extras(issuer)
            return AuthorizeStep(
                location=with_query(
                    redirect_uri,
                    {"error": error, "error_description": description, "state": params.get("state"), **extras},
                )
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "Only response_type=code is supported.")
        if params.get("code_challenge_method") != "S256" or not PKCE_CHALLENGE.match(params.get("code_challenge", "")):
            return refuse("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256.")
        scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
        if not scopes:
            return refuse("invalid_scope", "Ask for at least one scope.")
        if self.scopes_supported is not None and not set(scopes) <= self.scopes_supported:
            unknown = ", ".join(sorted(set(scopes) - self.scopes_supported))
            return refuse("invalid_scope", f"Unknown scope(s): {unknown}.")
        consent = PendingConsent(
            id=secrets.token_urlsafe(16),
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=params.get("state"),
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            issuer=issuer,
            expires_at=self.clock.now() + timedelta(seconds=self.code_lifetime),
            params=dict(params),
            context=dict(context or {}),
        )
        return self.next_step(consent)

    # -- hooks a vendor's server overrides (the defaults are the plain RFC behaviour) ------------

    def next_step(self, consent: PendingConsent) -> AuthorizeStep:
        """What follows a valid authorization request: approve at once, or ask for consent."""
        if self.auto_approve:
            return AuthorizeStep(location=self.approve(consent))
        return AuthorizeStep(consent=self.hold(consent))

    def submit(self, request_id: str, form: Mapping[str, str]) -> AuthorizeStep:
        """A form on an authorization page was posted (by default: the consent page's)."""
        return self.decide(request_id, form.get("decision", "") == "accept")

    def redirect_extras(self, issuer: str) -> dict[str, str]:
        """Parameters every redirect back to the client carries (RFC 9207's ``iss`` by default)."""
        return {"iss": issuer}

    def declined(self, consent: PendingConsent) -> dict[str, str]:
        """The error parameters of a redirect after the person pressed Cancel."""
        return {"error": "access_denied", "error_description": "The user declined."}

    def token_scopes(self, granted: tuple[str, ...], form: Mapping[str, str], grant_type: str) -> tuple[str, ...]:
        """The scopes a token request gets: a code's grant, or a refresh's narrowing of it."""
        if grant_type == "refresh_token" and form.get("scope"):
            asked = tuple(dict.fromkeys(form["scope"].split()))
            if not set(asked) <= set(granted):
                raise OAuthError("invalid_scope", "A refresh cannot widen the granted scopes.", reason="scope_widen")
            return asked
        return granted

    def audience_for(self, scopes: tuple[str, ...]) -> str:
        """The resource an access token for ``scopes`` is for ("" where the vendor has one API)."""
        return ""

    def issues_refresh_token(self, scopes: tuple[str, ...]) -> bool:
        return True

    def shape_token_response(self, response: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The token endpoint's success body as the vendor words it."""
        return response

    def id_token_claims(self, claims: dict[str, Any], principal: Principal) -> dict[str, Any]:
        return claims

    def error_json(self, exc: OAuthError) -> dict[str, Any]:
        """The token endpoint's error body as the vendor words it."""
        return exc.to_json()

    def check_context(self, context: Mapping[str, str]) -> None:
        """Refuse a token request whose path parameters name nothing the server knows (raise OAuthError)."""

    # -- building blocks for the hooks -----------------------------------------------------------

    def grant_principal(self, form: Mapping[str, str]) -> Principal | None:
        """Who the code or refresh token of a token request was issued to (None: unknown or the default)."""
        if form.get("grant_type") == "authorization_code":
            code = self._codes.get(form.get("code", ""))
            return code.principal if code else None
        refresh = self._refresh.get(form.get("refresh_token", ""))
        return refresh.principal if refresh else None

    def hold(self, consent: PendingConsent) -> PendingConsent:
        """Keep a request for a later form post (:meth:`pending` finds it again)."""
        self._consents[consent.id] = consent
        return consent

    def pending(self, request_id: str) -> PendingConsent | None:
        """A held request that has not expired (it stays held)."""
        consent = self._consents.get(request_id)
        if consent is None or self.clock.now() >= consent.expires_at:
            return None
        return consent

    def decide(self, request_id: str, accept: bool) -> AuthorizeStep:
        """The person pressed Accept or Cancel on the consent page."""
        consent = self._consents.pop(request_id, None)
        if consent is None or self.clock.now() >= consent.expires_at:
            return AuthorizeStep(error_page="This sign-in request has expired or was already answered. Start again.")
        if not accept:
            return AuthorizeStep(location=self.redirect(consent, self.declined(consent)))
        return AuthorizeStep(location=self.approve(consent))

    def redirect(self, consent: PendingConsent, params: Mapping[str, str]) -> str:
        """The client's redirect address with ``params``, its ``state`` and the server's extras."""
        self._consents.pop(consent.id, None)
        return with_query(
            consent.redirect_uri, {**params, "state": consent.state, **self.redirect_extras(consent.issuer)}
        )

    def approve(self, consent: PendingConsent) -> str:
        """Issue the authorization code: the redirect that carries it."""
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(
            client_id=consent.client.client_id,
            redirect_uri=consent.redirect_uri,
            scopes=consent.scopes,
            code_challenge=consent.code_challenge,
            nonce=consent.nonce,
            issuer=consent.issuer,
            expires_at=self.clock.now() + timedelta(seconds=self.code_lifetime),
            principal=consent.principal,
        )
        return self.redirect(consent, {"code": code})

    # -- token endpoint ------------------------------------------------------------------------

    def token(
        self, form: Mapping[str, str], authorization: str | None, context: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The token endpoint's answer; raises :class:`OAuthError` with the RFC 6749 error code."""
        self.check_context(context or {})
        client = self._authenticate(form, authorization)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client, form)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.", reason="grant_type")

    def _authenticate(self, form: Mapping[str, str], authorization: str | None) -> RegisteredClient:
        basic = (authorization or "").startswith("Basic ")
        if basic:
            if form.get("client_secret"):
                raise OAuthError("invalid_request", "Authenticate the client one way only.")
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()  # type: ignore[index]
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(
                    "invalid_client", "Malformed Basic credentials.", status=401, reason="client_auth"
                ) from None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote(raw_id), unquote(raw_secret)
            if form.get("client_id") and form["client_id"] != client_id:
                raise OAuthError("invalid_request", "client_id differs from the authenticated client.")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client", "Client authentication failed.", status=401 if basic else 400, reason="client_unknown"
            )
        if not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            # RFC 6749 5.2: a client that authenticated with the Authorization header gets a 401.
            raise OAuthError(
                "invalid_client", "Client authentication failed.", status=401 if basic else 400, reason="client_secret"
            )
        return client

    def _exchange_code(self, client: RegisteredClient, form: Mapping[str, str]) -> dict[str, Any]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The authorization code is invalid.", reason="code_invalid")
        if code.used:
            # A replayed code may be a stolen one: revoke what it already produced (RFC 6749 4.1.2).
            for token in code.tokens:
                if token in self._access:
                    self._access[token].revoked = True
                if token in self._refresh:
                    self._refresh[token].active = False
                    self._refresh[token].ended = "replayed"
            raise OAuthError("invalid_grant", "The authorization code was already used.", reason="code_used")
        code.used = True
        if self.clock.now() >= code.expires_at:
            raise OAuthError("invalid_grant", "The authorization code has expired.", reason="code_expired")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(
                "invalid_grant", "redirect_uri does not match the authorization request.", reason="redirect_mismatch"
            )
        verifier = form.get("code_verifier", "")
        if not PKCE_VERIFIER.match(verifier) or not hmac.compare_digest(s256(verifier), code.code_challenge):
            raise OAuthError("invalid_grant", "PKCE verification failed (code_verifier).", reason="pkce")
        scopes = self.token_scopes(code.scopes, form, "authorization_code")
        response = self._mint(
            client.client_id, scopes, code.issuer, code.nonce, principal=code.principal, grant=code.scopes
        )
        code.tokens += [response["access_token"], response.get("refresh_token", "")]
        return response

    def _refresh_grant(self, client: RegisteredClient, form: Mapping[str, str]) -> dict[str, Any]:
        grant = self._refresh.get(form.get("refresh_token", ""))
        dead = "The refresh token is invalid, expired or revoked."
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", dead, reason="refresh_invalid")
        if not grant.active:
            raise OAuthError("invalid_grant", dead, reason=f"refresh_{grant.ended or 'revoked'}")
        lifetime = self.refresh_token_lifetime
        issued = grant.issued_at
        if lifetime is not None and issued and self.clock.now() >= issued + timedelta(seconds=lifetime):
            grant.active, grant.ended = False, "expired"
            raise OAuthError("invalid_grant", dead, reason="refresh_expired")
        scopes = self.token_scopes(grant.scopes, form, "refresh_token")
        grant.active, grant.ended = False, "rotated"  # rotation: the old refresh token is spent
        # The grant keeps everything consented, whichever resource this one token is for.
        return self._mint(
            client.client_id, scopes, grant.issuer, None, id_token=False, principal=grant.principal, grant=grant.scopes
        )

    def _principal(self, principal: Principal | None) -> Principal:
        return principal or Principal(self.subject, self.tenant_id)

    def _mint(
        self,
        client_id: str,
        scopes: tuple[str, ...],
        issuer: str,
        nonce: str | None,
        *,
        id_token: bool = True,
        principal: Principal | None = None,
        grant: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        who = self._principal(principal)
        access = "at_" + secrets.token_urlsafe(32)
        self._access[access] = _AccessToken(
            TokenInfo(
                client_id=client_id,
                subject=who.subject,
                tenant_id=who.tenant_id,
                scopes=frozenset(scopes),
                expires_at=now + timedelta(seconds=self.access_token_lifetime),
                audience=self.audience_for(scopes),
                claims=dict(who.claims),
            )
        )
        response: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.access_token_lifetime,
            "scope": " ".join(scopes),
        }
        if self.issues_refresh_token(scopes):
            refresh = "rt_" + secrets.token_urlsafe(32)
            self._refresh[refresh] = _RefreshToken(
                client_id=client_id, scopes=grant or scopes, issuer=issuer, principal=principal, issued_at=now
            )
            response["refresh_token"] = refresh
        if id_token and "openid" in scopes:
            response["id_token"] = self._id_token(client_id, issuer, nonce, now, who)
        return self.shape_token_response(response, who)

    def _id_token(self, client_id: str, issuer: str, nonce: str | None, now: datetime, who: Principal) -> str:
        """A well-formed but unsigned JWT (alg "none"): the emulator has no keys to publish."""
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": client_id,
            "sub": who.subject,
            "tid": who.tenant_id,
            "preferred_username": who.subject,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.access_token_lifetime,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims = self.id_token_claims(claims | dict(who.claims), who)
        header = {"alg": "none", "typ": "JWT"}
        return f"{_b64url_json(header)}.{_b64url_json(claims)}."


# -- HTTP ------------------------------------------------------------------------------------------


def consent_page(server: OAuthServer, consent: PendingConsent, action: str) -> str:
    scopes = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in consent.scopes)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Sign in to {html.escape(server.display_name)}</title></head><body><main>"
        f"<h1>{html.escape(server.display_name)}</h1>"
        f"<p>Signed in as <strong>{html.escape(server.subject)}</strong>.</p>"
        f"<p><strong>{html.escape(consent.client.name)}</strong> wants permission to:</p><ul>{scopes}</ul>"
        f"<form method='post' action='{html.escape(action)}'>"
        f"<input type='hidden' name='request' value='{html.escape(consent.id)}'>"
        "<button type='submit' name='decision' value='accept'>Accept</button> "
        "<button type='submit' name='decision' value='cancel'>Cancel</button>"
        "</form></main></body></html>"
    )


def error_page(message: str) -> Response[str]:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Sign-in error</title></head>"
        f"<body><main><h1>Sign-in error</h1><p>{html.escape(message)}</p></main></body></html>"
    )
    return Response(body, status_code=400, media_type=MediaType.HTML)


def _answer(step: AuthorizeStep, server: OAuthServer, action: str) -> Response[str]:
    if step.error_page:
        return error_page(step.error_page)
    if step.location:
        return Response("", status_code=302, headers={"Location": step.location}, media_type=MediaType.TEXT)
    if step.page:
        return Response(step.page, status_code=200, media_type=MediaType.HTML)
    assert step.consent is not None
    return Response(consent_page(server, step.consent, action), media_type=MediaType.HTML)


def _path_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in request.path_params.items()}


def _issuer(server: OAuthServer, request: Request[Any, Any, Any]) -> str:
    return server.issuer_for(str(request.base_url), _path_params(request))


def oauth_router(
    server: OAuthServer,
    *,
    path: str = "/oauth",
    authorize_path: str = "/authorize",
    token_path: str = "/token",  # noqa: S107  (a path, not a password)
) -> Router:
    """The authorize and token endpoints, mountable at any path (path parameters allowed)."""

    @get(authorize_path, media_type=MediaType.HTML, sync_to_thread=False)
    def authorize(request: Request[Any, Any, Any]) -> Response[str]:
        params = {key: str(value) for key, value in request.query_params.items()}
        step = server.begin_authorization(params, _issuer(server, request), _path_params(request))
        return _answer(step, server, request.url.path)

    @post(authorize_path, media_type=MediaType.HTML)
    async def decide(request: Request[Any, Any, Any]) -> Response[str]:
        form = {key: str(value) for key, value in (await request.form()).items()}
        step = server.submit(form.get("request", ""), form)
        return _answer(step, server, request.url.path)

    @post(token_path)
    async def token(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        form = {key: str(value) for key, value in (await request.form()).items()}
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            body = server.token(form, request.headers.get("authorization"), _path_params(request))
        except OAuthError as exc:
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="token"'
            return Response(server.error_json(exc), status_code=exc.status, headers=headers)
        return Response(body, status_code=200, headers=headers)

    return Router(path=path, route_handlers=[authorize, decide, token])


def oauth_admin_router(server: OAuthServer, *, path: str = "/_emulator/oauth") -> Router:
    """The server's knobs over HTTP, for a browser demo or a test driving a separate process."""

    @post("/clients")
    async def register(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        data = await json_object(request)
        uris = data.get("redirect_uris")
        if not data.get("client_id") or not data.get("client_secret") or not isinstance(uris, list) or not uris:
            raise HTTPException(status_code=400, detail="Send client_id, client_secret and redirect_uris (a list).")
        client = server.register_client(
            str(data["client_id"]), str(data["client_secret"]), [str(uri) for uri in uris], str(data.get("name", ""))
        )
        return Response(
            {"client_id": client.client_id, "redirect_uris": list(client.redirect_uris), "name": client.name},
            status_code=201,
        )

    @post("/tokens")
    async def tokens(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        data = await json_object(request)
        scopes = data.get("scopes") or str(data.get("scope", "")).split()
        if not data.get("client_id") or not isinstance(scopes, list):
            raise HTTPException(status_code=400, detail="Send client_id and scopes (a list).")
        issued = server.issue_tokens(
            str(data["client_id"]), [str(scope) for scope in scopes], issuer=_issuer(server, request)
        )
        return Response(issued, status_code=200)

    @post("/expire-access-tokens")
    async def expire() -> Response[dict[str, int]]:
        return Response({"expired": server.expire_access_tokens()}, status_code=200)

    @post("/revoke-refresh-tokens")
    async def revoke() -> Response[dict[str, int]]:
        return Response({"revoked": server.revoke_refresh_tokens()}, status_code=200)

    @post("/auto-approve")
    async def auto_approve(request: Request[Any, Any, Any]) -> Response[dict[str, bool]]:
        server.auto_approve = bool((await json_object(request)).get("enabled", True))
        return Response({"enabled": server.auto_approve}, status_code=200)

    return Router(path=path, route_handlers=[register, tokens, expire, revoke, auto_approve])

"""The Microsoft identity platform (v2 endpoints) on the emulator kit's OAuth server.

``/{tenant}/oauth2/v2.0/authorize`` (tenant: an id, a domain, ``organizations`` or ``common``)
shows a sign-in form, then the permissions requested, unless the tenant's administrator
granted the app tenant-wide (admin consent) or the user accepted these scopes before; a tenant
that blocks user consent shows "Need admin approval". ``response_mode=form_post`` answers with
a self-posting form. ``/{tenant}/oauth2/v2.0/token`` redeems codes (PKCE S256) and refresh
tokens (rotated; 90 days), for ONE resource per request: a ``scope`` naming two resources fails
with AADSTS28000. Without ``scope``, a code is redeemed for the first resource it was granted.
Refresh tokens hold every consented resource, so a refresh may ask for another one. Errors come
in Entra's JSON (``error``, ``error_description`` "AADSTSnnn: ... Trace ID ...", ``error_codes``,
``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``). Admin consent is
``/{tenant}/v2.0/adminconsent`` (and the older ``/{tenant}/adminconsent``); discovery is
``/{tenant}/v2.0/.well-known/openid-configuration``. Id tokens are unsigned JWTs (``alg: none``,
the JWKS is empty) with ``iss`` ``{base}/{tid}/v2.0``, ``tid``, ``oid``, ``name``,
``preferred_username`` and the ``nonce``; access tokens are opaque and know their audience.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from litestar import MediaType, Request, Response, Router, get, post
from litestar.params import FromPath

from portal.integrations.emulation.clock import EmulatorClock
from portal.integrations.emulation.oauth_server import (
    AuthorizeStep,
    OAuthError,
    OAuthServer,
    PendingConsent,
    Principal,
    error_page,
)
from portal.integrations.sentinel.emulator import identity_pages as pages
from portal.integrations.sentinel.emulator.directory import (
    ARM_RESOURCE,
    AUDIENCES,
    LOG_ANALYTICS_RESOURCE,
    TENANT_ALIASES,
    Directory,
    EntraTenant,
    EntraUser,
    resource_of,
    resources_of,
)

ACCESS_TOKEN_SECONDS = 3599
REFRESH_TOKEN_SECONDS = 90 * 24 * 3600
GRAPH_AUDIENCE = "00000003-0000-0000-c000-000000000000"  # what a token for OpenID scopes alone is for
DEFAULT_PERMISSION = {ARM_RESOURCE: "user_impersonation", LOG_ANALYTICS_RESOURCE: "Data.Read"}
ERROR_URI = "https://login.microsoftonline.com/error?code={code}"
BAD_PASSWORD = "Your account or password is incorrect. If you don't remember your password, reset it now."  # noqa: S105


class EntraError(OAuthError):
    """A refusal with its AADSTS number; ``description`` is Entra's text without the number."""

    def __init__(self, error: str, code: int, description: str, *, status: int = 400) -> None:
        super().__init__(error, description, status=status, reason=f"AADSTS{code}")
        self.code = code


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _b64url(value: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _issuer(base: str, params: Mapping[str, str]) -> str:
    return f"{base}/{params.get('tenant', 'common')}/v2.0"


class EntraIdentity(OAuthServer):
    def __init__(self, clock: EmulatorClock, directory: Directory) -> None:
        super().__init__(
            clock,
            display_name="Microsoft",
            issuer=_issuer,
            access_token_lifetime=ACCESS_TOKEN_SECONDS,
            refresh_token_lifetime=REFRESH_TOKEN_SECONDS,
        )
        self.directory = directory

    # -- the wording of errors ------------------------------------------------------------------

    def aadsts(self, code: int, text: str) -> str:
        trace, correlation = uuid.uuid4(), uuid.uuid4()
        stamp = _timestamp(self.clock.now())
        return f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"

    def error_json(self, exc: OAuthError) -> dict[str, Any]:
        code = exc.code if isinstance(exc, EntraError) else 9002313
        now = self.clock.now()
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        return {
            "error": exc.error,
            "error_description": f"AADSTS{code}: {exc.description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {_timestamp(now)}",
            "error_codes": [code],
            "timestamp": _timestamp(now),
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": ERROR_URI.format(code=code),
        }

    def _entra(self, exc: OAuthError, form: Mapping[str, str], tenant: str) -> EntraError:
        """The kit's refusal in Entra's words."""
        if isinstance(exc, EntraError):
            return exc
        client_id = form.get("client_id", "")
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        texts: dict[str, tuple[str, int, str]] = {
            "client_secret": (
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            ),
            "client_auth": ("invalid_client", 7000215, "Invalid client secret provided."),
            "client_unknown": (
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            ),
            "code_invalid": ("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
            "code_used": (
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                "existing refresh token.",
            ),
            "code_expired": (
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            ),
            "redirect_mismatch": (
                "invalid_grant",
                50011,
                f"The redirect URI '{form.get('redirect_uri', '')}' specified in the request does not match the "
                "redirect URI used to acquire the authorization code.",
            ),
            "pkce": (
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ),
            "refresh_invalid": ("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
            "refresh_rotated": (
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            ),
            "refresh_replayed": (
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            ),
            "refresh_revoked": (
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
                f"might have changed or reset their password. The TokensValidFrom date for this user is '{now}'.",
            ),
            "refresh_expired": (
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was inactive for 90.00:00:00.",
            ),
            "grant_type": (
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type', '')}'.",
            ),
        }
        error, code, text = texts.get(exc.reason, (exc.error, 9002313, exc.description))
        # Entra answers a failed client authentication with 401, however the client authenticated.
        return EntraError(error, code, text, status=401 if error == "invalid_client" else 400)

    # -- token endpoint -------------------------------------------------------------------------

    def token(
        self, form: Mapping[str, str], authorization: str | None, context: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        tenant = (context or {}).get("tenant", "common")
        try:
            self._check_tenant_of_grant(form, tenant)
            return super().token(form, authorization, context)
        except OAuthError as exc:
            raise self._entra(exc, form, tenant) from None

    def _check_tenant_of_grant(self, form: Mapping[str, str], tenant: str) -> None:
        """A code or refresh token works at its own tenant (or an alias), not at another customer's."""
        principal = self.grant_principal(form)
        found = self.directory.find_tenant(tenant)
        if principal is None or found is None or found.id == principal.tenant_id:
            return
        user = self.directory.find_user(principal.subject)
        raise EntraError(
            "invalid_grant",
            50020,
            f"User account '{user.user_principal_name if user else principal.subject}' from identity provider "
            f"'https://sts.windows.net/{principal.tenant_id}/' does not exist in tenant '{found.display_name}' and "
            f"cannot access the application '{form.get('client_id', '')}' in that tenant.",
        )

    def check_context(self, context: Mapping[str, str]) -> None:
        tenant = context.get("tenant", "common")
        if tenant.lower() not in TENANT_ALIASES and self.directory.find_tenant(tenant) is None:
            raise EntraError("invalid_request", 90002, self._tenant_not_found(tenant))

    @staticmethod
    def _tenant_not_found(tenant: str) -> str:
        return (
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
            "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant."
        )

    def token_scopes(self, granted: tuple[str, ...], form: Mapping[str, str], grant_type: str) -> tuple[str, ...]:
        asked = tuple(dict.fromkeys(form.get("scope", "").split()))
        if not asked:
            # No scope: the first resource the grant names (with the OpenID scopes).
            first = next(iter(resources_of(granted)), None)
            return tuple(scope for scope in granted if resource_of(scope) in (None, first))
        for scope in asked:
            if resource_of(scope) is not None and resource_of(scope) not in AUDIENCES:
                raise EntraError(
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
                )
        if len(resources_of(asked)) > 1:
            raise EntraError(
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains more than one "
                f"resource. Scope {' '.join(asked)} is not valid.",
            )
        consented = {s for s in granted if resource_of(s)} | {f"{r}/.default" for r in resources_of(granted)}
        missing = [s for s in asked if resource_of(s) and s not in consented]
        if missing:
            client_id = form.get("client_id", "")
            name = self.clients[client_id].name if client_id in self.clients else client_id
            raise EntraError(
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID '{client_id}' named "
                f"'{name}'. Send an interactive authorization request for this user and resource.",
            )
        if "offline_access" in granted and "offline_access" not in asked:
            asked += ("offline_access",)
        return asked

    def audience_for(self, scopes: tuple[str, ...]) -> str:
        resources = resources_of(scopes)
        return AUDIENCES.get(resources[0], "") if resources else GRAPH_AUDIENCE

    def issues_refresh_token(self, scopes: tuple[str, ...]) -> bool:
        return "offline_access" in scopes

    def shape_token_response(self, response: dict[str, Any], principal: Principal) -> dict[str, Any]:
        scopes = []
        for scope in response["scope"].split():
            resource = resource_of(scope)
            if resource and scope.endswith("/.default"):
                scope = f"{resource}/{DEFAULT_PERMISSION.get(resource, '.default')}"
            if resource:
                scopes.append(scope)
        shaped: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(scopes) or response["scope"],
            "expires_in": response["expires_in"],
            "ext_expires_in": response["expires_in"],
            "access_token": response["access_token"],
        }
        for key in ("refresh_token", "id_token"):
            if key in response:
                shaped[key] = response[key]
        shaped["client_info"] = _b64url({"uid": principal.subject, "utid": principal.tenant_id})
        return shaped

    def id_token_claims(self, claims: dict[str, Any], principal: Principal) -> dict[str, Any]:
        base = str(claims["iss"]).rsplit("/", 2)[0]
        return claims | {"iss": f"{base}/{principal.tenant_id}/v2.0", "nbf": claims["iat"], "ver": "2.0"}

    def redirect_extras(self, issuer: str) -> dict[str, str]:
        return {}  # Entra sends no RFC 9207 ``iss`` on its redirects

    def declined(self, consent: PendingConsent) -> dict[str, str]:
        return {
            "error": "access_denied",
            "error_description": self.aadsts(65004, "User declined to consent to access the app."),
        }

    def issue_user_tokens(self, client_id: str, login: str, scopes: list[str], base_url: str) -> dict[str, Any]:
        """A token response for a directory user, as if they had signed in (demo and tests)."""
        user = self.directory.user(login)
        return self.issue_tokens(
            client_id, scopes, issuer=f"{base_url}/{user.tenant_id}/v2.0", principal=user.principal()
        )

    # -- the authorize endpoint -----------------------------------------------------------------

    def _path_tenant(self, consent: PendingConsent) -> tuple[str, EntraTenant | None]:
        key = consent.context.get("tenant", "common")
        return key, self.directory.find_tenant(key)

    def next_step(self, consent: PendingConsent) -> AuthorizeStep:
        key, tenant = self._path_tenant(consent)
        if key.lower() == "consumers":
            return AuthorizeStep(
                error_page=self.aadsts(
                    9002331,
                    f"Application '{consent.client.client_id}'({consent.client.name}) is configured for use by Azure "
                    "Active Directory users only. Please do not use the /consumers endpoint to serve this request.",
                )
            )
        if key.lower() not in TENANT_ALIASES and tenant is None:
            return AuthorizeStep(error_page=self.aadsts(90002, self._tenant_not_found(key)))
        unknown = [r for r in resources_of(consent.scopes) if r not in AUDIENCES]
        if unknown:
            return self.deliver(
                consent,
                {
                    "error": "invalid_resource",
                    "error_description": self.aadsts(
                        500011, f"The resource principal named {unknown[0]} was not found in the tenant."
                    ),
                },
            )
        if consent.params.get("prompt") == "none":
            return self.deliver(
                consent,
                {
                    "error": "login_required",
                    "error_description": self.aadsts(
                        50058, "A silent sign-in request was sent but no user is signed in."
                    ),
                },
            )
        self.hold(consent)
        return self._sign_in(consent, login=consent.params.get("login_hint", ""))

    def _action(self, consent: PendingConsent) -> str:
        # Relative, so the form posts back to the page's own path wherever the emulator is mounted.
        return "adminconsent" if consent.context.get("flow") == "adminconsent" else "authorize"

    def _sign_in(self, consent: PendingConsent, *, login: str = "", error: str = "") -> AuthorizeStep:
        _, tenant = self._path_tenant(consent)
        tenants = [tenant] if tenant else list(self.directory.tenants.values())
        accounts = [user.user_principal_name for t in tenants for user in t.users.values()]
        return AuthorizeStep(
            page=pages.sign_in_page(
                self._action(consent), consent.id, consent.client.name, accounts, login=login, error=error
            )
        )

    def deliver(self, consent: PendingConsent, params: Mapping[str, str]) -> AuthorizeStep:
        """Back to the app: a redirect, or a self-posting form for ``response_mode=form_post``."""
        url = self.redirect(consent, params)
        if consent.params.get("response_mode") == "form_post":
            query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
            return AuthorizeStep(page=pages.form_post_page(consent.redirect_uri, query))
        return AuthorizeStep(location=url)

    def _signed_in(self, consent: PendingConsent) -> EntraUser | None:
        return self.directory.find_user(consent.principal.subject) if consent.principal else None

    def submit(self, request_id: str, form: Mapping[str, str]) -> AuthorizeStep:
        consent = self.pending(request_id)
        if consent is None:
            return AuthorizeStep(error_page="This sign-in request has expired or was already answered. Start again.")
        step = form.get("step", "")
        if step == "signin":
            return self._check_password(consent, form.get("login", ""), form.get("passwd", ""))
        user = self._signed_in(consent)
        if user is None:
            return self._sign_in(consent)
        admin_flow = consent.context.get("flow") == "adminconsent"
        if step == "consent" and form.get("decision") == "accept":
            if admin_flow:
                self.directory.tenant(user.tenant_id).admin_consents.add(consent.client.client_id)
                return self.deliver(
                    consent, {"admin_consent": "True", "tenant": user.tenant_id, "scope": " ".join(consent.scopes)}
                )
            self.directory.record_consent(user, consent.client.client_id, consent.scopes)
            return self.deliver(consent, self._code_params(consent))
        if step == "consent":
            if admin_flow:
                return self.deliver(
                    consent,
                    {
                        "admin_consent": "True",
                        "error": "consent_required",
                        "error_description": self.aadsts(65004, "User declined to consent to access the app."),
                    },
                )
            return self.deliver(consent, self.declined(consent))
        # "Need admin approval" -> back to the app without consent.
        params = {
            "error": "consent_required",
            "error_description": self.aadsts(
                90094, "The grant requires admin permission. An administrator must consent to this app."
            ),
        }
        return self.deliver(consent, {"admin_consent": "True", **params} if admin_flow else params)

    def _code_params(self, consent: PendingConsent) -> dict[str, str]:
        """The code, as the redirect the kit built carries it (the kit forgets the consent once used)."""
        url = self.approve(consent)
        return {key: value for key, value in parse_qsl(urlsplit(url).query) if key == "code"}

    def _check_password(self, consent: PendingConsent, login: str, password: str) -> AuthorizeStep:
        user = self.directory.find_user(login) if login else None
        if user is None or not secrets.compare_digest(user.password.encode(), password.encode()):
            return self._sign_in(consent, login=login, error=BAD_PASSWORD)
        _, tenant = self._path_tenant(consent)
        if tenant is not None and tenant.id != user.tenant_id:
            self.redirect(consent, {})  # forget the request
            return AuthorizeStep(
                error_page=self.aadsts(
                    50020,
                    f"User account '{user.user_principal_name}' from identity provider "
                    f"'https://sts.windows.net/{user.tenant_id}/' does not exist in tenant '{tenant.display_name}' "
                    f"and cannot access the application '{consent.client.client_id}'({consent.client.name}) in "
                    "that tenant. The account needs to be added as an external user in the tenant first.",
                )
            )
        consent.principal = user.principal()
        action, app = self._action(consent), consent.client.name
        home = self.directory.tenant(user.tenant_id)
        if consent.context.get("flow") == "adminconsent":
            if not user.admin:
                return AuthorizeStep(page=pages.approval_needed_page(action, consent.id, app, user))
            return AuthorizeStep(
                page=pages.consent_page(action, consent.id, app, user, consent.scopes, organization=home.display_name)
            )
        prompt = consent.params.get("prompt")
        if prompt != "consent" and self.directory.has_consent(user, consent.client.client_id, consent.scopes):
            return self.deliver(consent, self._code_params(consent))
        if not home.user_consent_allowed and not user.admin:
            return AuthorizeStep(page=pages.approval_needed_page(action, consent.id, app, user))
        return AuthorizeStep(page=pages.consent_page(action, consent.id, app, user, consent.scopes))

    # -- admin consent --------------------------------------------------------------------------

    def _unknown_app(self, params: Mapping[str, str], tenant: str) -> AuthorizeStep | None:
        """Entra's error page for an unknown app or an unregistered redirect URI (never a redirect)."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return AuthorizeStep(
                error_page=self.aadsts(
                    700016,
                    f"Application with identifier '{params.get('client_id', '')}' was not found in the directory "
                    f"'{tenant}'.",
                )
            )
        redirect_uri = params.get("redirect_uri") or client.redirect_uris[0]
        if redirect_uri not in client.redirect_uris:
            return AuthorizeStep(
                error_page=self.aadsts(
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
                    f"configured for the application '{client.client_id}'.",
                )
            )
        return None

    def begin_authorization(
        self, params: Mapping[str, str], issuer: str, context: Mapping[str, str] | None = None
    ) -> AuthorizeStep:
        refused = self._unknown_app(params, (context or {}).get("tenant", "common"))
        return refused or super().begin_authorization(params, issuer, context)

    def begin_admin_consent(self, params: Mapping[str, str], tenant: str, base_url: str) -> AuthorizeStep:
        refused = self._unknown_app(params, tenant)
        if refused:
            return refused
        client = self.clients[params["client_id"]]
        redirect_uri = params.get("redirect_uri") or client.redirect_uris[0]
        if tenant.lower() in ("common", "consumers"):
            return AuthorizeStep(
                error_page="Admin consent needs the customer's tenant id (or organizations), not /common."
            )
        if tenant.lower() not in TENANT_ALIASES and self.directory.find_tenant(tenant) is None:
            return AuthorizeStep(error_page=self.aadsts(90002, self._tenant_not_found(tenant)))
        consent = PendingConsent(
            id=secrets.token_urlsafe(16),
            client=client,
            redirect_uri=redirect_uri,
            scopes=tuple(params.get("scope", f"{ARM_RESOURCE}/.default").split()),
            state=params.get("state"),
            code_challenge="",
            nonce=None,
            issuer=_issuer(base_url, {"tenant": tenant}),
            expires_at=self.clock.now() + timedelta(seconds=self.code_lifetime),
            params=dict(params),
            context={"tenant": tenant, "flow": "adminconsent"},
        )
        self.hold(consent)
        return self._sign_in(consent)


def _html(step: AuthorizeStep) -> Response[str]:
    if step.error_page:
        return error_page(step.error_page)
    if step.location:
        return Response("", status_code=302, headers={"Location": step.location}, media_type=MediaType.TEXT)
    return Response(step.page, status_code=200, media_type=MediaType.HTML)


def identity_router(identity: EntraIdentity) -> Router:
    """Admin consent, discovery and logout; the kit's ``oauth_router`` serves authorize and token."""

    @get(["/v2.0/adminconsent", "/adminconsent"], media_type=MediaType.HTML, sync_to_thread=False)
    def admin_consent(request: Request[Any, Any, Any], tenant: FromPath[str]) -> Response[str]:
        params = {key: str(value) for key, value in request.query_params.items()}
        return _html(identity.begin_admin_consent(params, tenant, str(request.base_url).rstrip("/")))

    @post(["/v2.0/adminconsent", "/adminconsent"], media_type=MediaType.HTML)
    async def admin_consent_answer(request: Request[Any, Any, Any], tenant: FromPath[str]) -> Response[str]:
        form = {key: str(value) for key, value in (await request.form()).items()}
        return _html(identity.submit(form.get("request", ""), form))

    @get("/v2.0/.well-known/openid-configuration", sync_to_thread=False)
    def discovery(request: Request[Any, Any, Any], tenant: FromPath[str]) -> Response[dict[str, Any]]:
        base = str(request.base_url).rstrip("/")
        found = identity.directory.find_tenant(tenant)
        if found is None and tenant.lower() not in TENANT_ALIASES:
            body = identity.error_json(EntraError("invalid_tenant", 90002, identity._tenant_not_found(tenant)))
            return Response(body, status_code=400)
        issuer_tenant = found.id if found else "{tenantid}"
        return Response(
            {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "name",
                    "nonce",
                    "oid",
                    "preferred_username",
                    "tid",
                    "ver",
                ],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    @get("/discovery/v2.0/keys", sync_to_thread=False)
    def keys(tenant: FromPath[str]) -> dict[str, Any]:
        return {"keys": []}  # id tokens are unsigned (alg "none"): there is no key to publish

    @get("/oauth2/v2.0/logout", sync_to_thread=False)
    def logout(request: Request[Any, Any, Any], tenant: FromPath[str]) -> Response[str]:
        target = request.query_params.get("post_logout_redirect_uri")
        if target:
            return Response("", status_code=302, headers={"Location": target}, media_type=MediaType.TEXT)
        return Response(
            "<!doctype html><title>Signed out</title><p>You signed out of your account.</p>", media_type=MediaType.HTML
        )

    return Router(path="/{tenant:str}", route_handlers=[admin_consent, admin_consent_answer, discovery, keys, logout])

"""Sign in with Microsoft: one resource per token request, tokens kept and refreshed per customer tenant.

The identity platform here is a mock token endpoint that answers as Entra ID does (tenant in the
path, one resource per request, rotating refresh tokens, ``invalid_grant`` with AADSTS codes).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.integrations import oauth
from portal.integrations.errors import ReauthRequired
from portal.integrations.oauth import OAuthTokens, TokenSet
from portal.integrations.sentinel.api import TenantCredentials
from portal.integrations.sentinel.manifest import MANIFEST
from tests.integrations.sentinel.support import Recorder

BOX = SecretBox(["sentinel-oauth-tests-key-" + "k" * 24])
LOGIN = "https://login.test"
TENANT_A = "11111111-1111-4111-8111-111111111111"
TENANT_B = "22222222-2222-4222-8222-222222222222"
ARM_SCOPE = "https://management.azure.com/user_impersonation"
CONFIG = {"client_id": "app-id", "cloud": "public", "login_url": LOGIN}


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class Entra:
    """Token endpoint: answers per tenant path, refuses a second resource, rotates refresh tokens."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.revoked: set[str] = set()
        self.nonce = ""
        self.counter = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        tenant = urlsplit(str(request.url)).path.split("/")[1]
        self.requests.append((tenant, form))
        resources = {scope.rsplit("/", 1)[0] for scope in form.get("scope", "").split() if "://" in scope}
        if len(resources) > 1:
            return httpx.Response(
                400, json={"error": "invalid_scope", "error_description": "AADSTS700022: multiple resources"}
            )
        token = form.get("refresh_token", "")
        if form["grant_type"] == "refresh_token" and token in self.revoked:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "AADSTS50173: The provided grant has expired due to it being revoked.",
                },
            )
        self.revoked.add(token)  # rotation: a spent refresh token is gone
        self.counter += 1
        tid = TENANT_A if tenant == "organizations" else tenant
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer", "expires_in": 3599, "scope": ARM_SCOPE,
                "access_token": f"at-{tid[:4]}-{self.counter}", "refresh_token": f"rt-{tid[:4]}-{self.counter}",
                "id_token": jwt(
                    {"tid": tid, "nonce": self.nonce, "aud": "app-id", "iss": f"{LOGIN}/{tid}/v2.0", "sub": "u"}
                ),
            },
        )  # fmt: skip


def test_sign_in_asks_consent_for_both_resources_at_the_tenant_chosen() -> None:
    url, pending = oauth.begin_authorization(
        uuid.uuid4(), "sentinel", MANIFEST, CONFIG, "http://socdesk.test/authcallback", user_id=uuid.uuid4()
    )
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{LOGIN}/organizations/oauth2/v2.0/authorize"
    assert query["scope"].split() == [
        "openid", "profile", "offline_access", ARM_SCOPE, "https://api.loganalytics.io/Data.Read",
    ]  # fmt: skip
    assert query["code_challenge_method"] == "S256"
    assert query["nonce"] == pending["nonce"]
    assert pending["tenant"] == "organizations"
    url, pending = oauth.begin_authorization(
        uuid.uuid4(), "sentinel", MANIFEST, CONFIG, "http://socdesk.test/authcallback",
        user_id=uuid.uuid4(), tenant=TENANT_B,
    )  # fmt: skip
    assert urlsplit(url).path == f"/{TENANT_B}/oauth2/v2.0/authorize"


@pytest.mark.parametrize("tenant", ["../evil", "a/b", "x?y=1", "tenant id"])
def test_a_tenant_that_is_not_a_tenant_is_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="not a tenant"):
        oauth.begin_authorization(
            uuid.uuid4(), "sentinel", MANIFEST, CONFIG, "http://x/authcallback", user_id=uuid.uuid4(), tenant=tenant
        )


def test_the_cloud_presets_the_sign_in_address_and_scopes() -> None:
    config = {"client_id": "app-id", "cloud": "usgov"}
    url, _ = oauth.begin_authorization(uuid.uuid4(), "sentinel", MANIFEST, config, "http://x/cb", user_id=uuid.uuid4())
    assert url.startswith("https://login.microsoftonline.us/organizations/oauth2/v2.0/authorize?")
    assert "management.usgovcloudapi.net%2Fuser_impersonation" in url


async def test_the_code_is_redeemed_for_one_resource_and_kept_under_the_tenant() -> None:
    entra = Entra()
    user_id = uuid.uuid4()
    _, pending = oauth.begin_authorization(
        uuid.uuid4(), "sentinel", MANIFEST, CONFIG, "http://socdesk.test/authcallback", user_id=user_id, tenant=TENANT_B
    )
    entra.nonce = str(pending["nonce"])
    async with httpx.AsyncClient(transport=httpx.MockTransport(entra.handler)) as http:
        tokens = await oauth.complete_authorization(
            pending, {"state": pending["state"], "code": "the-code"}, client=http,
            recorder=Recorder(), manifest=MANIFEST, config=CONFIG, client_secret="s3cret",
            user_id=user_id,
        )  # fmt: skip
    tenant, form = entra.requests[0]
    assert tenant == TENANT_B
    assert form["grant_type"] == "authorization_code"
    assert form["scope"].split() == [ARM_SCOPE, "offline_access", "openid", "profile"]
    assert form["code_verifier"] == pending["verifier"]
    assert oauth.account_key(MANIFEST, tokens) == TENANT_B


async def _connection(sessionmaker, tokens: dict[str, TokenSet]) -> Connection:
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="sentinel", name=f"Sentinel {uuid.uuid4().hex[:6]}", status="connected", config=dict(CONFIG),
            secrets_ciphertext=BOX.seal(
                {"client_secret": "s3cret", "oauth": {key: value.to_json() for key, value in tokens.items()}}
            ),
        )  # fmt: skip
        session.add(connection)
    return connection


def _view(connection: Connection) -> Any:
    from portal.domain.sync.connector import connection_view

    return connection_view(connection, BOX)


async def test_each_tenant_refreshes_at_its_own_tenant_and_rotates(sessionmaker) -> None:
    entra = Entra()
    soon = utcnow() + timedelta(minutes=1)  # inside the refresh margin
    later = utcnow() + timedelta(hours=1)
    connection = await _connection(
        sessionmaker,
        {
            TENANT_A: TokenSet("at-a-old", "rt-a-old", later, ARM_SCOPE, {"tid": TENANT_A}),
            TENANT_B: TokenSet("at-b-old", "rt-b-old", soon, ARM_SCOPE, {"tid": TENANT_B}),
        },
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(entra.handler)) as http:
        source = OAuthTokens(sessionmaker, BOX, http, DatabaseRecorder(sessionmaker))
        credentials = TenantCredentials(_view(connection), source)
        a = await credentials.for_tenant(TENANT_A.upper()).headers()  # tenant ids compare case-insensitively
        b = await credentials.for_tenant(TENANT_B).headers()
    assert a == {"Authorization": "Bearer at-a-old"}  # still fresh: no call
    assert b["Authorization"].startswith("Bearer at-2222-")
    assert [(tenant, form["grant_type"], form["refresh_token"]) for tenant, form in entra.requests] == [
        (TENANT_B, "refresh_token", "rt-b-old")
    ]
    assert entra.requests[0][1]["scope"].split()[0] == ARM_SCOPE
    async with session_scope(sessionmaker) as session:
        stored = BOX.open((await session.get(Connection, connection.id)).secrets_ciphertext)["oauth"]  # type: ignore[union-attr]
    assert stored[TENANT_B]["refresh_token"].startswith("rt-2222-")  # the rotated one replaced the spent one
    assert stored[TENANT_A]["refresh_token"] == "rt-a-old"


async def test_a_revoked_refresh_token_means_reconnect(sessionmaker) -> None:
    entra = Entra()
    entra.revoked.add("rt-b-revoked")
    expired = utcnow() - timedelta(minutes=1)
    connection = await _connection(
        sessionmaker, {TENANT_B: TokenSet("at-b", "rt-b-revoked", expired, ARM_SCOPE, {"tid": TENANT_B})}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(entra.handler)) as http:
        source = OAuthTokens(sessionmaker, BOX, http, DatabaseRecorder(sessionmaker))
        with pytest.raises(ReauthRequired):
            await TenantCredentials(_view(connection), source).for_tenant(TENANT_B).headers()
    async with session_scope(sessionmaker) as session:
        reloaded = await session.get(Connection, connection.id)
        assert reloaded is not None
        assert reloaded.status == "needs_reauth"


async def test_a_tenant_nobody_signed_in_for_says_so() -> None:
    credentials = TenantCredentials(
        _view(
            Connection(
                id=uuid.uuid4(), vendor="sentinel", name="x", config={}, mappings={}, secrets_ciphertext=BOX.seal({})
            )
        ),
        cast(OAuthTokens, None),
    )
    with pytest.raises(ReauthRequired, match="sign in for that tenant"):
        await credentials.for_tenant(TENANT_A).headers()

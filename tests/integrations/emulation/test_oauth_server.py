"""The emulated OAuth 2.0 authorization server, driven over HTTP as a browser and a client would."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.integrations.emulation.admin import admin_router
from portal.integrations.emulation.app import emulator_app
from portal.integrations.emulation.control import EmulatorControl
from portal.integrations.emulation.oauth_server import OAuthServer, oauth_admin_router, oauth_router, s256
from tests.integrations.acme.conftest import asgi

BASE = "http://login.test"
REDIRECT = "http://socdesk.test/authcallback"
CLIENT_ID, CLIENT_SECRET = "socdesk", "s3cret-value-123"
SCOPES = "openid cases.read offline_access"


@dataclass
class AS:
    server: OAuthServer
    http: httpx.AsyncClient


@pytest.fixture
async def auth() -> AsyncIterator[AS]:
    control = EmulatorControl()
    server = OAuthServer(
        control.clock,
        subject="ana@vendor.test",
        tenant_id="t-1",
        display_name="Vendor Cloud",
        scopes_supported={"openid", "cases.read", "cases.write", "offline_access"},
    )
    server.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT], name="socdesk SOC portal")
    app = emulator_app(
        control, [oauth_router(server), oauth_admin_router(server), admin_router(control, reset=server.reset)]
    )
    async with httpx.AsyncClient(transport=asgi(app), base_url=BASE) as http:
        yield AS(server, http)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": "n-456",
    } | overrides


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def consent(auth: AS, params: Mapping[str, str], decision: str = "accept") -> dict[str, str]:
    page = await auth.http.get("/oauth/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    match = re.search(r"name='request' value='([^']+)'", page.text)
    assert match, page.text
    assert "<form method='post' action='/oauth/authorize'>" in page.text
    return query_of(await auth.http.post("/oauth/authorize", data={"request": match.group(1), "decision": decision}))


async def exchange(auth: AS, code: str, verifier: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    } | overrides
    return await auth.http.post("/oauth/token", data=form)


async def sign_in(auth: AS) -> dict[str, str]:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge)))["code"]
    response = await exchange(auth, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def claims(id_token: str) -> dict[str, object]:
    header, payload, signature = id_token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none", "typ": "JWT"}
    assert signature == ""
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


async def test_the_consent_page_names_the_app_and_scopes(auth) -> None:
    page = await auth.http.get("/oauth/authorize", params=authorize_params(pkce()[1]))
    assert "socdesk SOC portal" in page.text
    assert "Vendor Cloud" in page.text
    assert "ana@vendor.test" in page.text
    for scope in SCOPES.split():
        assert f"<code>{scope}</code>" in page.text
    assert "value='accept'>Accept</button>" in page.text
    assert "value='cancel'>Cancel</button>" in page.text


async def test_code_with_pkce_gives_tokens_and_an_id_token_with_the_nonce(auth) -> None:
    verifier, challenge = pkce()
    redirect = await consent(auth, authorize_params(challenge))
    assert redirect["state"] == "st-123"
    assert redirect["iss"] == BASE  # RFC 9207: the client can tell which server answered
    response = await exchange(auth, redirect["code"], verifier)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPES
    assert tokens["refresh_token"]
    assert tokens["access_token"]
    assert claims(tokens["id_token"]) | {"iat": 0, "exp": 0} == {
        "iss": BASE,
        "aud": CLIENT_ID,
        "sub": "ana@vendor.test",
        "tid": "t-1",
        "preferred_username": "ana@vendor.test",
        "nonce": "n-456",
        "iat": 0,
        "exp": 0,
    }
    info = auth.server.validate_bearer(f"Bearer {tokens['access_token']}")
    assert info is not None
    assert info.scopes == frozenset(SCOPES.split())
    assert info.client_id == CLIENT_ID


async def test_no_id_token_without_openid(auth) -> None:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge, scope="cases.read")))["code"]
    assert "id_token" not in (await exchange(auth, code, verifier)).json()


async def test_a_wrong_verifier_is_invalid_grant(auth) -> None:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge)))["code"]
    response = await exchange(auth, code, pkce()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert (await exchange(auth, code, verifier)).status_code == 400  # and the code is spent


async def test_a_code_works_once_and_a_replay_revokes_its_tokens(auth) -> None:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge)))["code"]
    tokens = (await exchange(auth, code, verifier)).json()
    replay = await exchange(auth, code, verifier)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert auth.server.validate_bearer(f"Bearer {tokens['access_token']}") is None
    refresh = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET},
    )  # fmt: skip
    assert refresh.json()["error"] == "invalid_grant"


async def test_codes_expire_after_ten_minutes(auth) -> None:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge)))["code"]
    auth.server.clock.advance(601)
    assert (await exchange(auth, code, verifier)).json()["error"] == "invalid_grant"


async def test_the_redirect_uri_must_match_at_the_token_endpoint(auth) -> None:
    verifier, challenge = pkce()
    code = (await consent(auth, authorize_params(challenge)))["code"]
    response = await exchange(auth, code, verifier, redirect_uri="http://evil.test/cb")
    assert response.json()["error"] == "invalid_grant"


async def test_cancel_redirects_with_access_denied(auth) -> None:
    redirect = await consent(auth, authorize_params(pkce()[1]), decision="cancel")
    assert redirect == {"error": "access_denied", "error_description": "The user declined.", "state": "st-123",
                        "iss": BASE}  # fmt: skip


async def test_a_consent_request_is_answered_once(auth) -> None:
    page = await auth.http.get("/oauth/authorize", params=authorize_params(pkce()[1]))
    request_id = re.search(r"name='request' value='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
    assert (await auth.http.post("/oauth/authorize", data={"request": request_id, "decision": "accept"})).is_redirect
    again = await auth.http.post("/oauth/authorize", data={"request": request_id, "decision": "accept"})
    assert again.status_code == 400
    assert "location" not in again.headers


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "stranger"}, {"redirect_uri": "http://evil.test/authcallback"}, {"redirect_uri": ""}],
)
async def test_unknown_clients_and_redirect_uris_get_an_error_page_not_a_redirect(auth, overrides) -> None:
    auth.server.register_client("two-uris", "x" * 10, [REDIRECT, "http://other.test/cb"])
    params = authorize_params(pkce()[1], **overrides)
    if overrides.get("redirect_uri") == "":
        params["client_id"] = "two-uris"  # no redirect_uri and several registered: which one?
    response = await auth.http.get("/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Sign-in error" in response.text


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin.everything"}, "invalid_scope"),
    ],
)
async def test_bad_requests_from_a_known_client_are_redirected_with_an_error(auth, overrides, error) -> None:
    redirect = query_of(await auth.http.get("/oauth/authorize", params=authorize_params(pkce()[1], **overrides)))
    assert redirect["error"] == error
    assert (redirect["state"], redirect["iss"]) == ("st-123", BASE)
    assert "code" not in redirect


async def test_refresh_rotates_and_the_old_refresh_token_dies(auth) -> None:
    tokens = await sign_in(auth)
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    fresh = await auth.http.post("/oauth/token", data=form | {"refresh_token": tokens["refresh_token"]})
    assert fresh.status_code == 200
    renewed = fresh.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["access_token"] != tokens["access_token"]
    assert renewed["scope"] == SCOPES
    old = await auth.http.post("/oauth/token", data=form | {"refresh_token": tokens["refresh_token"]})
    assert (old.status_code, old.json()["error"]) == (400, "invalid_grant")
    again = await auth.http.post("/oauth/token", data=form | {"refresh_token": renewed["refresh_token"]})
    assert again.status_code == 200
    wider = await auth.http.post(
        "/oauth/token", data=form | {"refresh_token": again.json()["refresh_token"], "scope": "cases.write"}
    )
    assert wider.json()["error"] == "invalid_scope"


async def test_revoked_grants_refresh_to_invalid_grant(auth) -> None:
    tokens = await sign_in(auth)
    assert auth.server.revoke_refresh_tokens() == 1
    response = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET},
    )  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_client_authentication_by_basic_or_post(auth) -> None:
    tokens = await sign_in(auth)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    ok = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert ok.status_code == 200
    wrong = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    refused = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"]},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert refused.headers["www-authenticate"].startswith("Basic")
    posted = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"], "client_id": CLIENT_ID,
              "client_secret": "nope"},
    )  # fmt: skip
    assert (posted.status_code, posted.json()["error"]) == (400, "invalid_client")
    unknown = await auth.http.post("/oauth/token", data={"grant_type": "password", "client_id": CLIENT_ID,
                                                         "client_secret": CLIENT_SECRET})  # fmt: skip
    assert unknown.json()["error"] == "unsupported_grant_type"


async def test_access_tokens_expire_by_time_or_on_demand(auth) -> None:
    first = await sign_in(auth)
    header = f"Bearer {first['access_token']}"
    assert auth.server.validate_bearer(header) is not None
    assert auth.server.validate_bearer(f"Basic {first['access_token']}") is None
    assert auth.server.validate_bearer(None) is None
    auth.server.clock.advance(3599)
    assert auth.server.validate_bearer(header) is not None
    auth.server.clock.advance(1)
    assert auth.server.validate_bearer(header) is None
    second = await sign_in(auth)
    assert auth.server.expire_access_tokens() == 1  # only the live one
    assert auth.server.validate_bearer(f"Bearer {second['access_token']}") is None


async def test_auto_approve_skips_the_consent_page(auth) -> None:
    auth.server.auto_approve = True
    verifier, challenge = pkce()
    redirect = query_of(await auth.http.get("/oauth/authorize", params=authorize_params(challenge)))
    assert (redirect["state"], redirect["iss"]) == ("st-123", BASE)
    assert (await exchange(auth, redirect["code"], verifier)).status_code == 200


async def test_the_admin_routes_drive_the_server(auth) -> None:
    registered = await auth.http.post(
        "/_emulator/oauth/clients",
        json={"client_id": "c2", "client_secret": "s2-secret", "redirect_uris": ["http://x.test/cb"]},
    )
    assert registered.status_code == 201
    assert auth.server.clients["c2"].redirect_uris == ("http://x.test/cb",)
    assert (await auth.http.post("/_emulator/oauth/clients", json={"client_id": "c3"})).status_code == 400
    issued = (await auth.http.post("/_emulator/oauth/tokens", json={"client_id": "c2", "scopes": ["openid"]})).json()
    assert claims(issued["id_token"])["iss"] == BASE
    assert (await auth.http.post("/_emulator/oauth/expire-access-tokens")).json() == {"expired": 1}
    assert (await auth.http.post("/_emulator/oauth/revoke-refresh-tokens")).json() == {"revoked": 1}
    assert (await auth.http.post("/_emulator/oauth/auto-approve", json={"enabled": True})).json() == {"enabled": True}
    assert auth.server.auto_approve
    await auth.http.post("/_emulator/reset")
    assert auth.server.clients == {}
    assert not auth.server.auto_approve


async def test_the_server_mounts_at_a_parameterised_path_with_a_per_tenant_issuer() -> None:
    """Microsoft's shape: /{tenant}/oauth2/v2.0/authorize, issuer https://login.../{tenant}/v2.0."""
    control = EmulatorControl()
    server = OAuthServer(
        control.clock, issuer=lambda base, params: f"https://login.microsoftonline.com/{params['tenant']}/v2.0"
    )
    server.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT])
    app = emulator_app(control, [oauth_router(server, path="/{tenant:str}/oauth2/v2.0")])
    async with httpx.AsyncClient(transport=asgi(app), base_url=BASE) as http:
        verifier, challenge = pkce()
        page = await http.get("/contoso-tenant/oauth2/v2.0/authorize", params=authorize_params(challenge))
        assert "action='/contoso-tenant/oauth2/v2.0/authorize'" in page.text
        request_id = re.search(r"name='request' value='([^']+)'", page.text).group(1)  # type: ignore[union-attr]
        redirect = query_of(
            await http.post("/contoso-tenant/oauth2/v2.0/authorize", data={"request": request_id, "decision": "accept"})
        )
        assert redirect["iss"] == "https://login.microsoftonline.com/contoso-tenant/v2.0"
        tokens = await http.post(
            "/contoso-tenant/oauth2/v2.0/token",
            data={"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT,
                  "code_verifier": verifier, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )  # fmt: skip
        assert tokens.status_code == 200
        assert claims(tokens.json()["id_token"])["iss"] == "https://login.microsoftonline.com/contoso-tenant/v2.0"

"""The Sentinel emulator in process, driven the way a browser and a Microsoft client would.

Microsoft's published examples are read from the shared reference folder beside the checkout
(``../shared/reference/examples`` relative to the repository, as in CI).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar

from portal.integrations.emulation.oauth_server import s256
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.fixtures import DemoTenant
from portal.integrations.sentinel.emulator.state import SentinelState

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "examples"
BASE = "http://ms.test"
REDIRECT = "http://testserver.local/authcallback"
FROZEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NORTHWIND, WOODGROVE = fixtures.TENANTS
ARM_SCOPE = "https://management.azure.com/user_impersonation"
LA_SCOPE = "https://api.loganalytics.io/Data.Read"
SIGN_IN_SCOPES = f"openid profile offline_access {ARM_SCOPE} {LA_SCOPE}"
API = {"api-version": "2025-06-01"}


def example(path: str) -> Any:
    return json.loads((EXAMPLES / path).read_text())


def example_body(path: str, status: str = "200") -> Any:
    return example(path)["responses"][status]["body"]


def shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (lists by their first item): what "same shape" compares."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def keys_of(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def asgi(app: Litestar) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def request_id(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    match = re.search(r"name='request' value='([^']+)'", page.text)
    assert match, page.text
    return match.group(1)


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def workspace_path(tenant: DemoTenant) -> str:
    return (
        f"/subscriptions/{tenant.subscription_id}/resourceGroups/{tenant.resource_group}"
        f"/providers/Microsoft.OperationalInsights/workspaces/{tenant.workspace}/providers/Microsoft.SecurityInsights"
    )


@dataclass
class Microsoft:
    app: Litestar
    state: SentinelState
    http: httpx.AsyncClient

    def authorize_params(self, challenge: str, **overrides: str) -> dict[str, str]:
        return {
            "client_id": fixtures.DEMO_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "response_mode": "query",
            "scope": SIGN_IN_SCOPES,
            "state": "state-123",
            "nonce": "nonce-456",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        } | overrides

    async def sign_in_page(self, tenant: str, params: Mapping[str, str]) -> httpx.Response:
        return await self.http.get(f"/{tenant}/oauth2/v2.0/authorize", params=params)

    async def post(self, tenant: str, request: str, **form: str) -> httpx.Response:
        return await self.http.post(f"/{tenant}/oauth2/v2.0/authorize", data={"request": request, **form})

    async def sign_in(
        self, tenant: str, request: str, login: str, password: str = fixtures.DEMO_PASSWORD
    ) -> httpx.Response:
        return await self.post(tenant, request, step="signin", login=login, passwd=password)

    async def code_for(self, login: str, *, tenant: str = "organizations", verifier_challenge: tuple[str, str]) -> str:
        """The whole browser leg: sign in, accept the consent screen if one shows, return the code."""
        _, challenge = verifier_challenge
        rid = request_id(await self.sign_in_page(tenant, self.authorize_params(challenge)))
        answer = await self.sign_in(tenant, rid, login)
        if answer.status_code == 200:  # the consent screen
            answer = await self.post(tenant, rid, step="consent", decision="accept")
        return redirect_query(answer)["code"]

    async def redeem(
        self, code: str, verifier: str, *, tenant: str = "organizations", **overrides: str
    ) -> httpx.Response:
        form = {
            "client_id": fixtures.DEMO_CLIENT_ID,
            "client_secret": fixtures.DEMO_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "scope": f"{ARM_SCOPE} offline_access openid profile",
        } | overrides
        return await self.http.post(f"/{tenant}/oauth2/v2.0/token", data=form)

    async def refresh(self, refresh_token: str, *, tenant: str, scope: str = ARM_SCOPE) -> httpx.Response:
        form = {
            "client_id": fixtures.DEMO_CLIENT_ID,
            "client_secret": fixtures.DEMO_CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": scope,
        }
        return await self.http.post(f"/{tenant}/oauth2/v2.0/token", data=form)

    def tokens(self, login: str, scope: str = f"{ARM_SCOPE} offline_access") -> dict[str, Any]:
        return self.state.identity.issue_user_tokens(fixtures.DEMO_CLIENT_ID, login, scope.split(), BASE)

    def bearer(self, login: str, scope: str = ARM_SCOPE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(login, scope)['access_token']}"}


@pytest.fixture(name="ms")
async def ms_fixture() -> AsyncIterator[Microsoft]:
    state = SentinelState()
    state.clock.set(FROZEN)
    state.reset()  # seeded again at the frozen time: the same data in every test
    app, state = create_emulator(state)
    async with httpx.AsyncClient(transport=asgi(app), base_url=BASE) as http:
        yield Microsoft(app, state, http)

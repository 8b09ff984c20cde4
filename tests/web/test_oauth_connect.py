"""Connecting a vendor by signing in there: the full browser round trip against the Acme emulator."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from portal.app import create_app
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.integrations.oauth import stored_tokens
from tests.conftest import csrf_token, sign_in
from tests.integrations.oauth_support import (
    ACME,
    CLIENT_SECRET,
    RecordingTransport,
    assert_log_is_clean,
    emulator,
    load,
    make_connection,
    outbound_rows,
)

CALLBACK = "http://127.0.0.1:8000/authcallback"  # the default public_url + /authcallback


@pytest.fixture
def acme():
    app, state, transport = emulator([CALLBACK])
    state.oauth.auto_approve = True  # the "browser" does not click Accept
    return app, state, transport


@asynccontextmanager
async def _portal(settings, transport: RecordingTransport) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings)
    app.state.http_transport = transport  # the app's vendor client talks to the emulator
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


@pytest.fixture
async def client(settings, acme) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with _portal(settings, acme[2]) as client:
        yield client


@pytest.fixture
def box(settings) -> SecretBox:
    return SecretBox.from_settings(settings)


@pytest.fixture
async def admin(make_user):
    return await make_user(Role.ADMIN)


@pytest.fixture
async def connection_id(sessionmaker, box) -> uuid.UUID:
    return await make_connection(sessionmaker, box, tokens=None, status="needs_reauth")


async def _start(client: AsyncTestClient[Litestar], connection_id: uuid.UUID) -> str:
    response = await client.post(
        f"/integrations/connections/{connection_id}/connect",
        data={"_csrf_token": await csrf_token(client, "/")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def _provider_answer(transport: RecordingTransport, authorize_url: str) -> dict[str, str]:
    """What the provider sends the browser back with (auto-approved consent)."""
    async with httpx.AsyncClient(transport=transport) as browser:
        response = await browser.get(authorize_url)
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def _callback(client: AsyncTestClient[Litestar], params: dict[str, str]) -> httpx.Response:
    return await client.get(f"/authcallback?{urlencode(params)}", follow_redirects=False)


async def _audit(sessionmaker, action: str) -> list[AuditEntry]:
    async with session_scope(sessionmaker) as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_signing_in_at_the_provider_connects_and_stores_tokens_encrypted(
    client, acme, admin, connection_id, sessionmaker, box
) -> None:
    transport = acme[2]
    await sign_in(client, admin.email)

    authorize_url = await _start(client, connection_id)
    assert authorize_url.startswith(f"{ACME}/oauth/authorize?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    assert query["redirect_uri"] == CALLBACK
    answer = await _provider_answer(transport, authorize_url)
    response = await _callback(client, answer)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/integrations/connections/{connection_id}"
    connection = await load(sessionmaker, connection_id)
    assert connection.status == "connected"
    assert connection.status_message == ""
    tokens = stored_tokens(box.open(connection.secrets_ciphertext))
    assert tokens is not None
    assert tokens.refresh_token
    assert tokens.claims.get("sub")
    assert connection.access_token_expires_at == tokens.expires_at
    async with session_scope(sessionmaker) as session:
        row = await session.scalar(
            text("SELECT row_to_json(c)::text FROM connections c WHERE id = :id"), {"id": connection_id}
        )
    for secret in (tokens.access_token, tokens.refresh_token, CLIENT_SECRET):
        assert secret not in row
    # PKCE: the verifier went to the token endpoint, and it is the one the challenge was made from.
    [exchange] = acme[2].token_calls("authorization_code")
    form = {key: values[0] for key, values in parse_qs(exchange.content.decode()).items()}
    verifier = form["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]
    assert form["redirect_uri"] == CALLBACK
    assert form["code"] == answer["code"]
    [entry] = await _audit(sessionmaker, "connection.connected")
    assert entry.object_id == str(connection_id)
    assert entry.actor_id == admin.id
    # The token exchange is in the request log, without code, verifier, secret or tokens.
    rows = await outbound_rows(sessionmaker)
    assert [row.url for row in rows] == [f"{ACME}/oauth/token"]
    assert rows[0].connection_id == connection_id
    assert "code_verifier=%5Bredacted%5D" in rows[0].request_excerpt
    id_token = acme[2].response_json(exchange)["id_token"]
    assert_log_is_clean(
        rows, [answer["code"], verifier, CLIENT_SECRET, tokens.access_token, tokens.refresh_token, id_token]
    )


async def test_a_state_works_once(client, acme, admin, connection_id, sessionmaker) -> None:
    await sign_in(client, admin.email)
    answer = await _provider_answer(acme[2], await _start(client, connection_id))
    assert (await _callback(client, answer)).status_code == 303

    replay = await _callback(client, answer)

    assert replay.status_code == 400
    assert "already used" in replay.text
    assert 'href="/integrations"' in replay.text  # the state is unknown now: no connection to go back to
    assert len(acme[2].token_calls("authorization_code")) == 1
    [failure] = await _audit(sessionmaker, "connection.oauth_failed")
    assert failure.after is not None
    assert failure.after == {"reason": "unknown_state", "message": failure.after["message"]}
    assert answer["code"] not in str(failure.after)


async def test_a_state_from_another_browser_session_is_refused(
    client, settings, acme, admin, connection_id, sessionmaker
) -> None:
    await sign_in(client, admin.email)
    answer = await _provider_answer(acme[2], await _start(client, connection_id))

    async with _portal(settings, acme[2]) as other:  # another browser, same administrator
        await sign_in(other, admin.email)
        stolen = await _callback(other, answer)

    assert stolen.status_code == 400
    assert acme[2].token_calls() == []
    assert (await load(sessionmaker, connection_id)).status == "needs_reauth"
    # The session that started the sign-in can still finish it.
    assert (await _callback(client, answer)).status_code == 303
    assert (await load(sessionmaker, connection_id)).status == "connected"


async def test_an_answer_claiming_another_issuer_is_refused(client, acme, admin, connection_id, sessionmaker) -> None:
    await sign_in(client, admin.email)
    answer = await _provider_answer(acme[2], await _start(client, connection_id))
    assert "iss" in answer

    mixed_up = await _callback(client, {**answer, "iss": "https://login.evil.test"})

    assert mixed_up.status_code == 400
    assert "login.evil.test" in mixed_up.text
    assert f'href="/integrations/connections/{connection_id}"' in mixed_up.text
    assert acme[2].token_calls() == []  # the code never reached a token endpoint
    [failure] = await _audit(sessionmaker, "connection.oauth_failed")
    assert failure.after is not None
    assert failure.after["reason"] == "issuer_mismatch"
    assert failure.object_id == str(connection_id)
    # And the state is spent: the genuine answer cannot follow.
    assert (await _callback(client, answer)).status_code == 400
    assert (await load(sessionmaker, connection_id)).status == "needs_reauth"


async def test_consent_refused_at_the_provider_says_so(client, acme, admin, connection_id, sessionmaker) -> None:
    _, state, transport = acme
    state.oauth.auto_approve = False
    await sign_in(client, admin.email)
    authorize_url = await _start(client, connection_id)
    async with httpx.AsyncClient(transport=transport) as browser:
        consent = await browser.get(authorize_url)
        assert consent.status_code == 200
        request_id = re.search(r"name='request' value='([^']+)'", consent.text)
        assert request_id
        cancelled = await browser.post(
            f"{ACME}/oauth/authorize", data={"request": request_id.group(1), "decision": "cancel"}
        )
    answer = {key: values[0] for key, values in parse_qs(urlsplit(cancelled.headers["location"]).query).items()}
    assert answer["error"] == "access_denied"

    refused = await _callback(client, answer)

    assert refused.status_code == 400
    assert "cancelled or consent was refused" in refused.text
    assert "The user declined." in refused.text  # the provider's own description
    assert f'href="/integrations/connections/{connection_id}"' in refused.text
    assert transport.token_calls() == []
    [failure] = await _audit(sessionmaker, "connection.oauth_failed")
    assert failure.after is not None
    assert failure.after["reason"] == "access_denied"
    assert (await load(sessionmaker, connection_id)).status == "needs_reauth"


async def test_htmx_connect_navigates_the_page(client, admin, connection_id) -> None:
    await sign_in(client, admin.email)
    response = await client.post(
        f"/integrations/connections/{connection_id}/connect",
        headers={"HX-Request": "true", "X-CSRFToken": await csrf_token(client, "/")},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith(f"{ACME}/oauth/authorize?")


async def test_only_administrators_connect(client, make_user, connection_id) -> None:
    analyst = await make_user(Role.ANALYST)
    await sign_in(client, analyst.email)
    response = await client.post(
        f"/integrations/connections/{connection_id}/connect",
        data={"_csrf_token": await csrf_token(client, "/")},
        follow_redirects=False,
    )
    assert response.status_code == 403


async def test_connect_needs_the_application_credentials_first(client, admin, sessionmaker, box) -> None:
    connection_id = await make_connection(sessionmaker, box, tokens=None, status="needs_reauth")
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        connection.secrets_ciphertext = ""  # saved without the client secret
    await sign_in(client, admin.email)
    response = await client.post(
        f"/integrations/connections/{connection_id}/connect",
        data={"_csrf_token": await csrf_token(client, "/")},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "client secret" in response.text
    htmx = await client.post(
        f"/integrations/connections/{connection_id}/connect",
        headers={"HX-Request": "true", "X-CSRFToken": await csrf_token(client, "/")},
    )
    assert htmx.status_code == 400
    assert htmx.headers["HX-Retarget"] == "#flashes"  # shown as a message, not swapped in as a page
    assert "client secret" in htmx.text


async def test_the_callback_needs_a_signed_in_user(client) -> None:
    response = await client.get("/authcallback?code=x&state=y", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")

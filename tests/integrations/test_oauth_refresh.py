"""Using and refreshing OAuth tokens against the Acme emulator: rotation, expiry, races, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from portal.db.base import utcnow
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.models import SyncRun
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.errors import ReauthRequired, Unavailable
from portal.integrations.http import VendorHttp
from portal.integrations.oauth import REAUTH_MESSAGE, OAuthCredentials, OAuthTokens, stored_tokens
from tests.integrations.oauth_support import (
    ACME,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPES,
    assert_log_is_clean,
    emulator,
    load,
    make_connection,
    outbound_rows,
    token_set,
    view,
)

BOX = SecretBox(["oauth-refresh-tests-key-" + "k" * 24])


@pytest.fixture
def acme():
    return emulator()


@pytest.fixture
async def http(acme) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=acme[2]) as client:
        yield client


@pytest.fixture
def tokens_source(sessionmaker, http) -> OAuthTokens:
    return OAuthTokens(sessionmaker, BOX, http, DatabaseRecorder(sessionmaker))


async def _api(sessionmaker, http, credentials: OAuthCredentials) -> VendorHttp:
    return VendorHttp(
        http, ACME, recorder=DatabaseRecorder(sessionmaker), connection_id=credentials.connection_id,
        credentials=credentials,
    )  # fmt: skip


def _secrets(connection) -> dict[str, Any]:
    return BOX.open(connection.secrets_ciphertext)


async def test_a_401_refreshes_once_retries_and_replaces_the_rotated_refresh_token(
    acme, http, sessionmaker, tokens_source
) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first))
    credentials = tokens_source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    api = await _api(sessionmaker, http, credentials)
    state.oauth.expire_access_tokens()  # still "valid" for another hour by our clock: only the 401 tells

    me = await api.json("GET", "/api/v1/me")

    assert me
    assert len(transport.token_calls("refresh_token")) == 1
    api_calls = transport.calls("/api/v1/me")
    assert api_calls[0].headers["Authorization"] == f"Bearer {first['access_token']}"
    stored = stored_tokens(_secrets(await load(sessionmaker, connection_id)))
    assert stored is not None
    assert api_calls[1].headers["Authorization"] == f"Bearer {stored.access_token}"
    assert stored.access_token != first["access_token"]
    assert stored.refresh_token
    assert stored.refresh_token != first["refresh_token"]
    connection = await load(sessionmaker, connection_id)
    assert first["refresh_token"] not in str(_secrets(connection))  # the spent token is not kept
    assert connection.access_token_expires_at == stored.expires_at
    # The emulator rotates: the old refresh token is dead, so keeping it would have been useless.
    old = await http.post(
        f"{ACME}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET},
    )  # fmt: skip
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_grant"


async def test_a_token_about_to_expire_is_refreshed_before_the_call(acme, http, sessionmaker, tokens_source) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    soon = utcnow() + timedelta(minutes=4)  # inside the 5-minute margin
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first, expires_at=soon))
    credentials = tokens_source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    api = await _api(sessionmaker, http, credentials)

    await api.json("GET", "/api/v1/me")

    assert len(transport.token_calls("refresh_token")) == 1
    [call] = transport.calls("/api/v1/me")  # no 401 first: the old token was never sent
    assert call.headers["Authorization"] != f"Bearer {first['access_token']}"
    stored = stored_tokens(_secrets(await load(sessionmaker, connection_id)))
    assert stored is not None
    assert stored.expires_at is not None
    assert stored.expires_at > utcnow() + timedelta(minutes=30)

    # A token with plenty of time left is used as it is.
    await api.json("GET", "/api/v1/me")
    assert len(transport.token_calls("refresh_token")) == 1


@pytest.mark.parametrize("after_401", [False, True])
async def test_concurrent_refreshes_call_the_token_endpoint_once(
    acme, http, sessionmaker, tokens_source, after_401: bool
) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    expiring = utcnow() + timedelta(seconds=30)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first, expires_at=expiring))
    connection = await view(sessionmaker, BOX, connection_id)
    # Two workers, each with its own credentials read before either refreshed.
    one = tokens_source.credentials(connection, MANIFEST)
    two = tokens_source.credentials(connection, MANIFEST)

    if after_401:
        results = await asyncio.gather(one.refresh(), two.refresh())
        assert list(results) == [True, True]
    else:
        await asyncio.gather(one.headers(), two.headers())

    assert len(transport.token_calls("refresh_token")) == 1
    assert one.tokens is not None
    assert two.tokens is not None
    assert one.tokens.access_token == two.tokens.access_token != first["access_token"]
    stored = stored_tokens(_secrets(await load(sessionmaker, connection_id)))
    assert stored == one.tokens
    # The winner's token works at the API.
    for credentials in (one, two):
        api = await _api(sessionmaker, http, credentials)
        assert await api.json("GET", "/api/v1/me")
    assert len(transport.token_calls("refresh_token")) == 1


async def test_a_revoked_grant_marks_the_connection_and_stops(acme, http, sessionmaker, tokens_source) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first))
    credentials = tokens_source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    api = await _api(sessionmaker, http, credentials)
    state.oauth.revoke_refresh_tokens()
    state.oauth.expire_access_tokens()

    with pytest.raises(ReauthRequired) as caught:
        await api.json("GET", "/api/v1/me")

    assert caught.value.message == REAUTH_MESSAGE
    assert len(transport.token_calls("refresh_token")) == 1  # no retry loop
    assert len(transport.calls("/api/v1/me")) == 1
    connection = await load(sessionmaker, connection_id)
    assert connection.status == "needs_reauth"
    assert connection.status_message == REAUTH_MESSAGE


async def test_without_a_refresh_token_a_person_must_sign_in_again(acme, http, sessionmaker, tokens_source) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    expired = token_set({**first, "refresh_token": None}, expires_at=utcnow() - timedelta(minutes=1))
    connection_id = await make_connection(sessionmaker, BOX, tokens=expired)
    never_signed_in = await make_connection(sessionmaker, BOX, tokens=None)

    for target in (connection_id, never_signed_in):
        credentials = tokens_source.credentials(await view(sessionmaker, BOX, target), MANIFEST)
        with pytest.raises(ReauthRequired):
            await credentials.headers()
        assert (await load(sessionmaker, target)).status == "needs_reauth"
    assert transport.token_calls() == []


async def test_the_request_log_of_token_calls_holds_no_secret(acme, http, sessionmaker, tokens_source) -> None:
    _, state, _ = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first))
    credentials = tokens_source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    api = await _api(sessionmaker, http, credentials)
    state.oauth.expire_access_tokens()
    await api.json("GET", "/api/v1/me")
    second = stored_tokens(_secrets(await load(sessionmaker, connection_id)))
    assert second is not None
    state.oauth.revoke_refresh_tokens()
    state.oauth.expire_access_tokens()
    with pytest.raises(ReauthRequired):
        await api.json("GET", "/api/v1/me")

    rows = await outbound_rows(sessionmaker)
    token_rows = [row for row in rows if row.url.endswith("/oauth/token")]
    assert [row.status_code for row in token_rows] == [200, 400]
    assert all(row.connection_id == connection_id for row in token_rows)
    assert "grant_type=refresh_token" in token_rows[0].request_excerpt  # the log is not empty, just redacted
    assert_log_is_clean(
        rows,
        [
            CLIENT_SECRET,
            first["access_token"],
            first["refresh_token"],
            second.access_token,
            second.refresh_token or "-",
        ],
    )


async def test_a_refresh_does_not_wait_on_rows_that_merely_reference_the_connection(acme, http, sessionmaker) -> None:
    """The job that needs the refresh has typically inserted a sync run (FK to the connection) in its
    own, still open transaction: the refresh's row lock must not wait for it (that would never end)."""
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first))
    source = OAuthTokens(sessionmaker, BOX, http, DatabaseRecorder(sessionmaker), lock_wait_seconds=2)
    credentials = source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    async with sessionmaker() as job, job.begin():
        job.add(SyncRun(connection_id=connection_id, entity="cases", trigger="schedule"))
        await job.flush()

        assert await credentials.refresh()

        await job.rollback()
    assert len(transport.token_calls("refresh_token")) == 1


async def test_a_refresh_blocked_by_a_writer_of_the_connection_fails_instead_of_hanging(
    acme, http, sessionmaker
) -> None:
    _, state, transport = acme
    first = state.oauth.issue_tokens(CLIENT_ID, SCOPES)
    connection_id = await make_connection(sessionmaker, BOX, tokens=token_set(first))
    source = OAuthTokens(sessionmaker, BOX, http, DatabaseRecorder(sessionmaker), lock_wait_seconds=0.3)
    credentials = source.credentials(await view(sessionmaker, BOX, connection_id), MANIFEST)
    async with sessionmaker() as writer, writer.begin():
        connection = await writer.get(Connection, connection_id)
        assert connection is not None
        connection.status_message = "being edited"
        await writer.flush()  # holds the row until this transaction ends

        with pytest.raises(Unavailable):
            await asyncio.wait_for(credentials.refresh(), timeout=10)

        await writer.rollback()
    assert transport.token_calls() == []

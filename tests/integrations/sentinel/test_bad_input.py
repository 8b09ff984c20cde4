"""What goes wrong with Microsoft, shown in Microsoft's words: a wrong client secret, consent refused,
a token from the wrong tenant, and "Test connection" against the emulator."""

from __future__ import annotations

import secrets
import time
import uuid

import pytest
from sqlalchemy import select

from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.sync.connector import check_connection
from portal.domain.sync.models import OutboundRequest, SyncState
from portal.integrations import oauth
from portal.integrations.emulation.oauth_server import s256
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.manifest import MANIFEST
from tests.integrations.sentinel.emulator_support import REDIRECT, Microsoft, ms_fixture
from tests.integrations.sentinel.support import Recorder
from tests.integrations.sentinel.world import make_world, token_set

NORTHWIND, WOODGROVE = fixtures.TENANTS
CONFIG = {"client_id": fixtures.DEMO_CLIENT_ID, "cloud": "public", "login_url": "http://ms.test"}
__all__ = ["ms_fixture"]


def _pending(verifier: str, user_id: uuid.UUID, tenant: str = "organizations") -> dict[str, object]:
    return {
        "state": "state-123", "verifier": verifier, "nonce": "nonce-456", "connection_id": str(uuid.uuid4()),
        "vendor": "sentinel", "issuer": "http://ms.test", "redirect_uri": REDIRECT, "user_id": str(user_id),
        "created_at": time.time(), "tenant": tenant,
    }  # fmt: skip


async def _exchange(ms: Microsoft, secret: str) -> oauth.TokenSet:
    verifier = secrets.token_urlsafe(48)
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=(verifier, s256(verifier)))
    user_id = uuid.uuid4()
    return await oauth.complete_authorization(
        _pending(verifier, user_id), {"state": "state-123", "code": code}, client=ms.http, recorder=Recorder(),
        manifest=MANIFEST, config=CONFIG, client_secret=secret, user_id=user_id,
    )  # fmt: skip


async def test_the_code_redeems_for_the_tenant_that_signed_in(ms: Microsoft) -> None:
    tokens = await _exchange(ms, fixtures.DEMO_CLIENT_SECRET)
    assert oauth.account_key(MANIFEST, tokens) == NORTHWIND.tenant_id
    assert tokens.refresh_token


async def test_a_wrong_client_secret_says_so_in_microsoft_s_words(ms: Microsoft) -> None:
    with pytest.raises(oauth.AuthorizationFailed) as caught:
        await _exchange(ms, "not-the-secret")
    assert caught.value.reason == "token_exchange"
    assert "invalid_client" in caught.value.message
    assert "AADSTS7000215" in caught.value.message
    assert "not-the-secret" not in caught.value.message


async def test_consent_refused_on_the_consent_screen(ms: Microsoft) -> None:
    verifier = secrets.token_urlsafe(48)
    params = ms.authorize_params(s256(verifier))
    from tests.integrations.sentinel.emulator_support import redirect_query, request_id

    rid = request_id(await ms.sign_in_page("organizations", params))
    consent = await ms.sign_in("organizations", rid, WOODGROVE.admin_upn)
    assert consent.status_code == 200  # Woodgrove has not consented: the screen shows
    answer = redirect_query(await ms.post("organizations", rid, step="consent", decision="cancel"))
    user_id = uuid.uuid4()
    with pytest.raises(oauth.AuthorizationFailed) as caught:
        oauth.check_callback(_pending(verifier, user_id), answer, user_id=user_id)
    assert caught.value.reason == "access_denied"
    assert "Nothing was connected" in caught.value.message


async def test_a_token_of_the_wrong_tenant_asks_to_reconnect_and_logs_arm_s_answer(settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    # The MSP's home-tenant token stored as if it were Northwind's: ARM refuses it for Northwind's subscription.
    home = token_set(world.state, NORTHWIND)
    msp = world.state.identity.issue_user_tokens(
        fixtures.DEMO_CLIENT_ID,
        fixtures.MSP_USER,
        ["https://management.azure.com/user_impersonation"],
        "http://ms.test",
    )
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, world.connection_id)
        assert connection is not None
        values = world.runtime.box.open(connection.secrets_ciphertext)
        values["oauth"][NORTHWIND.tenant_id] = {
            **home.to_json(),
            "access_token": msp["access_token"],
            "refresh_token": None,
        }
        connection.secrets_ciphertext = world.runtime.box.seal(values)
    step = await world.advance()
    assert step.outcome == "failed"
    async with session_scope(sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.connection_id == world.connection_id))
        assert state is not None
        assert f"sign in again for {NORTHWIND.tenant_id}" in state.last_error
        connection = await session.get(Connection, world.connection_id, populate_existing=True)
        assert connection is not None
        assert connection.status == "needs_reauth"
        # ARM's own answer is in the connection's request log, where the reason can be read.
        refused = (
            await session.scalars(
                select(OutboundRequest).where(
                    OutboundRequest.connection_id == world.connection_id, OutboundRequest.status_code == 401
                )
            )
        ).all()
        assert any("access token is from the wrong issuer" in row.response_excerpt for row in refused)


async def test_test_connection_lists_what_each_tenant_sees(settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    async with session_scope(sessionmaker) as session:
        check = await check_connection(session, world.runtime, world.connection_id)
    assert check.ok, check.message
    for tenant in fixtures.TENANTS:
        assert tenant.tenant_id in check.message
    world.state.identity.revoke_refresh_tokens()
    world.state.identity.expire_access_tokens()
    async with session_scope(sessionmaker) as session:
        check = await check_connection(session, world.runtime, world.connection_id)
    assert not check.ok
    assert "needs reauth" in check.message

"""The app's client secret and every tenant's tokens stay in socdesk's encrypted store: a sync that
signs in again (refresh) logs its calls, token endpoint included, without any of them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.sync.models import OutboundRequest
from portal.integrations.sentinel.emulator import fixtures
from tests.integrations.sentinel.world import World, make_world


@pytest.fixture
async def world(settings, sessionmaker) -> World:
    return await make_world(settings, sessionmaker)


async def _secrets_now(world: World) -> list[str]:
    """The client secret and every access and refresh token stored for the connection right now."""
    async with session_scope(world.sessionmaker) as session:
        connection = await session.get(Connection, world.connection_id)
        assert connection is not None
        stored = world.runtime.box.open(connection.secrets_ciphertext)
    tokens = [json.loads(raw) if isinstance(raw, str) else raw for raw in stored["oauth"].values()]
    found = [stored["client_secret"], stored["webhook_secret"]]
    for token in tokens:
        found += [token["access_token"], *([token["refresh_token"]] if token.get("refresh_token") else [])]
    return found


async def _everything_written(world: World) -> str:
    async with session_scope(world.sessionmaker) as session:
        rows = (await session.scalars(select(OutboundRequest))).all()
        assert any("/oauth2/v2.0/token" in row.url for row in rows), "no token call was logged: nothing checked"
        logged = [f"{row.url} {row.request_excerpt} {row.response_excerpt}" for row in rows]
        stored = [
            str(value)
            for table in ("connections", "sync_states", "sync_runs", "audit_log")
            for value in (await session.execute(text(f"SELECT row_to_json(t)::text FROM {table} t"))).scalars()  # noqa: S608
        ]
    return "\n".join(logged + stored)


async def test_a_sync_that_refreshes_its_token_logs_no_secret_or_token(world: World) -> None:
    before = await _secrets_now(world)
    world.state.identity.expire_access_tokens()
    steps = await world.run_to_end()
    assert steps[-1].outcome == "finished"
    after = await _secrets_now(world)
    assert after != before  # the refresh rotated the tokens, so both generations went over the wire
    written = await _everything_written(world)
    assert fixtures.DEMO_CLIENT_SECRET in before
    for secret in {*before, *after}:
        assert secret not in written

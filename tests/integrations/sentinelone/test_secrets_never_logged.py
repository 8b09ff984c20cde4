"""The console's API token never leaves socdesk's encrypted store: not in the request log, not in
the connection row, not in a run's or health's error text, even when the console refuses it."""

from __future__ import annotations

from sqlalchemy import select, text

from portal.db.engine import session_scope
from portal.domain.sync.models import OutboundRequest
from tests.integrations.sentinelone.conftest import FIXTURE, S1World


async def _everything_written(s1: S1World) -> str:
    """Every column of every row that could hold a secret by mistake, as one text."""
    async with session_scope(s1.sessionmaker) as session:
        rows = (await session.scalars(select(OutboundRequest))).all()
        logged = [f"{row.url} {row.request_excerpt} {row.response_excerpt}" for row in rows]
        assert logged, "the sync made no logged calls: nothing was checked"
        stored = [
            str(value)
            for table in ("connections", "sync_states", "sync_runs", "audit_log")
            for value in (await session.execute(text(f"SELECT row_to_json(t)::text FROM {table} t"))).scalars()  # noqa: S608
        ]
    return "\n".join(logged + stored)


async def test_a_sync_logs_its_calls_without_the_token(s1: S1World) -> None:
    client_id, _ = await s1.client_named("Northwind Traders")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    await s1.run("threats")
    await s1.run("agents")
    written = await _everything_written(s1)
    assert "/web/api/v2.1/threats" in written  # the calls are there...
    assert FIXTURE.token.token not in written  # ...their token is not


async def test_a_refused_token_is_not_echoed_into_errors(s1: S1World) -> None:
    wrong = "s1-wrong-token-" + "q" * 40
    await s1.set_token(wrong)
    await s1.run("threats")
    written = await _everything_written(s1)
    assert "Authentication Failed" in written  # the refusal is recorded...
    assert wrong not in written  # ...without the token it refused

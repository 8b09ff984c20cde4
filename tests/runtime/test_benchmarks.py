"""The benchmarks' moving parts run on a tiny estate (the benchmarks themselves are not tests)."""

from __future__ import annotations

import importlib

import asyncpg
from sqlalchemy import func, select

from bench.common import BenchEnv, percentile
from bench.dashboard import seed
from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.dashboard.figures import ticket_figures
from portal.domain.tickets.models import Ticket, TicketAction
from portal.runtime.services import asyncpg_dsn

bench_import = importlib.import_module("bench.import")  # "import" is a keyword


def _env(settings: Settings) -> BenchEnv:
    url = str(settings.database_url)
    return BenchEnv(settings, url, asyncpg_dsn(url), str(settings.redis_url))


async def test_the_dashboard_seed_writes_what_it_says(settings: Settings, sessionmaker, make_user) -> None:
    await make_user()
    facts = await seed(_env(settings), tickets=60, actions=150, clients=3)
    async with session_scope(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 60
        assert await session.scalar(select(func.count()).select_from(TicketAction)) == 150
        figures = await ticket_figures(session, Scope.system())
    assert sum(row.open for row in figures.by_priority) == figures.totals.open
    assert len(facts["limited_clients"]) == 3  # type: ignore[arg-type]


async def test_the_import_benchmark_imports_through_a_worker_and_upserts_raw(settings: Settings, sessionmaker) -> None:
    env = _env(settings)
    first, again, imported = await bench_import.import_through_worker(env, 4, 2)
    assert imported == 4
    assert first.seconds > 0
    assert first.statements.written.get("tickets", 0) >= 1
    # Reading everything again with nothing changed writes no item table at all.
    assert not {table for table in again.statements.written if table in bench_import.ITEM_TABLES}
    per_row, multi_row, raw_cases = await bench_import.raw_upserts(env, 2)
    assert raw_cases == 4
    assert per_row > 0
    assert multi_row > 0
    connection = await asyncpg.connect(env.dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM raw_external_links") == 4
    finally:
        await connection.execute("DROP TABLE raw_tickets, raw_ticket_actions, raw_external_links")
        await connection.close()


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99)) == (50.0, 95.0, 99.0)


def test_the_webhook_benchmark_imports() -> None:
    module = importlib.import_module("bench.webhook")
    assert module.ACK_TARGET_MS == 50.0

"""Import throughput: N Acme cases through a real worker, next to raw asyncpg upserts of the same rows.

    uv run python -m bench.import [--cases 10000] [--page-size 500]

The Acme Cases emulator (the built-in test vendor) holds N new cases; one sync is queued and a
real arq worker (burst mode) runs it to the end, exactly as in production: HTTP to the emulator
(in process, so its serving counts against socdesk), the engine's page-level apply, links,
fingerprints, the request log. The same sync then runs again from the start with nothing
changed. Last, the rows the import wrote (tickets, their "created" actions and external links)
are upserted again with plain asyncpg ``executemany`` into copies of those tables on the same
database, in transactions of one page each: the floor a hand-written loader would reach.
Every SQL statement the worker sends is counted (a SQLAlchemy cursor listener), by kind and by
table written. Targets: >= 2,000 cases/s and >= 50 % of the raw rate; a 10,000-case back-fill
in <= 10 s; a re-run with nothing changed >= 10,000 cases/s with no writes to item tables.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

import asyncpg
import httpx

from bench.acme import TENANT, AcmeSetup, acme_connection
from bench.common import BenchEnv, StatementCounter, Timer, bench_database, machine
from workers.queue import JobQueue, enqueue_sync
from workers.settings import build_worker

TARGET_RATE = 2000.0
TARGET_SHARE = 0.5
BACKFILL_ITEMS = 10_000
BACKFILL_SECONDS = 10.0
UNCHANGED_RATE = 10_000.0
API = "http://acme.emulator"

TABLES = {
    # table: (columns copied, the conflict target of the upsert)
    "tickets": (
        ["id", "client_id", "site_id", "ticket_type_id", "priority_id", "status_id", "agent_id", "summary", "details",
         "source", "custom_fields", "opened_at", "created_at", "updated_at"],
        "id",
    ),
    "ticket_actions": (
        ["id", "ticket_id", "kind", "body", "external_author", "changes", "created_at", "updated_at"], "id"
    ),
    "external_links": (
        ["id", "connection_id", "remote_type", "remote_id", "local_type", "local_id", "fingerprint",
         "remote_modified_at", "remote_url", "created_at", "updated_at"],
        "connection_id, remote_type, remote_id",
    ),
}  # fmt: skip


ITEM_TABLES = ("tickets", "ticket_actions", "external_links", "audit_log", "outbox_messages", "assets")


@dataclass
class Run:
    seconds: float
    items: int
    statements: StatementCounter


async def _sync_through_worker(env: BenchEnv, http: httpx.AsyncClient, setup: AcmeSetup, items: int) -> Run:
    """One manual sync of the link, run to its end by a real arq worker (burst mode)."""
    queue = await JobQueue.connect(env.redis_url)
    try:
        worker = build_worker(
            env.settings, env.database_url, env.redis_url, burst=True, poll_delay=0.05, cron_jobs=[], http_client=http
        )
        with StatementCounter() as statements, Timer() as timer:
            await enqueue_sync(queue, setup.connection_id, setup.link_id, "cases", trigger="manual")
            try:
                await worker.main()
            finally:
                await worker.close()
    finally:
        await queue.close()
    return Run(timer.seconds, items, statements)


async def import_through_worker(env: BenchEnv, cases: int, page_size: int) -> tuple[Run, Run, int]:
    """The first import of ``cases`` new cases, then the same sync again with nothing changed."""
    setup = await acme_connection(env, API, page_size=page_size)
    for n in range(cases):
        setup.state.create_case(TENANT, title=f"Benchmark case {n}", description="Raised by the benchmark.")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=setup.app), timeout=60)
    try:
        first = await _sync_through_worker(env, http, setup, cases)
        connection = await asyncpg.connect(env.dsn)
        try:
            imported = int(
                await connection.fetchval("SELECT count(*) FROM tickets WHERE client_id = $1", setup.client_id)
            )
            # Read everything again (as "re-sync from the start" does): every case comes back unchanged.
            await connection.execute("UPDATE sync_states SET watermark = NULL")
        finally:
            await connection.close()
        again = await _sync_through_worker(env, http, setup, cases)
    finally:
        await http.aclose()
    return first, again, imported


async def raw_upserts(env: BenchEnv, page_size: int) -> tuple[float, int]:
    """The same rows, upserted with asyncpg into copies of their tables, one transaction per page."""
    connection = await asyncpg.connect(env.dsn)
    try:
        rows: dict[str, list[asyncpg.Record]] = {}
        for table, (columns, _) in TABLES.items():
            await connection.execute(f"CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)")
            # Table and column names are the constants above, never input.
            rows[table] = await connection.fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY created_at")  # noqa: S608
        cases = len(rows["tickets"])
        statements = {}
        for table, (columns, conflict) in TABLES.items():
            placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns if column != "id")
            statements[table] = (
                f"INSERT INTO raw_{table} ({', '.join(columns)}) VALUES ({placeholders}) "  # noqa: S608
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
        with Timer() as timer:
            for start in range(0, cases, page_size):
                async with connection.transaction():
                    for table in TABLES:
                        share = len(rows[table]) / max(cases, 1)
                        chunk = rows[table][int(start * share) : int((start + page_size) * share)]
                        await connection.executemany(statements[table], [tuple(row) for row in chunk])
    finally:
        await connection.close()
    return timer.seconds, cases


async def run(cases: int, page_size: int) -> None:
    # A worker runs for days: its modules are loaded long before a sync, so not while timing.
    from portal.integrations.registry import vendors

    vendors()

    async with bench_database("import") as env:
        first, again, imported = await import_through_worker(env, cases, page_size)
        raw_seconds, raw_cases = await raw_upserts(env, page_size)
    rate = imported / first.seconds
    raw_rate = raw_cases / raw_seconds
    share = rate / raw_rate
    again_rate = again.items / again.seconds
    again_writes = again.statements.writes_to(ITEM_TABLES)
    print(
        f"\nfirst import: {imported:,} of {cases:,} cases through the worker in {first.seconds:.2f} s: "
        f"{rate:,.0f} cases/s"
    )
    print(f"  {first.statements.describe(imported)}; waiting for the database {first.statements.seconds:.2f} s")
    print(f"  statements writing each table: {dict(sorted(first.statements.written.items()))}")
    print(f"raw asyncpg upserts of the same rows:  {raw_cases:,} cases in {raw_seconds:.2f} s: {raw_rate:,.0f} cases/s")
    print(f"worker / raw: {share:.1%}")
    print(f"re-run with nothing changed: {again.items:,} cases in {again.seconds:.2f} s: {again_rate:,.0f} cases/s, "
          f"{again_writes} writes to item tables")  # fmt: skip
    print(f"  {again.statements.describe(again.items)}")
    print(f"target >= {TARGET_RATE:,.0f} cases/s:            {'ok' if rate >= TARGET_RATE else 'NOT MET'}")
    print(f"target >= {TARGET_SHARE:.0%} of raw:                 {'ok' if share >= TARGET_SHARE else 'NOT MET'}")
    if cases >= BACKFILL_ITEMS:
        backfill = BACKFILL_ITEMS / rate
        print(f"target {BACKFILL_ITEMS:,}-item back-fill <= {BACKFILL_SECONDS:.0f} s: {backfill:.1f} s, "
              f"{'ok' if backfill <= BACKFILL_SECONDS else 'NOT MET'}")  # fmt: skip
    print(f"target re-run >= {UNCHANGED_RATE:,.0f} cases/s, 0 writes: "
          f"{'ok' if again_rate >= UNCHANGED_RATE and again_writes == 0 else 'NOT MET'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    print(machine())
    asyncio.run(run(args.cases, args.page_size))


if __name__ == "__main__":
    main()

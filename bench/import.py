"""Import throughput: N Acme cases through a real worker, next to raw asyncpg upserts of the same rows.

    uv run python -m bench.import [--cases 10000] [--page-size 500]

The Acme Cases emulator (the built-in test vendor) holds N new cases; one sync is queued and a
real arq worker (burst mode) runs it to the end, exactly as in production: HTTP over loopback to
the emulator (a forked process of its own, as a vendor is; ``--emulator-in-process`` serves it
in the benchmark's process instead), the engine's page-level apply, links, fingerprints, the
request log. The same sync then runs again from the start with nothing changed. Last, the rows
the import wrote (tickets, their "created" actions and external links) are upserted again with
plain asyncpg into copies of those tables on the same database, in transactions of one page
each, once with ``executemany`` and once multi-row (``unnest``): the faster is the floor a
hand-written loader would reach.
Every SQL statement the worker sends is counted (a SQLAlchemy cursor listener), by kind and by
table written. Targets: >= 2,000 cases/s and >= 50 % of the raw rate; a 10,000-case back-fill
in <= 10 s; a re-run with nothing changed >= 10,000 cases/s with no writes to item tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import uvicorn

from bench.acme import TENANT, AcmeSetup, acme_connection
from bench.common import BenchEnv, StatementCounter, Timer, bench_database, free_port, machine
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


@contextlib.contextmanager
def served_elsewhere(app: Any, port: int) -> Iterator[None]:
    """The emulator in a forked process of its own on loopback: a vendor's serving is not socdesk's
    work, and in process it would take the worker's core and GIL."""
    process = multiprocessing.get_context("fork").Process(
        target=uvicorn.run, args=(app,), kwargs={"host": "127.0.0.1", "port": port, "log_level": "warning"},
        daemon=True,
    )  # fmt: skip
    process.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the emulator process did not come up")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.join(10)


async def import_through_worker(
    env: BenchEnv, cases: int, page_size: int, *, emulator_process: bool = False
) -> tuple[Run, Run, int]:
    """The first import of ``cases`` new cases, then the same sync again with nothing changed."""
    port = free_port()
    api = f"http://127.0.0.1:{port}" if emulator_process else API
    setup = await acme_connection(env, api, page_size=page_size)
    for n in range(cases):
        setup.state.create_case(TENANT, title=f"Benchmark case {n}", description="Raised by the benchmark.")
    with contextlib.ExitStack() as serving:
        if emulator_process:
            serving.enter_context(served_elsewhere(setup.app, port))
            http = httpx.AsyncClient(timeout=60)
        else:
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=setup.app), timeout=60)
        return await _import_twice(env, http, setup, cases)


async def _import_twice(env: BenchEnv, http: httpx.AsyncClient, setup: AcmeSetup, cases: int) -> tuple[Run, Run, int]:
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


async def raw_upserts(env: BenchEnv, page_size: int) -> tuple[float, float, int]:
    """The same rows, upserted with asyncpg into copies of their tables, one transaction per page:
    once with ``executemany`` (one statement a row, pipelined), once multi-row (one statement a
    table a page, ``INSERT ... SELECT FROM unnest(...)``). Seconds of each, and the case count."""
    connection = await asyncpg.connect(env.dsn)
    try:
        rows: dict[str, list[asyncpg.Record]] = {}
        types: dict[str, list[str]] = {}
        for table, (columns, _) in TABLES.items():
            await connection.execute(f"CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)")
            # Table and column names are the constants above, never input.
            rows[table] = await connection.fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY created_at")  # noqa: S608
            types[table] = [
                await connection.fetchval(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass "
                    "AND attname = $2",
                    table, column,
                )
                for column in columns
            ]  # fmt: skip
        cases = len(rows["tickets"])
        per_row, multi_row = {}, {}
        for table, (columns, conflict) in TABLES.items():
            names = ", ".join(columns)
            updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns if column != "id")
            placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types[table], start=1))
            per_row[table] = (
                f"INSERT INTO raw_{table} ({names}) VALUES ({placeholders}) "  # noqa: S608
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
            multi_row[table] = (
                f"INSERT INTO raw_{table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )

        def chunks(start: int) -> Iterator[tuple[str, list[asyncpg.Record]]]:
            for table in TABLES:
                share = len(rows[table]) / max(cases, 1)
                yield table, rows[table][int(start * share) : int((start + page_size) * share)]

        with Timer() as executemany:
            for start in range(0, cases, page_size):
                async with connection.transaction():
                    for table, chunk in chunks(start):
                        await connection.executemany(per_row[table], [tuple(row) for row in chunk])
        await connection.execute(f"TRUNCATE {', '.join(f'raw_{table}' for table in TABLES)}")
        with Timer() as multi:
            for start in range(0, cases, page_size):
                async with connection.transaction():
                    for table, chunk in chunks(start):
                        if chunk:
                            await connection.execute(
                                multi_row[table], *(list(column) for column in zip(*chunk, strict=True))
                            )
    finally:
        await connection.close()
    return executemany.seconds, multi.seconds, cases


async def run(cases: int, page_size: int, *, emulator_process: bool) -> None:
    # A worker runs for days: its modules are loaded long before a sync, so not while timing.
    from portal.integrations.registry import vendors

    vendors()

    async with bench_database("import") as env:
        first, again, imported = await import_through_worker(env, cases, page_size, emulator_process=emulator_process)
        per_row_seconds, multi_row_seconds, raw_cases = await raw_upserts(env, page_size)
    rate = imported / first.seconds
    raw_rate = raw_cases / min(per_row_seconds, multi_row_seconds)  # the faster of the two is the floor
    share = rate / raw_rate
    again_rate = again.items / again.seconds
    again_writes = again.statements.writes_to(ITEM_TABLES)
    print(
        f"\nfirst import: {imported:,} of {cases:,} cases through the worker in {first.seconds:.2f} s: "
        f"{rate:,.0f} cases/s"
    )
    print(f"  {first.statements.describe(imported)}; waiting for the database {first.statements.seconds:.2f} s")
    print(f"  statements writing each table: {dict(sorted(first.statements.written.items()))}")
    for statement, seconds in first.statements.slowest():
        print(f"    {seconds:6.2f} s  {statement}")
    print(f"raw asyncpg upserts of the same rows, executemany: {raw_cases:,} cases in {per_row_seconds:.2f} s: "
          f"{raw_cases / per_row_seconds:,.0f} cases/s")  # fmt: skip
    print(f"raw asyncpg upserts of the same rows, multi-row:   {raw_cases:,} cases in {multi_row_seconds:.2f} s: "
          f"{raw_cases / multi_row_seconds:,.0f} cases/s")  # fmt: skip
    print(f"worker / raw (the faster): {share:.1%}")
    print(f"re-run with nothing changed: {again.items:,} cases in {again.seconds:.2f} s: {again_rate:,.0f} cases/s, "
          f"{again_writes} writes to item tables")  # fmt: skip
    print(f"  {again.statements.describe(again.items)}; waiting for the database {again.statements.seconds:.2f} s")
    for statement, seconds in again.statements.slowest(3):
        print(f"    {seconds:6.2f} s  {statement}")
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
    parser.add_argument(
        "--emulator-in-process", action="store_true",
        help="serve the emulator in the benchmark's process (its serving then counts against socdesk)",
    )  # fmt: skip
    args = parser.parse_args()
    print(machine())
    asyncio.run(run(args.cases, args.page_size, emulator_process=not args.emulator_in_process))


if __name__ == "__main__":
    main()

"""Dashboard, queue and client pages on a large estate: p50/p95 server time.

    uv run python -m bench.dashboard [--tickets 100000] [--actions 500000] [--clients 200] [--rounds 40]

Seeds the estate with COPY through asyncpg (a year of tickets, about 8 % of them open), then
times each page as served by ``socdesk web`` in its own process, over loopback (routing,
session, queries, templates), as an administrator and as an analyst limited to three clients.
Target: p95 <= 100 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from datetime import timedelta

import asyncpg
import httpx

from bench.common import (
    BenchEnv,
    Timer,
    bench_database,
    machine,
    make_staff,
    percentile,
    sign_in,
    summary_ms,
    web_server,
)
from portal.db.base import utcnow
from portal.domain.accounts.models import Role
from portal.domain.tickets.models import TicketSource
from portal.domain.tickets.queue import Cursor, QueueSort, encode_cursor

TARGET_MS = 100.0
SOURCES = [source.value for source in TicketSource]
WORDS = ["phishing", "malware", "beacon", "ransomware", "brute-force", "impossible-travel", "exfiltration", "lateral"]


async def seed(env: BenchEnv, *, tickets: int, actions: int, clients: int, seed_value: int = 7) -> dict[str, object]:
    rng = random.Random(seed_value)  # noqa: S311  (benchmark data)
    now = utcnow()
    connection = await asyncpg.connect(env.dsn)
    try:
        priorities = [row["id"] for row in await connection.fetch("SELECT id FROM priorities ORDER BY rank")]
        statuses = {
            row["name"]: (row["id"], row["is_closed"]) for row in await connection.fetch("SELECT * FROM statuses")
        }
        open_ids = [sid for sid, closed in statuses.values() if not closed]
        closed_ids = [sid for sid, closed in statuses.values() if closed]
        ticket_type = await connection.fetchval("SELECT id FROM ticket_types ORDER BY name LIMIT 1")
        agents = [row["id"] for row in await connection.fetch("SELECT id FROM users")]

        client_rows, site_rows = [], []
        for n in range(clients):
            client_id = uuid.uuid4()
            client_rows.append((client_id, f"Client {n:03d}", now, now))
            site_rows.append((uuid.uuid4(), client_id, "Head office", True, now, now))
        await connection.copy_records_to_table(
            "clients", records=client_rows, columns=["id", "name", "created_at", "updated_at"]
        )
        await connection.copy_records_to_table(
            "sites", records=site_rows, columns=["id", "client_id", "name", "is_main", "created_at", "updated_at"]
        )

        ticket_rows = []
        for _ in range(tickets):
            client = rng.randrange(clients)
            opened = now - timedelta(minutes=rng.uniform(0, 365 * 24 * 60))
            is_open = rng.random() < 0.08
            responded = opened + timedelta(minutes=rng.uniform(2, 240)) if rng.random() < 0.85 else None
            closed = None if is_open else opened + timedelta(minutes=rng.uniform(30, 5 * 24 * 60))
            if closed is not None and closed > now:
                closed = now
            if responded is not None and responded > now:
                responded = None
            updated = max(value for value in (opened, responded, closed) if value is not None)
            ticket_rows.append(
                (
                    uuid.uuid4(),
                    client_rows[client][0],
                    site_rows[client][0],
                    ticket_type,
                    rng.choice(priorities),
                    rng.choice(open_ids if is_open else closed_ids),
                    rng.choice(agents) if agents and rng.random() < 0.6 else None,
                    f"{rng.choice(WORDS).title()} on host WS{rng.randrange(10_000):04d}",
                    "",
                    rng.choice(SOURCES),
                    opened,
                    responded,
                    closed,
                    opened,
                    updated,
                )
            )
        await connection.copy_records_to_table(
            "tickets",
            records=ticket_rows,
            columns=[
                "id",
                "client_id",
                "site_id",
                "ticket_type_id",
                "priority_id",
                "status_id",
                "agent_id",
                "summary",
                "details",
                "source",
                "opened_at",
                "first_response_at",
                "closed_at",
                "created_at",
                "updated_at",
            ],
        )
        action_rows = []
        kinds = ["note", "assignment", "status_change", "priority_change"]
        for n in range(actions):
            ticket = ticket_rows[n % tickets] if n < tickets else rng.choice(ticket_rows)
            kind = "created" if n < tickets else rng.choice(kinds)
            at = ticket[10] + timedelta(minutes=rng.uniform(0, 600))
            action_rows.append((uuid.uuid4(), ticket[0], kind, "Looked into it." if kind == "note" else "", at, at))
        await connection.copy_records_to_table(
            "ticket_actions",
            records=action_rows,
            columns=["id", "ticket_id", "kind", "body", "created_at", "updated_at"],
        )
        await connection.execute("VACUUM ANALYZE")  # what autovacuum does to a table this size
        await connection.execute("CHECKPOINT")  # the seed's writes flushed before anything is timed
        deep = await connection.fetchrow(
            "SELECT id, updated_at FROM tickets ORDER BY updated_at DESC, id DESC OFFSET $1 LIMIT 1", tickets // 2
        )
        busiest = await connection.fetchval(
            "SELECT client_id FROM tickets GROUP BY client_id ORDER BY count(*) DESC LIMIT 1"
        )
    finally:
        await connection.close()
    assert deep is not None
    cursor = encode_cursor(Cursor(QueueSort(), before=False, key=deep["updated_at"], row_id=deep["id"]))
    return {
        "deep_cursor": cursor,
        "client_id": busiest,
        "limited_clients": [row[0] for row in client_rows[:3]],
    }


async def _time(
    client: httpx.AsyncClient, path: str, rounds: int, headers: dict[str, str] | None = None
) -> list[float]:
    for _ in range(3):  # warm the caches and the connection pool
        response = await client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} -> {response.status_code}")
    times = []
    for _ in range(rounds):
        with Timer() as timer:
            response = await client.get(path, headers=headers)
        assert response.status_code == 200
        times.append(timer.seconds)
    return times


async def run(tickets: int, actions: int, clients: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    async with bench_database("dashboard") as env:
        admin = await make_staff(env, "admin@bench.example")
        analyst = await make_staff(env, "analyst@bench.example", Role.ANALYST)
        with Timer() as seeding:
            facts = await seed(env, tickets=tickets, actions=actions, clients=clients)
        print(f"seeded {tickets:,} tickets, {actions:,} actions, {clients} clients in {seeding.seconds:.1f} s")
        connection = await asyncpg.connect(env.dsn)
        try:
            await connection.execute("UPDATE users SET all_clients = false WHERE id = $1", analyst.id)
            await connection.executemany(
                "INSERT INTO user_clients (user_id, client_id) VALUES ($1, $2)",
                [(analyst.id, client_id) for client_id in facts["limited_clients"]],  # type: ignore[attr-defined]
            )
        finally:
            await connection.close()

        pages = {
            "dashboard (/)": ("/", None),
            "dashboard tickets fragment": ("/dashboard/tickets", {"HX-Request": "true"}),
            "queue first page (open)": ("/tickets", None),
            "queue first page (all)": ("/tickets?status=all", None),
            "queue deep page (row 50%)": (f"/tickets?status=all&cursor={facts['deep_cursor']}", None),
            "client page": (f"/clients/{facts['client_id']}", None),
        }
        async with web_server(env) as base:
            for who, email in (("admin", admin.email), ("limited analyst", analyst.email)):
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    await sign_in(client, email)
                    for label, (path, headers) in pages.items():
                        if who != "admin" and label == "client page":
                            continue  # that client is not one of the analyst's
                        results[f"{label} [{who}]"] = await _time(client, path, rounds, headers)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=500_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    print(machine())
    results = asyncio.run(run(args.tickets, args.actions, args.clients, args.rounds))
    print(f"\ntime per page (socdesk web over loopback); target p95 <= {TARGET_MS:.0f} ms")
    width = max(len(label) for label in results)
    for label, times in results.items():
        p95 = percentile(times, 0.95) * 1000
        verdict = "ok" if p95 <= TARGET_MS else "OVER TARGET"
        print(f"  {label:<{width}}  {summary_ms(times)}  {verdict}")


if __name__ == "__main__":
    main()

"""Webhooks at a fixed rate: ack latency, and how soon each new case shows on an open dashboard.

    uv run python -m bench.webhook [--rate 100] [--seconds 10]

``socdesk web`` and ``socdesk worker`` run as processes of their own (as in production), the
Acme Cases emulator is served on loopback in this process. A sender raises a case in the
emulator and POSTs its signed ``case.created`` webhook to socdesk every 1/rate seconds (open
loop: a slow answer never slows the sender), timing each acknowledgement. Meanwhile a client
signed in as an administrator keeps the live stream open exactly like a dashboard page does:
on each "tickets" message it fetches the dashboard's ticket fragment and reads the "new in
24 h" figure. Printed: ack latency; event -> dashboard (from the moment the worker's commit
published the event to the refreshed fragment in hand: the live-update path); and, end to end,
from each webhook being sent to the first fragment that counts its ticket (which includes the
queue and the import itself). Targets: ack p95 <= 50 ms at 100 req/s; event -> dashboard p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import threading
import time

import httpx
import uvicorn

from bench.acme import TENANT, AcmeSetup, acme_connection
from bench.common import (
    BenchError,
    bench_database,
    free_port,
    machine,
    make_staff,
    percentile,
    sign_in,
    socdesk_process,
    summary_ms,
    web_server,
)
from portal.integrations.acme.emulator.webhooks import build_event, signed_request

ACK_TARGET_MS = 50.0
DASHBOARD_TARGET_S = 1.0
MAX_WEBHOOKS = 6000
WAIT_SECONDS = 120  # for the worker to import what was queued
NEW_FIGURE = re.compile(r'data-testid="figure-new">.*?data-value="(\d+)"', re.S)


class Dashboard:
    """A signed-in page's view of the live stream: (when, how many new tickets) after each refresh."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.samples: list[tuple[float, int]] = []
        self.refresh_times: list[float] = []  # SSE message -> fragment in hand
        self.event_times: list[float] = []  # event published (after commit) -> fragment in hand
        self.ready = asyncio.Event()

    async def _fragment(self) -> int:
        response = await self.client.get("/dashboard/tickets", headers={"HX-Request": "true"})
        match = NEW_FIGURE.search(response.text)
        if match is None:
            # A redirect to sign-in here means the session went (was the Redis database flushed meanwhile?).
            raise BenchError(f"the dashboard fragment ({response.status_code}) has no 'new in 24 h' figure")
        return int(match[1])

    async def follow(self) -> None:
        headers = {"Accept": "text/event-stream"}
        event = ""
        async with self.client.stream("GET", "/live/stream?topics=tickets", headers=headers, timeout=None) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                if line == "event: ready":
                    self.samples.append((time.perf_counter(), await self._fragment()))
                    self.ready.set()
                elif event == "tickets" and line.startswith("data: "):
                    published = float(json.loads(line.removeprefix("data: "))["at"])  # wall clock, same machine
                    heard = time.perf_counter()
                    count = await self._fragment()
                    now = time.perf_counter()
                    self.refresh_times.append(now - heard)
                    self.event_times.append(time.time() - published)
                    self.samples.append((now, count))

    def seen_at(self, count: int) -> float | None:
        return next((at for at, seen in self.samples if seen >= count), None)


async def run(rate: float, seconds: float) -> None:
    total = min(int(rate * seconds), MAX_WEBHOOKS)
    async with bench_database("webhook") as env:
        emulator_port = free_port()
        api = f"http://127.0.0.1:{emulator_port}"
        setup = await acme_connection(env, api, page_size=100)
        # Its own thread and event loop: the worker's calls to it must not queue behind the sender.
        emulator = uvicorn.Server(uvicorn.Config(setup.app, host="127.0.0.1", port=emulator_port, log_level="warning"))
        serving = threading.Thread(target=emulator.run, daemon=True)
        serving.start()
        admin = await make_staff(env, "admin@bench.example")
        try:
            async with (
                web_server(env) as base,
                socdesk_process(env, "worker"),
                httpx.AsyncClient(base_url=base, timeout=30) as page_client,
                httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=50)) as sender,
            ):
                await sign_in(page_client, admin.email)
                dashboard = Dashboard(page_client)
                follower = asyncio.create_task(dashboard.follow())
                await asyncio.wait_for(dashboard.ready.wait(), 30)
                baseline = dashboard.samples[-1][1]
                sent_at, acks, failures = await _send(sender, setup, total, rate)
                deadline = time.perf_counter() + WAIT_SECONDS
                while dashboard.seen_at(baseline + total) is None and time.perf_counter() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        finally:
            emulator.should_exit = True
            await asyncio.to_thread(serving.join, 10)
    latencies = [
        seen - sent for n, sent in enumerate(sent_at) if (seen := dashboard.seen_at(baseline + n + 1)) is not None
    ]
    print(f"\n{total} webhooks at {rate:g}/s for {total / rate:g} s; {failures} not acknowledged with 202/200")
    print(f"  ack latency:                    {summary_ms(acks)}")
    print(f"  SSE message -> fragment:        {summary_ms(dashboard.refresh_times)}")
    print(f"  event published -> fragment:    {summary_ms(dashboard.event_times)}")
    print(f"  webhook -> on the dashboard:    {summary_ms(latencies)}  ({len(latencies)} of {total} seen)")
    ack_p95 = percentile([ack * 1000 for ack in acks], 0.95)
    event_p95 = percentile(dashboard.event_times, 0.95)
    print(f"target ack p95 <= {ACK_TARGET_MS:.0f} ms: {'ok' if ack_p95 <= ACK_TARGET_MS else 'NOT MET'}")
    verdict = "ok" if event_p95 <= DASHBOARD_TARGET_S else "NOT MET"
    print(f"target event -> dashboard p95 <= {DASHBOARD_TARGET_S:g} s: {verdict}")


async def _send(
    sender: httpx.AsyncClient, setup: AcmeSetup, total: int, rate: float
) -> tuple[list[float], list[float], int]:
    sent_at: list[float] = []
    acks: list[float] = []
    failures = 0
    path = f"/hooks/{setup.connection_id}"

    async def deliver(body: bytes, headers: dict[str, str]) -> None:
        nonlocal failures
        start = time.perf_counter()
        try:
            response = await sender.post(path, content=body, headers=headers)
            ok = response.status_code in (200, 202)
        except httpx.HTTPError:
            ok = False
        acks.append(time.perf_counter() - start)
        failures += 0 if ok else 1

    tasks = []
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        case = setup.state.create_case(TENANT, title=f"Webhook case {n}", severity="high")
        body, headers = signed_request(
            setup.webhook_secret, build_event(TENANT, case.id, "case.created", case.modified_at)
        )
        sent_at.append(time.perf_counter())
        tasks.append(asyncio.create_task(deliver(body, headers)))
    await asyncio.gather(*tasks)
    return sent_at, acks, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(machine())
    asyncio.run(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()

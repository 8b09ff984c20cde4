"""Real worker processes on real Redis and PostgreSQL, killed at random points mid-import.

The emulator is served over TCP, `socdesk worker` runs as a subprocess, and the test kills it
with SIGKILL at random moments while it pages through a tenant's cases, then starts a new one.
Killing a worker leaves arq's in-progress marker until ``job timeout + 10 s``; the test deletes
those markers instead of waiting (exactly what their expiry would do). Whatever the kill points,
every case ends up imported exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from portal.config import Settings
from tests.integrations.oauth_support import emulator
from tests.serving import served, start_worker
from tests.sync.harness import World, ago, make_world
from workers.queue import JobQueue, enqueue_sync


@pytest.fixture
def acme_over_tcp() -> Iterator[tuple[object, object, object, str]]:
    app, state, transport = emulator()
    with served(app, what="the Acme emulator") as url:
        yield app, state, transport, url


async def _release_killed_jobs(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter("arq:in-progress:*"):
            await redis.delete(key)
    finally:
        await redis.aclose()


async def _wait_for_progress(world: World, *, beyond: int) -> None:
    async with asyncio.timeout(30):
        while len(await world.links_per_case()) <= beyond:  # noqa: ASYNC110  (another process writes)
            await asyncio.sleep(0.05)


async def _finished(world: World, expected: int) -> bool:
    state = await world.maybe_state()
    done = state is not None and state.run_id is None and state.last_success_at is not None
    return done and len(await world.links_per_case()) >= expected


async def _wait_for_completion(world: World, expected: int) -> None:
    async with asyncio.timeout(60):
        while not await _finished(world, expected):  # noqa: ASYNC110  (another process writes)
            await asyncio.sleep(0.3)


async def test_killing_the_worker_at_random_points_loses_and_duplicates_nothing(
    settings: Settings, sessionmaker, acme_over_tcp: tuple[object, object, object, str]
) -> None:
    app, state, transport, url = acme_over_tcp
    world = await make_world(settings, sessionmaker, page_size=3, emulated=(app, state, transport), api_url=url)  # type: ignore[arg-type]
    cases = [world.case(f"Case {n}", modified_at=ago(world.state, minutes=300 - n)) for n in range(24)]
    world.state.faults.add("latency", seconds=0.06, count=10_000)  # pages take long enough to be interrupted

    queue = await JobQueue.connect(str(settings.redis_url))
    rng = random.Random(4)
    at_kills: list[int] = []
    try:
        await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
        for _ in range(4):
            worker = start_worker(settings)
            await _wait_for_progress(world, beyond=at_kills[-1] if at_kills else 0)
            await asyncio.sleep(rng.uniform(0, 0.5))  # somewhere inside the next page or two
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            at_kills.append(len(await world.links_per_case()))
            await _release_killed_jobs(str(settings.redis_url))
            # A kill between a page's commit and the next page's enqueue strands the run; the
            # scheduler re-queues stalled runs, as this manual trigger does here.
            await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
        worker = start_worker(settings)
        try:
            await _wait_for_completion(world, len(cases))
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
    finally:
        await queue.close()

    assert any(0 < imported < len(cases) for imported in at_kills), f"no kill landed mid-import: {at_kills}"
    assert await world.links_per_case() == dict.fromkeys(cases, 1)
    assert len(await world.tickets()) == len(cases)

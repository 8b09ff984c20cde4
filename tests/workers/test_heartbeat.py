"""The worker wiring, proven with a real arq worker on real Redis and PostgreSQL."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select

from portal.config import Settings
from portal.domain.accounts.models import Role
from portal.domain.system.models import WorkerHeartbeat
from tests.conftest import sign_in
from workers.queue import HEALTH_CHECK_KEY, JobQueue, job_id
from workers.settings import build_worker


async def _run_burst(settings: Settings, database_url: str, redis_url: str) -> int:
    worker = build_worker(settings, database_url, redis_url, burst=True, poll_delay=0, cron_jobs=[])
    try:
        await worker.main()
        return worker.jobs_complete
    finally:
        await worker.close()


async def test_heartbeat_job_runs_in_a_real_worker_and_records_the_beat(
    settings: Settings, database_url: str, redis_url: str, sessionmaker
) -> None:
    queue = await JobQueue.connect(redis_url)
    try:
        first = await queue.enqueue("heartbeat", job_id=job_id("heartbeat", "test"))
        duplicate = await queue.enqueue("heartbeat", job_id=job_id("heartbeat", "test"))
        assert first.queued
        assert not duplicate.queued
        assert await queue.depth() == 1
    finally:
        await queue.close()

    assert await _run_burst(settings, database_url, redis_url) == 1

    async with sessionmaker() as session:
        beats = (await session.execute(select(WorkerHeartbeat))).scalars().all()
    assert len(beats) == 1
    assert beats[0].beats == 1
    assert beats[0].last_beat_at >= beats[0].started_at


async def test_worker_writes_arq_health_check_key(settings: Settings, database_url: str, redis_url: str) -> None:
    worker = build_worker(settings, database_url, redis_url, burst=True, poll_delay=0, cron_jobs=[])
    try:
        await worker.main()
        redis = Redis.from_url(redis_url)
        try:
            health = await redis.get(HEALTH_CHECK_KEY)
        finally:
            await redis.aclose()
        assert health is not None
        assert b"j_complete=" in health
    finally:
        await worker.close()


async def test_dashboard_shows_the_workers_last_beat(
    client: AsyncTestClient[Litestar], make_user, settings: Settings, database_url: str, redis_url: str
) -> None:
    user = await make_user(Role.VIEWER)
    await sign_in(client, user.email)
    before = await client.get("/dashboard/system-health", headers={"HX-Request": "true"})
    assert "No heartbeat yet" in before.text
    assert before.text.lstrip().startswith('<section id="system-health"')  # the fragment, not the page
    assert before.headers["vary"] == "HX-Request"

    queue = await JobQueue.connect(redis_url)
    await queue.enqueue("heartbeat")
    await queue.close()
    await _run_burst(settings, database_url, redis_url)

    after = await client.get("/")
    assert 'data-testid="worker-status">Alive' in after.text
    assert "<!DOCTYPE html>" in after.text

"""The sync jobs in a real arq worker: continuation pages, schedules, failed-job records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.errors import ValidationError
from portal.domain.sync import engine, schedule
from portal.domain.sync.failures import mark_retried
from portal.domain.sync.models import FailedJob, SyncRun
from tests.sync.harness import World, ago, make_world
from workers.jobs import sync as sync_jobs
from workers.queue import JobQueue, enqueue_sync
from workers.settings import build_worker


async def _burst(world: World, settings: Settings) -> int:
    worker = build_worker(
        settings, str(settings.database_url), str(settings.redis_url), burst=True, poll_delay=0, cron_jobs=[],
        http_client=world.runtime.http,
    )  # fmt: skip
    try:
        await worker.main()
        return worker.jobs_complete + worker.jobs_failed
    finally:
        await worker.close()


@pytest.mark.parametrize(("seconds", "jobs"), [(5.0, 1), (0.0, 3)])
async def test_a_queued_sync_runs_page_by_page_in_a_real_worker(
    settings: Settings, sessionmaker, monkeypatch: pytest.MonkeyPatch, seconds: float, jobs: int
) -> None:
    # A job goes on from page to page for a few seconds, then hands the rest to a job of its own.
    monkeypatch.setattr(sync_jobs, "PAGES_FOR_SECONDS", seconds)
    world = await make_world(settings, sessionmaker, page_size=2)
    for n in range(5):
        world.case(f"Case {n}", modified_at=ago(world.state, hours=5 - n))
    queue = await JobQueue.connect(str(settings.redis_url))
    try:
        first = await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
        again = await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
    finally:
        await queue.close()
    assert first.queued
    assert not again.queued  # the same scope is never queued twice
    assert first.job_id == f"sync-page:{world.connection_id}:{world.link_id}:cases"

    assert await _burst(world, settings) == jobs
    async with session_scope(sessionmaker) as session:
        [run] = (await session.scalars(select(SyncRun))).all()
    assert (run.pages, run.created, run.outcome, run.trigger) == (3, 5, "succeeded", "manual")
    assert len(await world.tickets()) == 5


async def test_the_scheduler_queues_what_is_due_and_only_that(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    due = await _due(world)
    assert [(scope.client_link_id, scope.entity) for scope in due] == [(world.link_id, "cases")]

    await world.run_to_end()
    assert await _due(world) == []
    state = await world.sync_state()
    assert state.next_run_at is not None
    assert await _due(world, at=state.next_run_at + timedelta(seconds=1)) != []


async def _due(world: World, at: object | None = None) -> list[schedule.DueScope]:
    async with session_scope(world.sessionmaker) as session:
        scopes = await schedule.due_scopes(session, at or utcnow())  # type: ignore[arg-type]
    return [scope for scope in scopes if scope.connection_id == world.connection_id]


async def test_a_job_that_fails_for_good_is_recorded_and_can_be_retried_once(
    settings: Settings, sessionmaker, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(settings, sessionmaker)

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug in the sync")

    monkeypatch.setattr(engine, "advance", broken)
    queue = await JobQueue.connect(str(settings.redis_url))
    try:
        await enqueue_sync(queue, world.connection_id, world.link_id, "cases", trigger="manual")
    finally:
        await queue.close()
    await _burst(world, settings)

    async with session_scope(sessionmaker) as session:
        [failed] = (await session.scalars(select(FailedJob))).all()
    assert failed.task == "sync-page"
    assert failed.args[:3] == [str(world.connection_id), str(world.link_id), "cases"]
    assert "a bug in the sync" in failed.error

    admin = await make_user(Role.ADMIN)
    access = Scope(user_id=admin.id, role=Role.ADMIN, all_clients=True, client_ids=frozenset(), label=admin.email)
    async with session_scope(sessionmaker) as session:
        retried = await mark_retried(session, access, failed.id)
        assert retried.retried_by_id == admin.id
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError):
            await mark_retried(session, access, failed.id)

"""Sync jobs: thin wrappers that call the sync engine and turn its answers into queue actions."""

from __future__ import annotations

import logging
import time
import uuid

from arq import Retry

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.sync import engine, relay, schedule
from portal.domain.sync.models import SyncTrigger
from workers.context import JobContext
from workers.queue import OUTBOX_RELAY, SYNC_ITEM, SYNC_PAGE, JobQueue, enqueue_sync, job_id
from workers.registry import every, task

log = logging.getLogger(__name__)


class UnexpectedSyncError(RuntimeError):
    """A bug (not a vendor failure) stopped a sync; raised so the job is recorded as failed."""


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


# A job goes on to the next page (each page its own transaction) for this long, then hands over.
PAGES_FOR_SECONDS = 5.0


@task(SYNC_PAGE, max_tries=10, timeout_seconds=300, keep_result_seconds=0)
async def sync_page(
    ctx: JobContext, connection_id: str, link_id: str | None, entity: str, trigger: str, user_id: str | None
) -> str:
    started = time.monotonic()
    while True:
        step = await engine.advance(
            ctx["runtime"],
            uuid.UUID(connection_id),
            _uuid(link_id),
            entity,
            trigger=SyncTrigger(trigger),
            user_id=_uuid(user_id),
        )
        if not step.more or time.monotonic() - started >= PAGES_FOR_SECONDS:
            break
    if step.more:
        # The rest is a job of its own: jobs stay short, scopes take fair turns, and as every page
        # commits on its own a crash loses one page at most. Within the few seconds a job keeps
        # going, no page waits for the queue's poll.
        queue = JobQueue(ctx["redis"])
        await queue.enqueue(
            SYNC_PAGE, connection_id, link_id, entity, trigger, user_id,
            job_id=job_id(SYNC_PAGE, connection_id, link_id or "-", entity, step.run_id, "next", utcnow().timestamp()),
        )  # fmt: skip
    elif step.outcome == "retry" and step.retry_in is not None:
        raise Retry(defer=step.retry_in)
    elif step.unexpected:
        raise UnexpectedSyncError(step.message)
    return f"{step.outcome}: {step.message}" if step.message else step.outcome


@task(SYNC_ITEM, max_tries=5, timeout_seconds=120, keep_result_seconds=0)
async def sync_item(ctx: JobContext, connection_id: str, link_id: str | None, entity: str, remote_id: str) -> str:
    step = await engine.sync_item(ctx["runtime"], uuid.UUID(connection_id), _uuid(link_id), entity, remote_id)
    if step.outcome == "retry" and step.retry_in is not None:
        raise Retry(defer=step.retry_in)
    return step.outcome


@task(OUTBOX_RELAY, max_tries=1, timeout_seconds=240, keep_result_seconds=0)
async def outbox_relay(ctx: JobContext) -> str:
    result = await relay.relay(ctx["runtime"])
    return f"delivered {result.delivered}, retrying {result.retrying}, failed {result.failed}"


@every("outbox-relay-tick", second={0, 10, 20, 30, 40, 50})
async def outbox_tick(ctx: JobContext) -> str:
    return await outbox_relay(ctx)


@every("sync-schedule-tick", second={5})
async def schedule_tick(ctx: JobContext) -> int:
    """Once a minute: queue every scope whose time has come (job ids make repeats no-ops)."""
    async with session_scope(ctx["sessionmaker"]) as session:
        due = await schedule.due_scopes(session, utcnow())
    queue = JobQueue(ctx["redis"])
    for scope in due:
        await enqueue_sync(queue, scope.connection_id, scope.client_link_id, scope.entity, trigger="schedule")
    return len(due)

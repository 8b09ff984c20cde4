"""The one door from the web process to the job queue.

The web app enqueues jobs by *name* through this facade and never imports job code, so the
queue library (arq today) can be replaced without touching callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

QUEUE_NAME = "socdesk:jobs"
HEALTH_CHECK_KEY = f"{QUEUE_NAME}:health-check"


def redis_settings(redis_url: str) -> RedisSettings:
    return RedisSettings.from_dsn(redis_url)


def job_id(task: str, *scope: object) -> str:
    """Deterministic id (``task:a:b:c``): the same unit of work is never queued twice."""
    return ":".join([task, *(str(part) for part in scope)])


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    queued: bool  # False when an identical job was already queued or running


class JobQueue:
    def __init__(self, pool: ArqRedis) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, redis_url: str) -> JobQueue:
        return cls(await create_pool(redis_settings(redis_url), default_queue_name=QUEUE_NAME))

    async def enqueue(
        self, task: str, *args: Any, job_id: str | None = None, defer_by: timedelta | None = None
    ) -> Enqueued:
        job = await self._pool.enqueue_job(task, *args, _job_id=job_id, _defer_by=defer_by)
        return Enqueued(job_id=job.job_id if job else (job_id or ""), queued=job is not None)

    async def depth(self) -> int:
        return int(await self._pool.zcard(QUEUE_NAME))

    async def close(self) -> None:
        await self._pool.aclose()


# -- the jobs the web process asks for (names only: the job code lives in workers.jobs) ---------

SYNC_PAGE = "sync-page"
SYNC_ITEM = "sync-item"
OUTBOX_RELAY = "outbox-relay"


def sync_job_id(connection_id: object, client_link_id: object | None, entity: str) -> str:
    """``sync-page:<connection>:<client link or ->:<entity>``: one queued sync per scope."""
    return job_id(SYNC_PAGE, connection_id, client_link_id or "-", entity)


async def enqueue_sync(
    queue: JobQueue,
    connection_id: object,
    client_link_id: object | None,
    entity: str,
    *,
    trigger: str,
    user_id: object | None = None,
) -> Enqueued:
    return await queue.enqueue(
        SYNC_PAGE,
        str(connection_id),
        str(client_link_id) if client_link_id else None,
        entity,
        trigger,
        str(user_id) if user_id else None,
        job_id=sync_job_id(connection_id, client_link_id, entity),
    )


async def enqueue_item_sync(
    queue: JobQueue, connection_id: object, client_link_id: object | None, entity: str, remote_id: str
) -> Enqueued:
    return await queue.enqueue(
        SYNC_ITEM,
        str(connection_id),
        str(client_link_id) if client_link_id else None,
        entity,
        remote_id,
        job_id=job_id(SYNC_ITEM, connection_id, client_link_id or "-", entity, remote_id),
    )


async def nudge_outbox(queue: JobQueue) -> Enqueued:
    """Deliver pending outbox messages now rather than at the relay's next tick."""
    return await queue.enqueue(OUTBOX_RELAY, job_id=job_id(OUTBOX_RELAY, "now"))

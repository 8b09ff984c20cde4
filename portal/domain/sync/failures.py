"""Jobs that failed for good: arq forgets them, so socdesk records them to show and retry."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.audit.service import record
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.sync.models import FailedJob


def _jsonable(args: tuple[Any, ...]) -> list[Any]:
    plain: list[Any] = json.loads(json.dumps(list(args), default=str))
    return plain


async def record_failed_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    task: str,
    job_id: str,
    args: tuple[Any, ...],
    tries: int,
    error: str,
) -> None:
    async with session_scope(sessionmaker) as session:
        session.add(FailedJob(task=task, job_id=job_id, args=_jsonable(args), tries=tries, error=error[:4000]))


async def mark_retried(session: AsyncSession, access: Scope, failed_job_id: uuid.UUID) -> FailedJob:
    """Claim a failed job for a retry (the caller enqueues it); a job is retried once per click."""
    access.require_admin()
    job = await session.get(FailedJob, failed_job_id, with_for_update=True)
    if job is None:
        raise NotFoundError("failed job")
    if job.retried_at is not None:
        raise ValidationError({"job": "This job was already retried."})
    job.retried_at = utcnow()
    job.retried_by_id = access.user_id
    await record(session, access, "job.retry", object_type="failed_job", object_id=job.id, object_label=job.task)
    return job

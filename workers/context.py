"""What every job receives: the worker's shared resources, built once at worker start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypedDict

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.sync.connector import SyncRuntime


class WorkerContext(TypedDict):
    redis: ArqRedis
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    runtime: SyncRuntime
    worker_name: str
    started_at: datetime


class JobContext(WorkerContext, total=False):
    job_id: str
    job_try: int
    enqueue_time: datetime


@asynccontextmanager
async def job_session(ctx: WorkerContext) -> AsyncIterator[AsyncSession]:
    """One transaction per job: committed when the job body returns, rolled back if it raises."""
    async with session_scope(ctx["sessionmaker"]) as session:
        yield session

"""The worker's heartbeat: proves the queue, the worker and the database are wired together."""

from __future__ import annotations

import os
import socket

from portal.domain.system.service import record_heartbeat
from workers.context import JobContext, job_session
from workers.registry import every, task


@every("heartbeat-cron", second={0, 30})
async def heartbeat_tick(ctx: JobContext) -> None:
    await beat(ctx)


@task("heartbeat", max_tries=1, timeout_seconds=30)
async def beat(ctx: JobContext) -> str:
    async with job_session(ctx) as session:
        await record_heartbeat(
            session,
            worker_name=ctx["worker_name"],
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=ctx["started_at"],
        )
    return ctx["worker_name"]

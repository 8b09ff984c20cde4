"""arq worker configuration, built from socdesk's settings."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from arq.worker import Worker

import portal.db.models  # noqa: F401  (every mapper, so relationships resolve in a worker process)
from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker
from portal.domain import events
from portal.domain.events.bus import Publisher, channel_for
from portal.domain.sync.connector import build_runtime
from workers import registry
from workers.context import WorkerContext
from workers.jobs import heartbeat, sync  # noqa: F401  (register their tasks)
from workers.queue import HEALTH_CHECK_KEY, QUEUE_NAME, redis_settings

log = logging.getLogger(__name__)


def build_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    burst: bool = False,
    http_client: httpx.AsyncClient | None = None,
    **overrides: Any,
) -> Worker:
    """The worker; ``http_client`` lets tests and the demo route vendor calls (e.g. to an emulator)."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = make_engine(database_url)
        sessionmaker = make_sessionmaker(engine)
        http = http_client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        ctx.update(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            http=http,
            runtime=build_runtime(settings, sessionmaker, http),
            worker_name=f"{socket.gethostname()}:{os.getpid()}",
            started_at=datetime.now(UTC),
            event_publisher=Publisher(ctx["redis"], channel_for(database_url)).start(),
        )
        # What jobs commit (new tickets, sync runs) reaches open pages as live events.
        events.install(ctx["event_publisher"])
        log.info("worker %s started", ctx["worker_name"])

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        context = cast(WorkerContext, ctx)
        events.uninstall(ctx["event_publisher"])
        await ctx["event_publisher"].close()
        if http_client is None:
            await context["http"].aclose()
        await context["engine"].dispose()

    options: dict[str, Any] = {
        "functions": registry.functions,
        "cron_jobs": registry.cron_jobs,
        "redis_settings": redis_settings(redis_url),
        "queue_name": QUEUE_NAME,
        "health_check_key": HEALTH_CHECK_KEY,
        "health_check_interval": 30,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "timezone": UTC,
        "job_timeout": 300,
        "max_jobs": 10,
        "keep_result": 3600,
        "burst": burst,
        "handle_signals": not burst,
    }
    options.update(overrides)
    return Worker(**options)

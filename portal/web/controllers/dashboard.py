"""The home page. For now it shows the platform's own health; the operations view comes later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.domain.system.service import worker_status
from portal.runtime.services import describe_url, is_embedded
from portal.web.pages import page
from workers.queue import JobQueue


@dataclass(frozen=True)
class SystemSummary:
    database: str
    database_embedded: bool
    redis: str
    redis_embedded: bool
    queued_jobs: int


class DashboardController(Controller):
    @get("/", name="dashboard")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        queue: NamedDependency[JobQueue],
    ) -> Template:
        return await self._render(request, db_session, settings, queue)

    @get("/dashboard/system-health", name="dashboard_system_health")
    async def system_health(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        queue: NamedDependency[JobQueue],
    ) -> Template:
        return await self._render(request, db_session, settings, queue)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        queue: NamedDependency[JobQueue],
    ) -> Template:
        worker = await worker_status(db_session, timedelta(seconds=settings.heartbeat_stale_seconds))
        urls = request.app.state.service_urls
        system = SystemSummary(
            database=describe_url(urls.database_url),
            database_embedded=is_embedded(urls.database_url, settings),
            redis=describe_url(urls.redis_url),
            redis_embedded=is_embedded(urls.redis_url, settings),
            queued_jobs=await queue.depth(),
        )
        return page(
            request,
            "dashboard/index.html",
            partial="dashboard/_system_health.html",
            nav="dashboard",
            worker=worker,
            system=system,
        )

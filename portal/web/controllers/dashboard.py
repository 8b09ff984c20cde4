"""The home page: the operations dashboard, live.

The page is three fragments, each also served alone for HTMX: the ticket figures and the
sync-health strip refresh when the live stream says their topic changed (or periodically when
the stream is down), the platform-health panel every 30 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.dashboard.figures import CHART_DAYS, ticket_figures
from portal.domain.sync import health
from portal.domain.system.service import worker_status
from portal.domain.tickets.models import TicketSource
from portal.runtime.services import describe_url, is_embedded
from portal.web.charts import day_rows, opened_closed_chart
from portal.web.controllers.tickets import SOURCE_LABELS
from portal.web.pages import is_htmx, page
from workers.queue import JobQueue

NAV = "dashboard"
SOURCES = [source.value for source in TicketSource]
LABELS = {source.value: label for source, label in SOURCE_LABELS.items()}

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class SystemSummary:
    database: str
    database_embedded: bool
    redis: str
    redis_embedded: bool
    queued_jobs: int


async def _ticket_context(session: AsyncSession, access: Scope) -> dict[str, Any]:
    figures = await ticket_figures(session, access)
    rows = day_rows(figures.days, figures.chart_start, CHART_DAYS)
    return {
        "figures": figures,
        "day_rows": rows,
        "chart": opened_closed_chart(rows, SOURCES, LABELS),
        "sources": LABELS,
        "now": figures.now,
    }


async def _sync_context(session: AsyncSession, access: Scope) -> dict[str, Any]:
    return {"connections": await health.overview(session, access), "now": utcnow()}


@dataclass(frozen=True)
class DashboardView:
    """What every dashboard route needs to answer with the whole page or one of its fragments."""

    request: AnyRequest
    session: AsyncSession
    access: Scope
    settings: Settings
    queue: JobQueue

    async def tickets(self) -> dict[str, Any]:
        return await _ticket_context(self.session, self.access)

    async def sync(self) -> dict[str, Any]:
        return await _sync_context(self.session, self.access)

    async def system(self) -> dict[str, Any]:
        return await _system_context(self.request, self.session, self.settings, self.queue)

    async def page(self) -> Template:
        context = await self.sync() | await self.tickets() | await self.system()
        return page(self.request, "dashboard/index.html", nav=NAV, **context)

    async def fragment(self, template: str, context: Callable[[], Awaitable[dict[str, Any]]]) -> Template:
        """The fragment for HTMX; anyone else asking for it gets the whole page."""
        if not is_htmx(self.request):
            return await self.page()
        response = page(self.request, template, nav=NAV, **await context())
        response.headers["Vary"] = "HX-Request"  # the same URL is the whole page without HTMX
        return response


async def _view(
    request: AnyRequest,
    db_session: NamedDependency[AsyncSession],
    access: NamedDependency[Scope],
    settings: NamedDependency[Settings],
    queue: NamedDependency[JobQueue],
) -> DashboardView:
    return DashboardView(request, db_session, access, settings, queue)


class DashboardController(Controller):
    """``/`` is the whole page; each ``/dashboard/...`` route is one of its fragments (live refreshes)."""

    dependencies = {"view": Provide(_view)}

    @get("/", name="dashboard")
    async def index(self, view: NamedDependency[DashboardView]) -> Template:
        return await view.page()

    @get("/dashboard/tickets", name="dashboard_tickets")
    async def tickets(self, view: NamedDependency[DashboardView]) -> Template:
        return await view.fragment("dashboard/_tickets.html", view.tickets)

    @get("/dashboard/sync", name="dashboard_sync")
    async def sync(self, view: NamedDependency[DashboardView]) -> Template:
        return await view.fragment("dashboard/_sync_strip.html", view.sync)

    @get("/dashboard/system-health", name="dashboard_system_health")
    async def system_health(self, view: NamedDependency[DashboardView]) -> Template:
        return await view.fragment("dashboard/_system_health.html", view.system)


async def _system_context(
    request: AnyRequest, session: AsyncSession, settings: Settings, queue: JobQueue
) -> dict[str, Any]:
    urls = request.app.state.service_urls
    return {
        "worker": await worker_status(session, timedelta(seconds=settings.heartbeat_stale_seconds)),
        "system": SystemSummary(
            database=describe_url(urls.database_url),
            database_embedded=is_embedded(urls.database_url, settings),
            redis=describe_url(urls.redis_url),
            redis_embedded=is_embedded(urls.redis_url, settings),
            queued_jobs=await queue.depth(),
        ),
    }

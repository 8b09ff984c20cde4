"""Sync health (every signed-in staff member, filtered to their clients): how each connection and
client link is doing, runs in progress, the queue and the worker, and what failed for good.

Retrying a failed job or a failed outbox message is for administrators; everything else is read-only.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.dashboard.sync_activity import HourlyCalls, hourly_calls
from portal.domain.errors import ValidationError
from portal.domain.sync import health
from portal.domain.sync.failures import mark_retried
from portal.domain.sync.models import RunOutcome
from portal.domain.sync.outbox_retry import retry_outbox_message
from portal.domain.system.service import worker_beats, worker_status
from portal.web.charts import Chart, sparkline
from portal.web.controllers.settings_forms import uuid_or_none
from portal.web.guards import requires_admin
from portal.web.notices import notice
from portal.web.pages import page
from workers.queue import JobQueue, nudge_outbox

NAV = "sync"
OUTCOMES = tuple(outcome.value for outcome in RunOutcome)

AnyRequest = Request[Any, Any, Any]


def _activity_chart(calls: HourlyCalls) -> Chart:
    series = [("spark-429", "rate limited (429)", calls.rate_limited), ("spark-failed", "failed", calls.failed)]
    return sparkline(series, titles=calls.hour_labels())


class SyncHealthController(Controller):
    path = "/sync-health"

    @get("/", name="sync_health")
    async def index(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        queue: NamedDependency[JobQueue],
    ) -> Template:
        connections = await health.overview(db_session, access)
        now = utcnow()
        stale_after = timedelta(seconds=settings.heartbeat_stale_seconds)
        activity = await hourly_calls(db_session, [item.connection.id for item in connections], now)
        return page(
            request,
            "sync/index.html",
            partial="sync/_overview.html",
            nav=NAV,
            connections=connections,
            activity={key: (calls, _activity_chart(calls)) for key, calls in activity.items()},
            workers=await worker_beats(db_session, stale_after),
            worker=await worker_status(db_session, stale_after),
            queued_jobs=await queue.depth(),
            failed_jobs=await health.failed_jobs(db_session, access),
            outbox=await health.outbox_summary(db_session, access),
            can_manage=access.is_admin,
            now=now,
        )

    @get("/runs", name="sync_runs")
    async def runs(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection: FromQuery[str | None] = None,
        outcome: FromQuery[str | None] = None,
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100_000)] = 1,
    ) -> Template:
        connection_id = uuid_or_none(connection or "")
        outcome = outcome if outcome in OUTCOMES else None
        runs = await health.recent_runs(
            db_session, access, connection_id=connection_id, outcome=outcome, page=page_number
        )
        return page(
            request,
            "sync/runs.html",
            partial="sync/_runs.html",
            nav=NAV,
            runs=runs,
            connections=await health.visible_connections(db_session, access),
            query={key: value for key, value in (("connection", connection_id), ("outcome", outcome)) if value},
            outcomes=OUTCOMES,
            can_manage=access.is_admin,
            now=utcnow(),
        )

    @get("/runs/{run_id:uuid}", name="sync_run")
    async def run(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        run_id: FromPath[uuid.UUID],
    ) -> Template:
        """The run's page; for HTMX its table row alone, which polls itself while the run is under way."""
        return page(
            request,
            "sync/run.html",
            partial="sync/_run_row.html",
            nav=NAV,
            row=await health.get_run(db_session, access, run_id),
            can_manage=access.is_admin,
            now=utcnow(),
        )

    @post("/failed-jobs/{failed_job_id:uuid}/retry", name="sync_failed_job_retry", guards=[requires_admin])
    async def retry_job(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        queue: NamedDependency[JobQueue],
        failed_job_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            job = await mark_retried(db_session, access, failed_job_id)
        except ValidationError as exc:
            return notice(request, " ".join(exc.fields.values()), back="/sync-health#failed-jobs", category="warning")
        await queue.enqueue(job.task, *job.args)
        return notice(request, f"Job {job.task} queued again.", back="/sync-health#failed-jobs")

    @post("/outbox/{message_id:uuid}/retry", name="sync_outbox_retry", guards=[requires_admin])
    async def retry_outbox(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        queue: NamedDependency[JobQueue],
        message_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            message = await retry_outbox_message(db_session, access, message_id)
        except ValidationError as exc:
            return notice(request, " ".join(exc.fields.values()), back="/sync-health#outbox", category="warning")
        # Committed before the nudge, or the relay could look before the message is pending again.
        await db_session.commit()
        await nudge_outbox(queue)
        return notice(request, f"The {message.operation} is queued to be sent again.", back="/sync-health#outbox")

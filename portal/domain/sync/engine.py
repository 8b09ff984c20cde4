"""The sync engine: one page of one sync scope per call, committed with its cursor.

A *scope* is (connection, client link or none, entity). :func:`advance` takes the scope's
advisory lock (two workers never work one scope at once), continues the scope's current run or
starts one, fetches one page, applies each item in its own savepoint, and commits the items,
the run's counters and the page cursor together. The watermark moves only when a run's last
page is committed, to the newest remote change time the run saw (never "now"), and never past
an item that failed to apply; the next run reads from ``watermark - overlap``. A failure
leaves the cursor where it was, records itself on the scope's health and says when to retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.connector import SyncRuntime, link_view, open_connection
from portal.domain.sync.models import RunOutcome, SyncRun, SyncState, SyncTrigger
from portal.integrations.base import Applied, EntityHandler, PageApplied, RemoteItem, SyncTarget
from portal.integrations.catalog import manifest as manifest_for
from portal.integrations.errors import AuthExpired, RateLimited, ReauthRequired, VendorError
from portal.integrations.manifest import EntitySpec

log = logging.getLogger(__name__)

MAX_RETRYABLE_FAILURES = 5  # consecutive transient failures before a run is declared failed
MAX_PROBLEMS_KEPT = 200


@dataclass(frozen=True)
class Step:
    """What one call to :func:`advance` did."""

    outcome: str  # page (more to come), finished, busy, skipped, retry, failed
    run_id: uuid.UUID | None = None
    message: str = ""
    retry_in: float | None = None
    unexpected: bool = False  # a bug, not a vendor failure: the job records it as a failed job

    @property
    def more(self) -> bool:
        return self.outcome == "page"


def schedule_minutes(connection: Connection, spec: EntitySpec) -> int:
    entry = connection.schedules.get(spec.name) or {}
    return int(entry.get("minutes") or spec.default_minutes)


def entity_enabled(connection: Connection, spec: EntitySpec) -> bool:
    entry = connection.schedules.get(spec.name) or {}
    return bool(entry.get("enabled", spec.enabled_by_default))


def retry_delay(consecutive_failures: int) -> float:
    return float(min(300, 5 * 2 ** max(0, consecutive_failures - 1)))


async def _scope_lock(session: AsyncSession, connection_id: uuid.UUID, link_id: uuid.UUID | None, entity: str) -> bool:
    key = f"sync:{connection_id}:{link_id or '-'}:{entity}"
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(func.hashtextextended(key, 0)))))


async def _state(session: AsyncSession, connection_id: uuid.UUID, link_id: uuid.UUID | None, entity: str) -> SyncState:
    state = await session.scalar(
        select(SyncState).where(
            SyncState.connection_id == connection_id,
            SyncState.client_link_id.is_(None) if link_id is None else SyncState.client_link_id == link_id,
            SyncState.entity == entity,
        )
    )
    if state is None:
        state = SyncState(connection_id=connection_id, client_link_id=link_id, entity=entity)
        session.add(state)
        await session.flush()
    return state


def _since(state: SyncState, spec: EntitySpec, now: datetime) -> datetime:
    if state.watermark is None:
        return now - timedelta(days=spec.first_sync_days)
    return state.watermark - timedelta(seconds=spec.overlap_seconds)


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _note_problem(run: SyncRun, remote_id: str, error: str) -> None:
    run.failed += 1
    if len(run.problems) < MAX_PROBLEMS_KEPT:
        run.problems = [*run.problems, {"remote_id": remote_id, "error": error[:1000]}]


async def _start_run(
    session: AsyncSession,
    connection_id: uuid.UUID,
    link_id: uuid.UUID | None,
    entity: str,
    trigger: SyncTrigger,
    user_id: uuid.UUID | None,
    now: datetime,
) -> SyncRun:
    run = SyncRun(
        connection_id=connection_id,
        client_link_id=link_id,
        entity=entity,
        trigger=trigger.value,
        triggered_by_id=user_id,
        started_at=now,
        problems=[],
    )
    session.add(run)
    await session.flush()
    return run


def _hold(run: SyncRun, moment: datetime) -> None:
    """The watermark must not pass an item that failed: the next run reads it again."""
    hold = run.hold_watermark_before
    run.hold_watermark_before = moment if hold is None else min(hold, moment)


def _fail(state: SyncState, run: SyncRun | None, message: str, now: datetime, minutes: int, *, end_run: bool) -> None:
    state.last_run_at = now
    state.last_failure_at = now
    state.last_error = message[:2000]
    state.consecutive_failures += 1
    state.next_run_at = now + timedelta(seconds=min(minutes * 60, retry_delay(state.consecutive_failures) * 4))
    if run is not None:
        run.error = message[:2000]
        if end_run:
            run.outcome = RunOutcome.FAILED.value
            run.finished_at = now
    if end_run:
        state.run_id = None
        state.page_token = None
        state.run_high_water = None


async def advance(
    runtime: SyncRuntime,
    connection_id: uuid.UUID,
    link_id: uuid.UUID | None,
    entity: str,
    *,
    trigger: SyncTrigger = SyncTrigger.SCHEDULE,
    user_id: uuid.UUID | None = None,
) -> Step:
    async with session_scope(runtime.sessionmaker) as session:
        if not await _scope_lock(session, connection_id, link_id, entity):
            return Step("busy", message="Another worker is syncing this right now.")
        connection = await session.get(Connection, connection_id)
        if connection is None:
            return Step("skipped", message="The connection no longer exists.")
        link = await session.get(ClientLink, link_id) if link_id else None
        if link_id and (link is None or link.connection_id != connection_id):
            return Step("skipped", message="The client link no longer exists.")
        manifest = manifest_for(connection.vendor)
        try:
            spec = manifest.entity(entity)
        except KeyError:
            return Step("skipped", message=f"{manifest.display_name} has no entity {entity!r}.")
        if connection.status in (ConnectionStatus.DISABLED, ConnectionStatus.NEEDS_REAUTH):
            return Step("skipped", message=f"The connection is {connection.status.replace('_', ' ')}.")
        if link is not None and not link.enabled:
            return Step("skipped", message="The client link is disabled.")

        now = utcnow()
        minutes = schedule_minutes(connection, spec)
        state = await _state(session, connection_id, link_id, entity)
        run = await session.get(SyncRun, state.run_id) if state.run_id else None
        missing = manifest.missing_mappings(connection.mappings)
        if missing:
            _fail(
                state, run, "Set the mandatory mappings first: " + ", ".join(missing) + ".", now, minutes, end_run=True
            )
            return Step("failed", run_id=run.id if run else None, message=state.last_error)
        if run is None:
            run = await _start_run(session, connection_id, link_id, entity, trigger, user_id, now)
            state.run_id, state.page_token, state.run_high_water = run.id, None, None

        opened = open_connection(runtime, connection)
        handler = opened.vendor.entities[entity]
        target = SyncTarget(connection=opened.view, link=link_view(link) if link else None, entity=spec, run_id=run.id)
        try:
            page = await handler.fetch_page(opened.api, target, _since(state, spec, now), state.page_token)
        except RateLimited as exc:
            # Wait as long as the vendor asked (plus a little jitter, so scopes do not return in step),
            # then go on from the same page: the cursor is kept.
            # Being asked to wait is not a failure: it never ends the run, however often it comes.
            wait = exc.wait()
            state.last_run_at = state.last_failure_at = now
            state.last_error = run.error = exc.describe()[:2000]
            state.throttled_until = state.next_run_at = now + timedelta(seconds=wait)
            return Step("retry", run_id=run.id, message=exc.message, retry_in=wait)
        except VendorError as exc:
            transient = exc.retryable and state.consecutive_failures + 1 < MAX_RETRYABLE_FAILURES
            _fail(state, run, exc.describe(), now, minutes, end_run=not transient)
            if isinstance(exc, AuthExpired) and manifest.oauth is None:
                # A refused API token stays refused until someone saves a new one: the connection says so.
                connection.status, connection.status_message = ConnectionStatus.ERROR.value, exc.message[:2000]
            if isinstance(exc, ReauthRequired):
                return Step("failed", run_id=run.id, message=exc.message)
            if transient:
                return Step(
                    "retry", run_id=run.id, message=exc.message, retry_in=retry_delay(state.consecutive_failures)
                )
            return Step("failed", run_id=run.id, message=exc.message)
        except Exception as exc:
            log.exception("sync fetch failed unexpectedly for %s/%s/%s", connection_id, link_id, entity)
            _fail(state, run, f"Internal error while fetching: {type(exc).__name__}", now, minutes, end_run=True)
            return Step("failed", run_id=run.id, message=state.last_error, unexpected=True)

        state.throttled_until = None
        if connection.status == ConnectionStatus.ERROR.value:
            connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""
        if page.credential_expires_at is not None:
            connection.credential_expires_at = page.credential_expires_at
        since = _since(state, spec, now)
        applied = await apply_items(session, handler, target, page.items, run)
        for item in page.items:
            if applied.get(item.key) is None:
                _hold(run, item.modified_at or since)
            state.run_high_water = _later(state.run_high_water, item.modified_at)
            state.newest_remote_at = _later(state.newest_remote_at, item.modified_at)
        for problem in page.problems:
            _note_problem(run, problem.remote_id, problem.error)
            # An unreadable record of unknown time holds the watermark where this run started.
            _hold(run, problem.modified_at or since)
        run.pages += 1
        state.last_run_at = now

        if page.next_token:
            state.page_token = page.next_token
            return Step("page", run_id=run.id)

        run.finished_at = utcnow()
        run.outcome = (RunOutcome.PARTIAL if run.failed else RunOutcome.SUCCEEDED).value
        reached = state.run_high_water
        if reached is not None and run.hold_watermark_before is not None:
            reached = min(reached, run.hold_watermark_before - timedelta(microseconds=1))
        if reached is not None and (state.watermark is None or reached > state.watermark):
            state.watermark = reached
        state.run_id = None
        state.page_token = None
        state.run_high_water = None
        state.last_success_at = run.finished_at
        state.consecutive_failures = 0
        state.last_error = "" if not run.failed else f"{run.failed} item(s) could not be applied."
        state.next_run_at = now + timedelta(minutes=minutes)
        return Step("finished", run_id=run.id)


def distinct(items: Sequence[RemoteItem]) -> tuple[list[RemoteItem], list[RemoteItem]]:
    """The page's items with each remote object once (its newest read), and the repeats dropped."""
    chosen: dict[tuple[str, str], RemoteItem] = {}
    repeats: list[RemoteItem] = []
    for item in items:
        seen = chosen.get(item.key)
        if seen is None:
            chosen[item.key] = item
            continue
        newer = item.modified_at is None or seen.modified_at is None or item.modified_at >= seen.modified_at
        repeats.append(seen if newer else item)
        if newer:
            chosen[item.key] = item
    return list(chosen.values()), repeats


async def apply_items(
    session: AsyncSession, handler: EntityHandler, target: SyncTarget, items: Sequence[RemoteItem], run: SyncRun
) -> dict[tuple[str, str], Applied | None]:
    """Apply a page's items and count them on the run; each item's outcome (None: a problem, recorded).

    The whole page goes through the handler's set-based ``apply_page`` in one savepoint. If its
    writes fail (a constraint, a bug), that savepoint is rolled back and the page is applied again
    one item at a time, each in its own savepoint, so the offending item is found, recorded and
    skipped while the rest land. A remote object listed twice is applied once (its newest read).
    """
    unique, repeats = distinct(items)
    if not unique:
        return {}
    try:
        async with session.begin_nested():
            result = await handler.apply_page(session, target, unique)
    except Exception as exc:
        log.warning("page apply failed (%s); applying its %d items one by one", _describe(exc), len(unique))
        result = await apply_one_by_one(session, handler, target, unique)
    outcomes: dict[tuple[str, str], Applied | None] = {}
    for item in unique:
        outcome = result.outcomes.get(item.key)
        if outcome is None:
            error = result.problems.get(item.key) or "The item was not applied (no outcome was reported for it)."
            _note_problem(run, item.remote_id, error)
        outcomes[item.key] = outcome
    counts = {outcome: sum(1 for o in outcomes.values() if o is outcome) for outcome in Applied}
    run.created += counts[Applied.CREATED]
    run.updated += counts[Applied.UPDATED]
    run.unchanged += counts[Applied.UNCHANGED]
    run.skipped += counts[Applied.SKIPPED] + len(repeats)
    return outcomes


async def apply_one_by_one(
    session: AsyncSession, handler: EntityHandler, target: SyncTarget, items: Sequence[RemoteItem]
) -> PageApplied:
    """The per-item path: each item as a page of one, in its own savepoint; a failure is that item's problem."""
    result = PageApplied()
    for item in items:
        try:
            async with session.begin_nested():
                one = await handler.apply_page(session, target, [item])
        except Exception as exc:
            log.warning("could not apply %s %s: %s", item.remote_type, item.remote_id, exc)
            result.failed(item, _describe(exc))
            continue
        if item.key in one.outcomes:
            result.done(item, one.outcomes[item.key])
        else:
            result.failed(item, one.problems.get(item.key) or "The item was not applied.")
    return result


def _describe(exc: Exception) -> str:
    fields = getattr(exc, "fields", None)
    if isinstance(fields, dict) and fields:
        return "; ".join(f"{key}: {value}" for key, value in fields.items())
    return str(exc) or type(exc).__name__


async def sync_item(
    runtime: SyncRuntime,
    connection_id: uuid.UUID,
    link_id: uuid.UUID | None,
    entity: str,
    remote_id: str,
    *,
    trigger: SyncTrigger = SyncTrigger.ITEM,
    user_id: uuid.UUID | None = None,
) -> Step:
    """Fetch and apply one remote object now (a webhook, or "re-sync this item")."""
    async with session_scope(runtime.sessionmaker) as session:
        connection = await session.get(Connection, connection_id)
        if connection is None or connection.status in (ConnectionStatus.DISABLED, ConnectionStatus.NEEDS_REAUTH):
            return Step("skipped", message="The connection is missing, disabled or needs to be reconnected.")
        link = await session.get(ClientLink, link_id) if link_id else None
        manifest = manifest_for(connection.vendor)
        spec = manifest.entity(entity)
        if manifest.missing_mappings(connection.mappings):
            return Step("skipped", message="The connection's mandatory mappings are not set.")
        run = await _start_run(session, connection_id, link_id, entity, trigger, user_id, utcnow())
        run.pages = 1
        opened = open_connection(runtime, connection)
        handler = opened.vendor.entities[entity]
        target = SyncTarget(connection=opened.view, link=link_view(link) if link else None, entity=spec, run_id=run.id)
        try:
            item = await handler.fetch_one(opened.api, target, remote_id)
        except VendorError as exc:
            run.outcome, run.finished_at, run.error = RunOutcome.FAILED.value, utcnow(), exc.message
            retry = exc.retry_after if isinstance(exc, RateLimited) else (30.0 if exc.retryable else None)
            return Step("retry" if retry else "failed", run_id=run.id, message=exc.message, retry_in=retry)
        if item is None:
            run.skipped += 1
            run.error = f"{remote_id} was not found at the source."
        else:
            await apply_items(session, handler, target, [item], run)
        run.finished_at = utcnow()
        run.outcome = (RunOutcome.PARTIAL if run.failed else RunOutcome.SUCCEEDED).value
        return Step("finished", run_id=run.id, message=run.error)

"""Platform health: worker heartbeats and what the dashboard says about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.system.models import WorkerHeartbeat


async def record_heartbeat(
    session: AsyncSession, *, worker_name: str, hostname: str, pid: int, started_at: datetime
) -> None:
    now = utcnow()
    statement = insert(WorkerHeartbeat).values(
        worker_name=worker_name, hostname=hostname, pid=pid, started_at=started_at, last_beat_at=now, beats=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=[WorkerHeartbeat.worker_name],
        set_={
            "hostname": hostname,
            "pid": pid,
            "started_at": started_at,
            "last_beat_at": now,
            "updated_at": now,
            "beats": WorkerHeartbeat.beats + 1,
        },
    )
    await session.execute(statement)


@dataclass(frozen=True)
class WorkerStatus:
    status: str  # "alive", "stale" or "never"
    last_beat: datetime | None
    hostname: str | None
    workers_alive: int


async def worker_status(session: AsyncSession, stale_after: timedelta) -> WorkerStatus:
    rows = (
        (await session.execute(select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_beat_at.desc()))).scalars().all()
    )
    if not rows:
        return WorkerStatus("never", None, None, 0)
    cutoff = utcnow() - stale_after
    alive = sum(1 for row in rows if row.last_beat_at >= cutoff)
    newest = rows[0]
    return WorkerStatus("alive" if alive else "stale", newest.last_beat_at, newest.hostname, alive)


@dataclass(frozen=True)
class WorkerBeat:
    heartbeat: WorkerHeartbeat
    alive: bool


async def worker_beats(session: AsyncSession, stale_after: timedelta) -> list[WorkerBeat]:
    """Every worker that ever beat, newest beat first, each alive or stale."""
    rows = (await session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_beat_at.desc()))).all()
    cutoff = utcnow() - stale_after
    return [WorkerBeat(row, row.last_beat_at >= cutoff) for row in rows]

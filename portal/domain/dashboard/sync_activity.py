"""Sync-health history: each connection's rate-limited (429) and failed vendor calls per hour, for 24 hours."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.sync.models import OutboundRequest

HOURS = 24


@dataclass(frozen=True)
class HourlyCalls:
    start: datetime  # the first hour shown (UTC, on the hour)
    rate_limited: list[int]  # one per hour, oldest first
    failed: list[int]  # errors and 4xx/5xx answers other than 429

    @property
    def total_rate_limited(self) -> int:
        return sum(self.rate_limited)

    @property
    def total_failed(self) -> int:
        return sum(self.failed)

    def hour_labels(self) -> list[str]:
        return [f"{self.start + timedelta(hours=n):%H}:00" for n in range(len(self.failed))]


async def hourly_calls(
    session: AsyncSession, connection_ids: Sequence[uuid.UUID], now: datetime, *, hours: int = HOURS
) -> dict[uuid.UUID, HourlyCalls]:
    """For connections the caller already knows the user may see (sync health's own list)."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    result = {connection_id: HourlyCalls(start, [0] * hours, [0] * hours) for connection_id in connection_ids}
    if not connection_ids:
        return result
    hour = func.date_trunc("hour", func.timezone("UTC", OutboundRequest.at))  # naive UTC, whatever the server's zone
    limited = OutboundRequest.status_code == 429
    failed = or_(OutboundRequest.error_kind.is_not(None), OutboundRequest.status_code >= 400)
    other = func.coalesce(OutboundRequest.status_code, 0) != 429
    rows = await session.execute(
        select(OutboundRequest.connection_id, hour, func.count().filter(limited), func.count().filter(failed, other))
        .where(OutboundRequest.connection_id.in_(connection_ids), OutboundRequest.at >= start)
        .where(or_(limited, failed))
        .group_by(OutboundRequest.connection_id, hour)
    )
    naive_start = start.replace(tzinfo=None)
    for connection_id, at, rate_limited, failures in rows.all():
        slot = int((at - naive_start).total_seconds() // 3600)
        if connection_id in result and 0 <= slot < hours:
            result[connection_id].rate_limited[slot] = rate_limited
            result[connection_id].failed[slot] = failures
    return result

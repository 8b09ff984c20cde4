"""Writes the outbound request log: one row per call, in its own transaction.

The log must survive the failure it documents, so it never shares the job's transaction
(a page that rolls back still leaves the 429 or 500 that caused it on record).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.sync.models import OutboundRequest
from portal.integrations.http import OutboundEntry


class DatabaseRecorder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def record(self, entry: OutboundEntry) -> None:
        async with session_scope(self._sessionmaker) as session:
            session.add(
                OutboundRequest(
                    connection_id=entry.connection_id,
                    ticket_id=entry.ticket_id,
                    correlation_id=entry.correlation_id,
                    method=entry.method,
                    url=entry.url,
                    status_code=entry.status_code,
                    duration_ms=entry.duration_ms,
                    error_kind=entry.error_kind,
                    request_excerpt=entry.request_excerpt,
                    response_excerpt=entry.response_excerpt,
                )
            )

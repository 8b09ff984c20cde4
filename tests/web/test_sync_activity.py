"""Sync health's 24-hour history (429s and failures per hour) and the list of workers."""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.dashboard.sync_activity import hourly_calls
from portal.domain.integrations.models import Connection
from portal.domain.sync.models import OutboundRequest
from portal.domain.system.service import record_heartbeat, worker_beats
from tests.conftest import sign_in


def _call(connection: Connection, hours_ago: float, status: int | None, error: str | None = None) -> OutboundRequest:
    return OutboundRequest(
        connection_id=connection.id, correlation_id="c", method="GET", url="https://acme.test/x",
        status_code=status, duration_ms=3, error_kind=error, at=utcnow() - timedelta(hours=hours_ago),
    )  # fmt: skip


async def _connection_with_calls(sessionmaker) -> Connection:
    async with session_scope(sessionmaker) as session:
        connection = Connection(vendor="acme", name="Acme history")
        session.add(connection)
        await session.flush()
        session.add_all(
            [
                _call(connection, 0, 429, "rate_limited"),
                _call(connection, 0, 429, "rate_limited"),
                _call(connection, 0, 503, "unavailable"),
                _call(connection, 5, None, "timeout"),  # no answer at all: a failure, not a 429
                _call(connection, 5, 200),  # fine: not counted
                _call(connection, 30, 500, "server_error"),  # older than 24 hours
            ]
        )
    return connection


async def test_calls_are_counted_per_hour_over_24_hours(sessionmaker) -> None:
    connection = await _connection_with_calls(sessionmaker)
    async with session_scope(sessionmaker) as session:
        [calls] = (await hourly_calls(session, [connection.id], utcnow())).values()
    assert len(calls.failed) == 24
    assert (calls.rate_limited[-1], calls.failed[-1]) == (2, 1)
    assert calls.failed[-6] == 1
    assert (calls.total_rate_limited, calls.total_failed) == (2, 2)


async def test_the_sync_health_page_charts_them_and_lists_workers(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    connection = await _connection_with_calls(sessionmaker)
    async with session_scope(sessionmaker) as session:
        now = utcnow()
        await record_heartbeat(session, worker_name="host:1", hostname="host", pid=1, started_at=now)
        await record_heartbeat(session, worker_name="host:2", hostname="host", pid=2, started_at=now)
        beats = await worker_beats(session, timedelta(seconds=120))
    assert [beat.alive for beat in beats] == [True, True]
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    page = (await client.get("/sync-health")).text
    assert f'data-name="{connection.name}"' in page
    assert 'data-testid="activity-24h" data-rate-limited="2" data-failed="2"' in page
    assert page.count('<rect class="spark-429" x=') == 1  # one hour with 429s
    assert page.count('data-testid="worker" data-alive="yes"') == 2
    assert 'sse-connect="/live/stream?topics=sync"' in page

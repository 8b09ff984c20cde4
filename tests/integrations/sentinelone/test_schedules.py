"""Schedules: endpoints daily, threats and alerts every few minutes, each switched on or off by entity."""

from __future__ import annotations

from datetime import timedelta

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.integrations.service import ScheduleInput, update_schedules
from portal.domain.sync.schedule import due_scopes
from portal.integrations.sentinelone.manifest import MANIFEST
from tests.integrations.sentinelone.conftest import S1World


def test_assets_sync_daily_and_threats_and_alerts_every_few_minutes_by_default() -> None:
    assert MANIFEST.default_schedules() == {
        "threats": {"enabled": True, "minutes": 5},
        "alerts": {"enabled": True, "minutes": 5},
        "agents": {"enabled": True, "minutes": 1440},
    }
    assert not any(spec.per_client for spec in MANIFEST.entities)  # one run per console, routed per record


async def _due(s1: S1World) -> set[str]:
    async with session_scope(s1.sessionmaker) as session:
        return {
            scope.entity for scope in await due_scopes(session, utcnow()) if scope.connection_id == s1.connection_id
        }


async def test_each_entity_runs_on_its_own_schedule(s1: S1World) -> None:
    assert await _due(s1) == {"threats", "alerts", "agents"}
    started = utcnow()
    for entity in ("threats", "alerts", "agents"):
        await s1.run(entity)
    assert await _due(s1) == set()
    threats, agents = await s1.state_of("threats"), await s1.state_of("agents")
    assert threats.next_run_at is not None
    assert agents.next_run_at is not None
    assert started + timedelta(minutes=5) <= threats.next_run_at <= utcnow() + timedelta(minutes=5)
    assert started + timedelta(minutes=1440) <= agents.next_run_at <= utcnow() + timedelta(minutes=1440)


async def test_an_entity_switched_off_is_never_queued_and_back_on_it_is(s1: S1World) -> None:
    async def schedule(agents: bool) -> None:
        async with session_scope(s1.sessionmaker) as session:
            await update_schedules(
                session,
                Scope.system("test admin"),
                s1.connection_id,
                {
                    "threats": ScheduleInput(enabled=True, minutes="3"),
                    "alerts": ScheduleInput(enabled=False, minutes="5"),
                    "agents": ScheduleInput(enabled=agents, minutes="1440"),
                },
            )

    await schedule(agents=False)
    assert await _due(s1) == {"threats"}
    await schedule(agents=True)
    assert await _due(s1) == {"threats", "agents"}
    await s1.run("threats")
    threats = await s1.state_of("threats")
    assert threats.next_run_at is not None
    assert threats.next_run_at <= utcnow() + timedelta(minutes=3)

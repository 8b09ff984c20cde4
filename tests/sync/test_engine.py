"""The sync engine's rules, against the Acme emulator and the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.sync import engine
from portal.domain.sync.models import SyncRun
from portal.integrations.base import RemoteItem
from portal.integrations.registry import vendor
from tests.sync.harness import ago, make_world


async def test_a_run_pages_through_everything_and_a_second_run_changes_nothing(
    settings: Settings, sessionmaker
) -> None:
    world = await make_world(settings, sessionmaker, page_size=2)
    ids = [world.case(f"Case {n}", modified_at=ago(world.state, hours=10 - n)) for n in range(5)]

    steps = await world.run_to_end()
    assert [step.outcome for step in steps] == ["page", "page", "finished"]
    assert sorted(await world.links_per_case()) == sorted(ids)
    assert len(await world.tickets()) == 5

    await world.run_to_end()
    async with session_scope(sessionmaker) as session:
        runs = (await session.scalars(select(SyncRun).order_by(SyncRun.started_at))).all()
    assert [(run.created, run.updated, run.unchanged, run.outcome) for run in runs] == [
        (5, 0, 0, "succeeded"),
        (0, 0, 1, "succeeded"),  # only the newest is inside the overlap window
    ]
    assert len(await world.tickets()) == 5


async def test_the_watermark_is_the_newest_remote_change_not_now(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    newest = ago(world.state, hours=3)
    world.case("Old", modified_at=ago(world.state, hours=5))
    world.case("Newest", modified_at=newest)
    await world.run_to_end()
    assert await world.watermark() == newest
    state = await world.sync_state()
    assert state.newest_remote_at == newest
    assert state.last_success_at is not None
    assert state.page_token is None
    assert state.run_id is None


async def test_a_case_indexed_late_inside_the_overlap_is_imported_exactly_once(
    settings: Settings, sessionmaker
) -> None:
    world = await make_world(settings, sessionmaker)
    world.case("First", modified_at=ago(world.state, minutes=30))
    await world.run_to_end()
    watermark = await world.watermark()
    assert watermark is not None

    # Appears now, stamped two minutes *before* the watermark (the overlap is five minutes).
    late = world.case("Late", modified_at=watermark - timedelta(minutes=2))
    await world.run_to_end()
    await world.run_to_end()
    counts = await world.links_per_case()
    assert counts[late] == 1
    assert len(await world.tickets()) == 2


async def test_five_concurrent_deliveries_of_one_case_make_one_ticket(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Raced", modified_at=ago(world.state, minutes=5))
    remote_id = f"{world.tenant}/{case_id}"
    steps = await asyncio.gather(
        *(engine.sync_item(world.runtime, world.connection_id, world.link_id, "cases", remote_id) for _ in range(5))
    )
    assert [step.outcome for step in steps] == ["finished"] * 5
    assert await world.links_per_case() == {case_id: 1}
    assert len(await world.tickets()) == 1


async def test_two_workers_never_work_one_scope_at_once(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    world.case("Slow", modified_at=ago(world.state, minutes=5))
    world.state.faults.add("latency", seconds=0.5, count=5)
    first, second = await asyncio.gather(world.advance(), world.advance())
    assert sorted([first.outcome, second.outcome]) == ["busy", "finished"]
    assert len(await world.tickets()) == 1


async def test_an_item_that_cannot_be_applied_is_recorded_and_holds_the_watermark(
    settings: Settings, sessionmaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(settings, sessionmaker, page_size=10)
    held_at = ago(world.state, hours=2)
    world.case("Fine before", modified_at=ago(world.state, hours=3))
    bad = world.case("Unmappable", modified_at=held_at)
    world.case("Fine after", modified_at=ago(world.state, hours=1))
    handler = vendor("acme").entities["cases"]
    original = type(handler).apply_page

    async def apply_or_fail(self: object, session: object, target: object, items: list[RemoteItem]) -> object:
        # The page's writes fail while the bad case is in it: the engine falls back to one item at a time.
        if any(item.remote_id.endswith(bad) for item in items):
            raise ValueError("severity 'catastrophic' has no priority")
        return await original(self, session, target, items)  # type: ignore[arg-type]

    monkeypatch.setattr(type(handler), "apply_page", apply_or_fail)

    steps = await world.run_to_end()
    async with session_scope(sessionmaker) as session:
        run = await session.get(SyncRun, steps[-1].run_id)
    assert run is not None
    assert (run.created, run.failed, run.outcome) == (2, 1, "partial")
    assert run.problems[0]["remote_id"].endswith(bad)
    watermark = await world.watermark()
    assert watermark is not None
    assert watermark < held_at  # the next run reads the failed case again
    assert len(await world.tickets()) == 2
    assert "catastrophic" in run.problems[0]["error"]

    monkeypatch.undo()  # the mapping is fixed: the next run picks the held case up
    await world.run_to_end()
    assert len(await world.tickets()) == 3
    assert (await world.watermark() or held_at) > held_at


async def test_mandatory_mappings_missing_means_no_run(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, world.connection_id)
        assert connection is not None
        connection.mappings = {}
    world.case("Waiting", modified_at=ago(world.state, minutes=5))
    step = await world.advance()
    assert step.outcome == "failed"
    assert "Ticket type for cases" in step.message
    assert (await world.sync_state()).last_error.startswith("Set the mandatory mappings first")
    assert await world.tickets() == []


async def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    world.case("After expiry", modified_at=ago(world.state, minutes=5))
    world.state.oauth.expire_access_tokens()
    step = (await world.run_to_end())[-1]
    assert step.outcome == "finished"
    assert len(world.transport.token_calls("refresh_token")) == 1
    assert len(await world.tickets()) == 1


async def test_a_refused_refresh_means_needs_reauth_without_a_retry_loop(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    world.case("Unreachable", modified_at=ago(world.state, minutes=5))
    world.state.oauth.expire_access_tokens()
    world.state.oauth.revoke_refresh_tokens()

    step = await world.advance()
    assert step.outcome == "failed"
    assert step.retry_in is None
    connection = await world.connection()
    assert connection.status == ConnectionStatus.NEEDS_REAUTH
    assert "reconnect" in connection.status_message.lower()
    state = await world.sync_state()
    assert state.consecutive_failures == 1
    assert state.last_error

    # Until someone reconnects, the scope is skipped without calling the vendor at all.
    calls = len(world.transport.requests)
    assert (await world.advance()).outcome == "skipped"
    assert len(world.transport.requests) == calls
    assert len(world.transport.token_calls("refresh_token")) == 1

"""Changes made in socdesk reach the source once, in order, and never come back as echoes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.sync import outbox, relay
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import ActionKind, Ticket, TicketAction
from tests.sync.harness import World, ago, make_world


async def _imported_ticket(world: World) -> Ticket:
    await world.run_to_end()
    [ticket] = await world.tickets()
    return ticket


async def _notes(world: World, ticket: Ticket, body: str) -> list[TicketAction]:
    async with session_scope(world.sessionmaker) as session:
        rows = await session.scalars(
            select(TicketAction).where(
                TicketAction.ticket_id == ticket.id, TicketAction.kind == ActionKind.NOTE, TicketAction.body == body
            )
        )
        return list(rows.all())


def _remote_bodies(world: World, case_id: str, body: str) -> list[str]:
    return [comment.body for comment in world.state.case(case_id).comments.values() if comment.body == body]


def _staff(user: User) -> Scope:
    return Scope(user_id=user.id, role=Role.ANALYST, all_clients=True, client_ids=frozenset(), label=user.email)


async def _staff_note(world: World, make_user, ticket: Ticket, body: str, *, sync: bool = True) -> None:
    analyst = await make_user(Role.ANALYST)
    async with session_scope(world.sessionmaker) as session:
        await tickets.add_note(session, _staff(analyst), ticket.id, body, sync_to_source=sync)


async def test_a_synced_note_reaches_the_source_once_and_three_imports_bring_nothing_back(
    settings: Settings, sessionmaker, make_user
) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Round trip", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)

    await _staff_note(world, make_user, ticket, "Isolated the host.")
    async with session_scope(sessionmaker) as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    assert (message.operation, message.status) == ("comment", "pending")

    result = await relay.relay(world.runtime)
    assert result.delivered == 1
    for _ in range(3):
        await world.run_to_end()
    assert len(_remote_bodies(world, case_id, "Isolated the host.")) == 1
    assert len(await _notes(world, ticket, "Isolated the host.")) == 1
    assert (await relay.relay(world.runtime)).delivered == 0


async def test_a_note_not_flagged_for_sync_stays_local(settings: Settings, sessionmaker, make_user) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Private", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)
    await _staff_note(world, make_user, ticket, "Internal only.", sync=False)
    assert (await relay.relay(world.runtime)).delivered == 0
    assert _remote_bodies(world, case_id, "Internal only.") == []


async def test_a_crash_after_the_remote_write_neither_duplicates_nor_loses_the_comment(
    settings: Settings, sessionmaker, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Crash window", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)
    await _staff_note(world, make_user, ticket, "Written before the crash.")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker killed after the remote write")

    monkeypatch.setattr(relay, "mark_delivered", crash)
    with pytest.raises(RuntimeError):
        await relay.relay(world.runtime)  # the comment exists remotely; the local commit is lost
    monkeypatch.undo()
    assert len(_remote_bodies(world, case_id, "Written before the crash.")) == 1
    async with session_scope(sessionmaker) as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    assert message.status == "pending"

    # Either the relay runs again first (the client-chosen id makes the write a no-op) ...
    assert (await relay.relay(world.runtime)).delivered == 1
    await world.run_to_end()
    assert len(_remote_bodies(world, case_id, "Written before the crash.")) == 1
    assert len(await _notes(world, ticket, "Written before the crash.")) == 1


async def test_an_import_that_meets_our_undelivered_comment_recognises_it(
    settings: Settings, sessionmaker, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Import first", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)
    await _staff_note(world, make_user, ticket, "Seen by the import first.")
    monkeypatch.setattr(relay, "mark_delivered", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        await relay.relay(world.runtime)
    monkeypatch.undo()

    # ... or the import meets the comment before the relay retries.
    await world.run_to_end()
    async with session_scope(sessionmaker) as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    assert message.status == OutboxStatus.DELIVERED
    assert (await relay.relay(world.runtime)).delivered == 0
    assert len(await _notes(world, ticket, "Seen by the import first.")) == 1
    assert len(_remote_bodies(world, case_id, "Seen by the import first.")) == 1


async def test_note_then_close_are_delivered_in_order(settings: Settings, sessionmaker, make_user) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Close me", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)
    analyst = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        access = _staff(analyst)
        await tickets.add_note(session, access, ticket.id, "Root cause found.", sync_to_source=True)
        await tickets.close(
            session, access, ticket.id, classification="TruePositive", classification_reason="SuspiciousActivity"
        )
    world.state.faults.add("server_error", path_prefix="/api/", method="PUT", count=3)  # every try of the note

    first = await relay.relay(world.runtime)
    assert (first.delivered, first.retrying) == (0, 1)  # the close waits behind the failed note
    assert world.state.case(case_id).status != "closed"

    async with session_scope(sessionmaker) as session:
        for message in (await session.scalars(select(OutboxMessage))).all():
            message.next_attempt_at = message.created_at  # time passes
    second = await relay.relay(world.runtime)
    assert second.delivered == 2
    remote = world.state.case(case_id)
    assert remote.status == "closed"
    assert remote.classification == "true_positive"
    assert len(_remote_bodies(world, case_id, "Root cause found.")) == 1


async def test_changes_the_import_makes_are_never_sent_back(settings: Settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Closed remotely", modified_at=ago(world.state, minutes=30))
    await _imported_ticket(world)
    world.state.update_case(world.state.case(case_id), {"status": "closed", "classification": "false_positive"})
    world.state.add_comment(world.state.case(case_id), body="Closed by the vendor's analyst.", author="x@acme.test")
    await world.run_to_end()
    [ticket] = await world.tickets()
    async with session_scope(sessionmaker) as session:
        assert (await session.get(Ticket, ticket.id)).closed_at is not None  # type: ignore[union-attr]
        assert (await session.scalars(select(OutboxMessage))).all() == []


async def test_a_delivery_that_keeps_failing_is_parked_as_failed(settings: Settings, sessionmaker, make_user) -> None:
    world = await make_world(settings, sessionmaker)
    world.case("Unlucky", modified_at=ago(world.state, minutes=30))
    ticket = await _imported_ticket(world)
    await _staff_note(world, make_user, ticket, "Never arrives.")
    world.state.faults.add("rate_limit", retry_after=120, path_prefix="/api/", method="PUT", count=100)
    for _ in range(outbox.MAX_ATTEMPTS):
        await relay.relay(world.runtime)
        async with session_scope(sessionmaker) as session:
            [message] = (await session.scalars(select(OutboxMessage))).all()
            message.next_attempt_at = message.created_at
    assert message.status == "failed"
    assert message.attempts == outbox.MAX_ATTEMPTS
    assert "rate limited" in message.last_error

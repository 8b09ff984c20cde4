"""Live events leave the process only when their transaction commits, and only to who may see them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from portal.db.engine import session_scope
from portal.domain import events
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.clients.models import Client, Site
from portal.domain.events import Event
from portal.domain.events.bus import Subscription
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.models import SyncRun
from portal.domain.tickets import service
from portal.domain.tickets.models import TicketType


class Collected(events.Sink):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def submit(self, batch: list[Event]) -> None:
        self.events.extend(batch)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


@pytest.fixture
async def sink() -> AsyncIterator[Collected]:
    collected = Collected()
    events.install(collected)
    yield collected
    events.uninstall(collected)


async def _client(sessionmaker, name: str) -> uuid.UUID:
    async with session_scope(sessionmaker) as session:
        client = Client(name=name)
        client.sites = [Site(name="Main", is_main=True)]
        session.add(client)
        await session.flush()
        return client.id


async def _new_ticket(session, client_id: uuid.UUID, summary: str = "Phishing") -> object:
    ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
    return await service.create_ticket(
        session, Scope.system(), service.NewTicket(client_id=client_id, ticket_type_id=ticket_type.id, summary=summary)
    )


async def test_a_created_ticket_is_announced_after_commit_not_before(sessionmaker, sink: Collected) -> None:
    client_id = await _client(sessionmaker, "Acme")
    async with session_scope(sessionmaker) as session:
        ticket = await _new_ticket(session, client_id)
        await session.flush()
        assert sink.events == []  # still inside the transaction
    assert sink.kinds() == ["ticket.created"]
    assert sink.events[0].client_ids == (str(client_id),)
    assert sink.events[0].subject == str(ticket.id)  # type: ignore[attr-defined]


async def test_rolled_back_work_announces_nothing(sessionmaker, sink: Collected) -> None:
    client_id = await _client(sessionmaker, "Acme")

    async def failing_job() -> None:
        async with session_scope(sessionmaker) as session:
            await _new_ticket(session, client_id)
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError):
        await failing_job()
    assert sink.events == []
    async with session_scope(sessionmaker) as session:
        await _new_ticket(session, client_id, "After")
    assert sink.kinds() == ["ticket.created"]  # the session's leftovers did not leak into the next commit


async def test_a_rolled_back_savepoint_drops_only_its_own_events(sessionmaker, sink: Collected) -> None:
    client_id = await _client(sessionmaker, "Acme")
    async with session_scope(sessionmaker) as session:
        kept = await _new_ticket(session, client_id, "Kept")

        async def bad_item() -> None:
            async with session.begin_nested():
                await _new_ticket(session, client_id, "Dropped")
                raise RuntimeError("a bad item")

        with pytest.raises(RuntimeError):
            await bad_item()
        async with session.begin_nested():
            also = await _new_ticket(session, client_id, "Also kept")
    assert [event.subject for event in sink.events] == [str(kept.id), str(also.id)]  # type: ignore[attr-defined]


async def test_ticket_changes_and_sync_records_are_announced(sessionmaker, sink: Collected) -> None:
    client_id = await _client(sessionmaker, "Acme")
    async with session_scope(sessionmaker) as session:
        ticket = await _new_ticket(session, client_id)
        connection = Connection(vendor="acme", name="Acme console")
        session.add(connection)
        await session.flush()
        link = ClientLink(connection_id=connection.id, client_id=client_id, remote_scope="t1")
        session.add(link)
        await session.flush()
        run = SyncRun(connection_id=connection.id, client_link_id=link.id, entity="cases", trigger="manual")
        session.add(run)
    sink.events.clear()
    async with session_scope(sessionmaker) as session:
        await service.add_note(session, Scope.system(), ticket.id, "Looked at it")  # type: ignore[attr-defined]
        stored_run = await session.get(SyncRun, run.id)
        assert stored_run is not None
        stored_run.outcome = "succeeded"
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        stored.status = ConnectionStatus.NEEDS_REAUTH.value
    assert sorted(sink.kinds()) == ["connection.state", "sync.run_finished", "ticket.changed"]
    assert {event.client_ids for event in sink.events} == {(str(client_id),)}


def _scope(*client_ids: uuid.UUID, all_clients: bool = False) -> Scope:
    return Scope(uuid.uuid4(), Role.ANALYST, all_clients, frozenset(client_ids))


def test_a_subscription_hears_only_its_topics_and_clients() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    limited = Subscription(_scope(mine), frozenset({events.TICKETS}))
    everyone = Subscription(_scope(all_clients=True), frozenset({events.TICKETS, events.SYNC}))
    for event in (
        Event(events.TICKETS, "ticket.created", "a", (str(mine),)),
        Event(events.TICKETS, "ticket.created", "b", (str(theirs),)),
        Event(events.SYNC, "sync.run_started", "c", ()),  # connection-level: only for staff who see all
        Event(events.SYNC, "sync.run_started", "d", (str(mine),)),  # not a topic the limited page asked for
    ):
        limited.offer(event)
        everyone.offer(event)
    assert [limited.queue.get_nowait().subject for _ in range(limited.queue.qsize())] == ["a"]  # type: ignore[union-attr]
    assert everyone.queue.qsize() == 4


def test_malformed_messages_are_ignored() -> None:
    assert Event.from_json("not json") is None
    assert Event.from_json('{"topic": "elsewhere", "kind": "x", "subject": "y"}') is None
    event = Event(events.TICKETS, "ticket.created", "a", ("c1",))
    assert Event.from_json(event.to_json()) == event

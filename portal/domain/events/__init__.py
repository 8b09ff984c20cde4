"""Live events: what changed, told to open pages once the change is committed.

Domain code calls :func:`publish` inside its transaction; nothing leaves the process until that
transaction commits (a rolled-back ticket, or an item whose savepoint was rolled back, is never
announced). On commit the events go to the process's :class:`~portal.domain.events.bus.Publisher`
(one per event loop: the web app's and the worker's), which sends them over Redis pub/sub to every
web process; each web process streams them to the pages of the staff allowed to hear them.

An event says only *that* something changed and for which clients: pages re-read what they show
through the same scoped queries as always, so an event can never carry data past a user's scope.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from portal.domain.access import Scope

TICKETS = "tickets"
SYNC = "sync"
TOPICS = (TICKETS, SYNC)

_PENDING = "socdesk.events.pending"


@dataclass(frozen=True)
class Event:
    """``client_ids`` are the clients the change concerns; none means only staff who see every client."""

    topic: str
    kind: str  # ticket.created, ticket.changed, sync.run_started, sync.run_finished, connection.state
    subject: str  # the id of the ticket, run or connection
    client_ids: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)

    def visible_to(self, access: Scope) -> bool:
        if access.all_clients:
            return True
        return any(_as_uuid(client_id) in access.client_ids for client_id in self.client_ids)

    def to_json(self) -> str:
        return json.dumps(
            {
                "topic": self.topic,
                "kind": self.kind,
                "subject": self.subject,
                "clients": list(self.client_ids),
                "at": self.at,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event | None:
        """The event, or None for anything malformed (a stray publisher must not break streams)."""
        try:
            data: dict[str, Any] = json.loads(raw)
            if data["topic"] not in TOPICS:
                return None
            return cls(
                topic=str(data["topic"]),
                kind=str(data["kind"]),
                subject=str(data["subject"]),
                client_ids=tuple(str(client) for client in data.get("clients") or ()),
                at=float(data.get("at") or time.time()),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def ids(*values: uuid.UUID | str | None) -> tuple[str, ...]:
    return tuple(sorted({str(value) for value in values if value is not None}))


# -- in the transaction --------------------------------------------------------------------------


def publish(session: AsyncSession | Session, event: Event) -> None:
    """Announce ``event`` once the current transaction commits (and never if it rolls back)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_PENDING, []).append((transaction, event))


def ticket_event(session: AsyncSession | Session, ticket: Any, *, created: bool) -> None:
    publish(
        session,
        Event(TICKETS, "ticket.created" if created else "ticket.changed", str(ticket.id), ids(ticket.client_id)),
    )


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [(t, e) for t, e in pending if not _within(t, previous_transaction)]


@sa_event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # a synchronous script: nobody is listening
    publisher = _publishers.get(loop)
    if publisher is not None:
        publisher.submit([event for _, event in pending])


@sa_event.listens_for(Session, "before_flush")
def _sync_records(session: Session, flush_context: Any, instances: Any) -> None:
    """Sync runs and connection states announce themselves as they are written.

    Many places write them (the engine's every exit, item re-syncs, OAuth refresh, Test connection,
    reconnecting, disabling); catching them at the flush means none can be forgotten.
    """
    from portal.domain.integrations.models import ClientLink, Connection
    from portal.domain.sync.models import RunOutcome, SyncRun

    for instance in list(session.new) + list(session.dirty):
        if isinstance(instance, SyncRun):
            if instance in session.new:
                kind = "sync.run_started"
            elif inspect(instance).attrs.outcome.history.has_changes() and instance.outcome != RunOutcome.RUNNING:
                kind = "sync.run_finished"
            else:
                continue
            link_id = instance.client_link_id
            with session.no_autoflush:
                client_id = (
                    session.scalar(select(ClientLink.client_id).where(ClientLink.id == link_id)) if link_id else None
                )
            publish(session, Event(SYNC, kind, str(instance.id), ids(client_id)))
        elif isinstance(instance, Connection) and inspect(instance).attrs.status.history.has_changes():
            with session.no_autoflush:
                client_ids = session.scalars(
                    select(ClientLink.client_id).where(ClientLink.connection_id == instance.id)
                ).all()
            publish(session, Event(SYNC, "connection.state", str(instance.id), ids(*client_ids)))


# -- per event loop ------------------------------------------------------------------------------


class Sink(Protocol):
    """What receives committed events in this event loop (the Redis publisher, or a test's list)."""

    def submit(self, events: list[Event]) -> None: ...


_publishers: dict[asyncio.AbstractEventLoop, Sink] = {}


def install(sink: Sink) -> None:
    """Committed events in the running loop go to ``sink`` from now on."""
    _publishers[asyncio.get_running_loop()] = sink


def uninstall(sink: Sink) -> None:
    loop = asyncio.get_running_loop()
    if _publishers.get(loop) is sink:
        del _publishers[loop]

"""Shared by the live-update tests: clients, a limited user, tickets, and publishing this test's commits."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain import events
from portal.domain.access import Scope
from portal.domain.accounts.models import User, UserClient
from portal.domain.clients.models import Client, Site
from portal.domain.events.bus import Publisher, channel_for
from portal.domain.tickets import service
from portal.domain.tickets.models import TicketType


@pytest.fixture
async def publishing(settings: Settings) -> AsyncIterator[None]:
    """This test's own commits reach Redis as the web process's and the worker's do."""
    redis = Redis.from_url(str(settings.redis_url))
    publisher = Publisher(redis, channel_for(str(settings.database_url))).start()
    events.install(publisher)
    yield
    events.uninstall(publisher)
    await publisher.close()
    await redis.aclose()


async def make_clients(sessionmaker, *names: str) -> list[uuid.UUID]:
    async with session_scope(sessionmaker) as session:
        rows = [Client(name=name, sites=[Site(name="Main", is_main=True)]) for name in names]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def limit_to(sessionmaker, user: User, client_id: uuid.UUID) -> None:
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.all_clients = False
        session.add(UserClient(user_id=user.id, client_id=client_id))


async def make_ticket(sessionmaker, client_id: uuid.UUID, *, roll_back: bool = False, summary: str = "Live") -> float:
    """Create a ticket (committed, or rolled back); returns when the transaction ended."""

    class RolledBack(Exception):
        pass

    with contextlib.suppress(RolledBack):
        async with session_scope(sessionmaker) as session:
            ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
            assert ticket_type is not None
            new = service.NewTicket(client_id=client_id, ticket_type_id=ticket_type.id, summary=summary)
            await service.create_ticket(session, Scope.system(), new)
            if roll_back:
                raise RolledBack
    return time.monotonic()

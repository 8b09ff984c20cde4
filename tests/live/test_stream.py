"""The SSE stream over a real served socdesk: scope filtering, and events only after commit."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from portal.app import create_app
from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain import events
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.clients.models import Client, Site
from portal.domain.events.bus import Publisher, channel_for
from portal.domain.tickets import service
from portal.domain.tickets.models import TicketType
from tests.conftest import TEST_PASSWORD
from tests.serving import served

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass
class Message:
    at: float
    event: str


class Stream:
    """An open /live/stream read in the background; ``messages`` fills as events arrive."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()

    async def next(self, seconds: float) -> Message | None:
        try:
            return await asyncio.wait_for(self.messages.get(), seconds)
        except TimeoutError:
            return None


@contextlib.asynccontextmanager
async def open_stream(base_url: str, email: str, topics: str = "tickets") -> AsyncIterator[Stream]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        token = CSRF.search((await http.get("/login")).text)
        assert token
        signed_in = await http.post("/login", data={"email": email, "password": TEST_PASSWORD, "_csrf_token": token[1]})
        assert signed_in.status_code in (200, 302, 303)
        stream = Stream()
        ready = asyncio.Event()

        async def read() -> None:
            headers = {"Accept": "text/event-stream"}
            async with http.stream("GET", f"/live/stream?topics={topics}", headers=headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                        if name == "ready":
                            ready.set()
                        else:
                            stream.messages.put_nowait(Message(time.monotonic(), name))

        reader = asyncio.create_task(read())
        await asyncio.wait_for(ready.wait(), 10)
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


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


async def _clients(sessionmaker, *names: str) -> list[uuid.UUID]:
    async with session_scope(sessionmaker) as session:
        rows = [Client(name=name, sites=[Site(name="Main", is_main=True)]) for name in names]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def _limit(sessionmaker, user: User, client_id: uuid.UUID) -> None:
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.all_clients = False
        session.add(UserClient(user_id=user.id, client_id=client_id))


async def _ticket(sessionmaker, client_id: uuid.UUID, *, roll_back: bool = False) -> float:
    """Create a ticket (committed, or rolled back); returns when the transaction ended."""

    class RolledBack(Exception):
        pass

    with contextlib.suppress(RolledBack):
        async with session_scope(sessionmaker) as session:
            ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
            assert ticket_type is not None
            new = service.NewTicket(client_id=client_id, ticket_type_id=ticket_type.id, summary="Live")
            await service.create_ticket(session, Scope.system(), new)
            if roll_back:
                raise RolledBack
    return time.monotonic()


async def test_a_limited_analyst_hears_only_their_clients_and_only_committed_work(
    settings: Settings, sessionmaker, make_user, publishing: None
) -> None:
    mine, theirs = await _clients(sessionmaker, "Mine", "Theirs")
    analyst = await make_user(Role.ANALYST)
    await _limit(sessionmaker, analyst, mine)
    admin = await make_user(Role.ADMIN)
    with served(create_app(settings)) as url:
        async with open_stream(url, analyst.email) as limited, open_stream(url, admin.email) as everyone:
            await _ticket(sessionmaker, theirs)
            heard = await everyone.next(seconds=5)
            assert heard is not None  # the event was published and streamed...
            assert heard.event == "tickets"
            assert await limited.next(seconds=1.5) is None  # ...but not to someone who may not see that client

            await _ticket(sessionmaker, mine, roll_back=True)
            assert await limited.next(seconds=1.5) is None  # rolled back: nothing happened

            committed_at = await _ticket(sessionmaker, mine)
            message = await limited.next(seconds=5)
            assert message is not None
            assert message.event == "tickets"
            assert message.at - committed_at < 1.0


async def test_a_page_hears_only_the_topics_it_asked_for(
    settings: Settings, sessionmaker, make_user, publishing: None
) -> None:
    [client_id] = await _clients(sessionmaker, "Only")
    admin = await make_user(Role.ADMIN)
    with served(create_app(settings)) as url:
        async with open_stream(url, admin.email, topics="sync") as sync_only:
            await _ticket(sessionmaker, client_id)
            assert await sync_only.next(seconds=1.5) is None


async def test_the_stream_needs_sign_in_and_a_plain_request_is_not_held_open(
    client: httpx.AsyncClient, make_user
) -> None:
    anonymous = await client.get("/live/stream", follow_redirects=False)
    assert anonymous.status_code in (302, 303, 401)
    user = await make_user(Role.VIEWER)
    from tests.conftest import sign_in

    await sign_in(client, user.email)  # type: ignore[arg-type]
    response = await asyncio.wait_for(client.get("/live/stream"), timeout=10)
    assert response.status_code == 200
    assert response.text.startswith(": socdesk live updates")

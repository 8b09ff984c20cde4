"""The SSE stream over a real served socdesk: scope filtering, and events only after commit."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from portal.app import create_app
from portal.config import Settings
from portal.domain.accounts.models import Role
from tests.conftest import TEST_PASSWORD
from tests.live.support import limit_to, make_clients, make_ticket, publishing  # noqa: F401  (a fixture)
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
            with contextlib.suppress(asyncio.CancelledError, httpx.RemoteProtocolError):  # the server went first
                await reader


@pytest.mark.usefixtures("publishing")
async def test_a_limited_analyst_hears_only_their_clients_and_only_committed_work(
    settings: Settings, sessionmaker, make_user
) -> None:
    mine, theirs = await make_clients(sessionmaker, "Mine", "Theirs")
    analyst = await make_user(Role.ANALYST)
    await limit_to(sessionmaker, analyst, mine)
    admin = await make_user(Role.ADMIN)
    with served(create_app(settings)) as url:
        async with open_stream(url, analyst.email) as limited, open_stream(url, admin.email) as everyone:
            await make_ticket(sessionmaker, theirs)
            heard = await everyone.next(seconds=5)
            assert heard is not None  # the event was published and streamed...
            assert heard.event == "tickets"
            assert await limited.next(seconds=1.5) is None  # ...but not to someone who may not see that client

            await make_ticket(sessionmaker, mine, roll_back=True)
            assert await limited.next(seconds=1.5) is None  # rolled back: nothing happened

            committed_at = await make_ticket(sessionmaker, mine)
            message = await limited.next(seconds=5)
            assert message is not None
            assert message.event == "tickets"
            assert message.at - committed_at < 1.0


@pytest.mark.usefixtures("publishing")
async def test_a_page_hears_only_the_topics_it_asked_for(settings: Settings, sessionmaker, make_user) -> None:
    [client_id] = await make_clients(sessionmaker, "Only")
    admin = await make_user(Role.ADMIN)
    with served(create_app(settings)) as url:
        async with open_stream(url, admin.email, topics="sync") as sync_only:
            await make_ticket(sessionmaker, client_id)
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


async def test_an_open_stream_does_not_hold_up_server_shutdown(settings: Settings, make_user) -> None:
    admin = await make_user(Role.ADMIN)
    server = served(create_app(settings))
    url = server.__enter__()
    async with open_stream(url, admin.email):
        started = time.monotonic()
        await asyncio.to_thread(server.__exit__, None, None, None)  # the stream is still open
        stopped = time.monotonic() - started
    assert stopped < 8  # uvicorn's graceful timeout (2 s) closes it; without one it would wait forever

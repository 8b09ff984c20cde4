"""Live updates: one Server-Sent Events stream per open page, carrying only what its user may see.

A message names a topic (``tickets``, ``sync``) and when its newest change was published; the
page refreshes the fragments that listen for it through their usual scoped routes, so the
stream itself carries nothing about the change. Bursts are
coalesced: a topic is announced at once, then at most every ``MIN_INTERVAL`` seconds while
changes keep coming (a busy import refreshes a dashboard a few times a second, not per ticket).

A stream ends by itself after ``LIFETIME`` seconds (the browser reconnects at once, and the
sign-in and client scope are checked again), when the server shuts down, or when the client
goes away; a comment line every ``HEARTBEAT`` seconds keeps proxies from closing it idle and
finds a vanished client. A request that does not ask for ``text/event-stream`` gets the opening
lines only, so scripts and test clients that read to the end are never held open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from portal.domain.access import Scope
from portal.domain.events import TOPICS
from portal.domain.events.bus import EventHub, Subscription

LIFETIME = 300.0
HEARTBEAT = 15.0
MIN_INTERVAL = 0.5
RECONNECT_MS = 1000


def parse_topics(raw: str | None) -> frozenset[str]:
    asked = {part.strip() for part in (raw or "").split(",")} & set(TOPICS)
    return frozenset(asked or TOPICS)


async def _changes(
    hub: EventHub, subscription: Subscription, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[tuple[str, float] | None]:
    """(topic, when its newest change was published) as soon as it changes, then at most every
    MIN_INTERVAL while changes keep coming; None for a heartbeat."""
    deadline = loop.time() + LIFETIME
    last_sent: dict[str, float] = {}
    pending: dict[str, float] = {}
    while not hub.closed:
        now = loop.time()
        for topic in sorted(topic for topic in pending if now - last_sent.get(topic, 0.0) >= MIN_INTERVAL):
            last_sent[topic] = now
            yield topic, pending.pop(topic)
        wait = min(HEARTBEAT, deadline - now)
        if pending:
            wait = min(wait, min(last_sent[topic] + MIN_INTERVAL for topic in pending) - now)
        if wait <= 0 and not pending:
            return
        try:
            event = await asyncio.wait_for(subscription.queue.get(), timeout=max(wait, 0.0))
        except TimeoutError:
            if not pending:
                yield None
            continue
        if event is None:  # the hub is closing
            return
        pending[event.topic] = max(pending.get(event.topic, 0.0), event.at)


async def _stream(hub: EventHub, access: Scope, topics: frozenset[str], *, follow: bool) -> AsyncIterator[Any]:
    yield ServerSentEventMessage(comment="socdesk live updates", retry=RECONNECT_MS, data=None)
    if not follow:
        return
    loop = asyncio.get_running_loop()
    async with hub.subscribe(access, topics) as subscription:
        yield ServerSentEventMessage(event="ready", data=json.dumps(sorted(topics)))
        async for change in _changes(hub, subscription, loop):
            if change is None:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
            else:
                topic, published = change
                yield ServerSentEventMessage(event=topic, data=json.dumps({"topic": topic, "at": published}))


class LiveController(Controller):
    path = "/live"

    @get("/stream", name="live_stream")
    async def stream(
        self,
        request: Request[Any, Any, Any],
        access: NamedDependency[Scope],
        topics: FromQuery[str | None] = None,
    ) -> ServerSentEvent:
        hub: EventHub = request.app.state.event_hub
        follow = "text/event-stream" in request.headers.get("accept", "")
        response = ServerSentEvent(_stream(hub, access, parse_topics(topics), follow=follow))
        # Proxies must pass each message on as it comes, and nobody may cache a stream.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response

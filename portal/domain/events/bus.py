"""Events over Redis pub/sub: the publisher (worker and web) and the hub that fans them out (web).

One channel per database (its name is derived from the database's address), so two installs, or
two test runs, sharing a Redis server never hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from portal.domain.access import Scope
from portal.domain.events import Event, Sink

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256  # events waiting for one page; beyond that it only needs to know "something changed"


def channel_for(database_url: str) -> str:
    url = make_url(database_url)
    where = f"{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return "socdesk:events:" + hashlib.sha256(where.encode()).hexdigest()[:16]


class Publisher(Sink):
    """Sends committed events to Redis from a background task, so a commit never waits on the network."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Publisher:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="socdesk-event-publisher")
        return self

    def submit(self, events: list[Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event in batch:
                        pipe.publish(self._channel, event.to_json())
                    await pipe.execute()
            except Exception:  # Redis away: pages fall back to polling; the work itself is committed
                log.warning("could not publish %d live event(s)", len(batch), exc_info=True)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def close(self) -> None:
        """Send what is waiting (for two seconds at most), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(eq=False)
class Subscription:
    access: Scope
    topics: frozenset[str]
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def offer(self, event: Event) -> None:
        if event.topic in self.topics and event.visible_to(self.access):
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(event)


class EventHub:
    """One Redis subscription per web process, fanned out to every open stream, filtered by scope."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.closed = False

    async def start(self) -> EventHub:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="socdesk-event-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5)
        return self

    async def _run(self) -> None:
        while not self.closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._ready.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    event = Event.from_json(message["data"])
                    if event is not None:
                        self.dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live events: lost the Redis subscription, reconnecting", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def dispatch(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, access: Scope, topics: frozenset[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(access, topics)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    @property
    def listeners(self) -> int:
        return len(self._subscriptions)

    async def close(self) -> None:
        """Ends every open stream (each gets None), then the subscription."""
        self.closed = True
        for subscription in list(self._subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

"""Reading a page's records one by one when each needs a call of its own (comments, notes, details).

A throttled sub-read must not fail the page it belongs to: it is tried again after the wait the
vendor asked for (``Retry-After``, with a little jitter so retries do not come back in step),
within a bounded budget per page. A record whose sub-read still cannot be made, or that cannot
be read at all, becomes a problem of its own: the rest of the page goes on, and the watermark
stays before that record, so the next run reads it again. Nothing is lost, nothing waits minutes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from portal.integrations.base import ItemProblem, RemoteItem
from portal.integrations.errors import RateLimited, Unavailable

T = TypeVar("T")

MAX_ATTEMPTS = 6  # per record, for a throttled sub-read (the HTTP base has already retried inline)
WAIT_BUDGET_SECONDS = 60.0  # waited in all for one page's throttled sub-reads; the rest are read next run


async def read_each(
    raws: Sequence[T],
    read: Callable[[T], Awaitable[RemoteItem]],
    unreadable: Callable[[T, int, Exception], ItemProblem],
    *,
    skip: tuple[type[Exception], ...],
    pause: Callable[[float], Awaitable[None]],
) -> tuple[list[RemoteItem], list[ItemProblem]]:
    """Each raw record through ``read``; a record ``read`` refuses with one of ``skip`` (malformed,
    gone), or whose sub-read stays throttled or unavailable, is a problem made by ``unreadable``."""
    items: list[RemoteItem] = []
    problems: list[ItemProblem] = []
    budget = WAIT_BUDGET_SECONDS
    for index, raw in enumerate(raws):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                items.append(await read(raw))
            except skip as exc:
                problems.append(unreadable(raw, index, exc))
            except RateLimited as exc:
                wait = exc.wait()
                if attempt == MAX_ATTEMPTS or wait > budget:
                    problems.append(unreadable(raw, index, _later(exc)))
                else:
                    budget -= wait
                    await pause(wait)
                    continue
            except Unavailable as exc:
                problems.append(unreadable(raw, index, _later(exc)))
            break
    return items, problems


class ReadLater(Exception):
    """A record left for the next run: the vendor throttled or failed its sub-read."""


def _later(exc: RateLimited | Unavailable) -> ReadLater:
    return ReadLater(f"{exc.describe()} It is read again on the next run.")

"""Where tasks register themselves: one list of functions, one of cron jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from arq import cron
from arq.cron import CronJob
from arq.worker import Function, func

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

functions: list[Function] = []
cron_jobs: list[CronJob] = []


def task(name: str, *, max_tries: int = 5, timeout_seconds: int = 300) -> Callable[[F], F]:
    def register(coroutine: F) -> F:
        functions.append(func(cast(Any, coroutine), name=name, max_tries=max_tries, timeout=timeout_seconds))
        return coroutine

    return register


def every(name: str, *, second: set[int] | None = None, minute: set[int] | None = None) -> Callable[[F], F]:
    """A periodic task; ``unique`` keeps two workers from running the same tick twice."""

    def register(coroutine: F) -> F:
        cron_jobs.append(
            cron(
                cast(Any, coroutine),
                name=name,
                second=second,
                minute=minute,
                unique=True,
                run_at_startup=True,
            )
        )
        return coroutine

    return register

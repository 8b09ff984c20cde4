"""Where tasks register themselves: one list of functions, one of cron jobs.

Every task is wrapped so that a job failing for good lands in the failed-jobs table (arq keeps
no dead letters): any exception other than ``Retry``, or a ``Retry`` on the last try.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func

from portal.domain.sync.failures import record_failed_job

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
log = logging.getLogger(__name__)

functions: list[Function] = []
cron_jobs: list[CronJob] = []


def _recording_failures(name: str, max_tries: int, coroutine: F) -> F:
    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        try:
            return await coroutine(ctx, *args)
        except Retry:
            if ctx.get("job_try", 1) >= max_tries:
                await _record(ctx, name, args, f"Gave up after {max_tries} tries.")
            raise
        except asyncio.CancelledError:
            raise  # shutdown or timeout: arq reruns the job
        except Exception as exc:
            await _record(ctx, name, args, "".join(traceback.format_exception_only(exc)).strip())
            raise

    return cast(F, run)


async def _record(ctx: dict[str, Any], name: str, args: tuple[Any, ...], error: str) -> None:
    try:
        await record_failed_job(
            ctx["sessionmaker"], task=name, job_id=str(ctx.get("job_id", "")), args=args,
            tries=int(ctx.get("job_try", 1)), error=error,
        )  # fmt: skip
    except Exception:  # the database may be what failed; the log line must still be written
        log.exception("could not record failed job %s", name)


def task(
    name: str, *, max_tries: int = 5, timeout_seconds: int = 300, keep_result_seconds: int | None = None
) -> Callable[[F], F]:
    """Register a task. ``keep_result_seconds=0`` lets the same job id be queued again as soon as it ends."""

    def register(coroutine: F) -> F:
        functions.append(
            func(
                cast(Any, _recording_failures(name, max_tries, coroutine)),
                name=name,
                max_tries=max_tries,
                timeout=timeout_seconds,
                keep_result=keep_result_seconds,
            )
        )
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

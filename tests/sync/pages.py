"""Applying a page of remote items in a test, the way the engine does (set-based, or one by one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.sync.engine import apply_items as engine_apply_items
from portal.domain.sync.engine import apply_one_by_one
from portal.domain.sync.models import SyncRun
from portal.integrations.base import Applied, EntityHandler, PageApplied, RemoteItem, SyncTarget


class ItemFailed(AssertionError):
    """An item of the page could not be applied; the message is the problem the run would record."""


async def apply_page(
    sessionmaker: async_sessionmaker[AsyncSession],
    handler: EntityHandler,
    target: SyncTarget,
    items: Sequence[RemoteItem],
    *,
    one_by_one: bool = False,
) -> list[Applied]:
    """Each item's outcome, in order; :class:`ItemFailed` when any item became a problem."""
    async with session_scope(sessionmaker) as session:
        result: PageApplied
        if one_by_one:
            result = await apply_one_by_one(session, handler, target, items)
        else:
            async with session.begin_nested():
                result = await handler.apply_page(session, target, items)
    if result.problems:
        raise ItemFailed("; ".join(result.problems.values()))
    return [result.outcomes[item.key] for item in items]


class _PagesOfOneOnly:
    """A handler whose set-based write of a page of several items fails, as a constraint would:
    the engine must then find its way through the per-item path (pages of one pass through)."""

    def __init__(self, handler: EntityHandler) -> None:
        self._handler = handler
        self.refused = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._handler, name)

    async def apply_page(self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]) -> PageApplied:
        if len(items) > 1:
            self.refused += 1
            raise RuntimeError("the page's multi-row write failed")
        return await self._handler.apply_page(session, target, items)


async def apply_through_engine(
    sessionmaker: async_sessionmaker[AsyncSession],
    handler: EntityHandler,
    target: SyncTarget,
    items: Sequence[RemoteItem],
    *,
    fall_back: bool = False,
) -> tuple[dict[tuple[str, str], Applied | None], SyncRun]:
    """A page applied as the engine applies it (repeats dropped, counters moved once), in one
    transaction; with ``fall_back`` its set-based write fails first, so the per-item path runs."""
    run = SyncRun(
        connection_id=target.connection.id,
        entity=target.entity.name,
        trigger="manual",
        created=0,
        updated=0,
        unchanged=0,
        skipped=0,
        failed=0,
        problems=[],
    )
    used: EntityHandler = handler
    if fall_back:
        used = cast(EntityHandler, _PagesOfOneOnly(handler))
    async with session_scope(sessionmaker) as session:
        outcomes = await engine_apply_items(session, used, target, items, run)
    if fall_back:
        assert cast(_PagesOfOneOnly, used).refused == 1, "the set-based write was never tried"
    return outcomes, run

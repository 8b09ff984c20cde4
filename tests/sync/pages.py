"""Applying a page of remote items in a test, the way the engine does (set-based, or one by one)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.sync.engine import apply_one_by_one
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

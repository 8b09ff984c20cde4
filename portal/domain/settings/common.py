"""The pieces of the reference-data rules (put together in ``reference_list``): names, lookups, audit, deletes."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.access import Scope
from portal.domain.audit.service import record
from portal.domain.errors import NotFoundError, ValidationError

T = TypeVar("T")


def clean_name(errors: dict[str, str], raw: str, *, limit: int, field: str = "name") -> str:
    name = " ".join(raw.split())
    if not name:
        errors[field] = "Enter a name."
    elif len(name) > limit:
        errors[field] = f"Use at most {limit} characters."
    return name


async def name_taken(
    session: AsyncSession,
    column: InstrumentedAttribute[str],
    id_column: InstrumentedAttribute[uuid.UUID],
    name: str,
    exclude: uuid.UUID | None = None,
) -> bool:
    """Case-insensitive: "P1 - critical" next to "P1 - Critical" would only confuse people."""
    query = select(id_column).where(func.lower(column) == name.lower())
    if exclude is not None:
        query = query.where(id_column != exclude)
    return await session.scalar(query.limit(1)) is not None


async def get_or_404(session: AsyncSession, model: type[T], object_id: uuid.UUID, what: str) -> T:
    found = await session.get(model, object_id)
    if found is None:
        raise NotFoundError(what)
    return found


async def count(session: AsyncSession, column: InstrumentedAttribute[Any], value: Any) -> int:
    return await session.scalar(select(func.count()).where(column == value)) or 0


async def counts_by(session: AsyncSession, column: InstrumentedAttribute[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many rows reference each value of ``column`` (for the "used by" columns of the tables)."""
    rows = (await session.execute(select(column, func.count()).group_by(column))).all()
    return {row[0]: row[1] for row in rows}


async def audit_change(
    session: AsyncSession,
    access: Scope,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID,
    label: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record a create, update or delete; an update that changed nothing is not worth an entry."""
    if before is not None and after is not None and before == after:
        return
    await record(
        session,
        access,
        action,
        object_type=object_type,
        object_id=object_id,
        object_label=label,
        before=before,
        after=after,
    )


async def delete_unreferenced(session: AsyncSession, obj: object, why_not: str) -> None:
    """Delete ``obj``; a reference the explicit checks missed (a newer table) still refuses cleanly."""
    try:
        async with session.begin_nested():
            await session.delete(obj)
    except IntegrityError as exc:
        raise ValidationError({"delete": why_not}, message=why_not) from exc


def in_use_message(what: str, uses: list[tuple[int, str]]) -> str | None:
    """``"This priority is used by 3 tickets and 1 ticket type."`` or None when nothing uses it."""
    parts = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in uses if n]
    if not parts:
        return None
    return f"This {what} is used by {' and '.join(parts)}, so it cannot be deleted."

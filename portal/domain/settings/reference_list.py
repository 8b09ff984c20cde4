"""The life cycle every kind of reference data shares: each change is audited, nothing in use is deleted.

A kind's own module validates its input and sets its fields; what happens around that is here, once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from portal.db.base import UUIDPrimaryKey
from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.settings.common import (
    audit_change,
    clean_name,
    count,
    counts_by,
    delete_unreferenced,
    in_use_message,
    name_taken,
)

M = TypeVar("M", bound=UUIDPrimaryKey)


@dataclass(frozen=True)
class ReferenceKind(Generic[M]):
    """What sets one kind apart: its table, its name's limit, how the audit log and messages call it."""

    model: type[M]
    name_column: InstrumentedAttribute[str]
    max_name: int
    object_type: str  # in the audit log, and the start of its actions: "asset_group.create"
    noun: str  # how messages name one: "asset group"
    snapshot: Callable[[M], dict[str, Any]]  # what the audit log keeps; always has the "name"
    used_by: tuple[tuple[InstrumentedAttribute[uuid.UUID], str], ...]  # the columns that refer to one, and their noun


async def unique_name(
    session: AsyncSession, kind: ReferenceKind[M], errors: dict[str, str], raw: str, exclude: uuid.UUID | None
) -> str:
    """The cleaned name; a blank, overlong or already used one adds its message to ``errors``."""
    name = clean_name(errors, raw, limit=kind.max_name)
    if "name" not in errors and await name_taken(session, kind.name_column, kind.model.id, name, exclude):
        errors["name"] = f"Another {kind.noun} already has this name."
    return name


async def usage(session: AsyncSession, kind: ReferenceKind[Any]) -> list[dict[uuid.UUID, int]]:
    """For each of ``kind.used_by``, how many rows refer to each item: the tables show what blocks a delete."""
    return [await counts_by(session, column) for column, _ in kind.used_by]


async def create(session: AsyncSession, access: Scope, kind: ReferenceKind[M], item: M) -> M:
    """Store ``item``, already validated."""
    session.add(item)
    await session.flush()
    await _audit(session, access, kind, "create", item.id, None, kind.snapshot(item))
    return item


@asynccontextmanager
async def changing(
    session: AsyncSession, access: Scope, kind: ReferenceKind[M], item: M, verb: str = "update"
) -> AsyncIterator[None]:
    """Audit what the ``async with`` block changes in ``item`` as ``<object_type>.<verb>``."""
    before = kind.snapshot(item)
    yield
    await session.flush()
    await _audit(session, access, kind, verb, item.id, before, kind.snapshot(item))


async def delete(session: AsyncSession, access: Scope, kind: ReferenceKind[M], item: M) -> None:
    """Delete ``item``, or refuse with what still uses it."""
    uses = [(await count(session, column, item.id), noun) for column, noun in kind.used_by]
    refused = in_use_message(kind.noun, uses)
    if refused:
        raise ValidationError({"delete": refused}, message=refused)
    item_id, before = item.id, kind.snapshot(item)
    await delete_unreferenced(session, item, f"This {kind.noun} is still in use, so it cannot be deleted.")
    await _audit(session, access, kind, "delete", item_id, before, None)


async def _audit(
    session: AsyncSession,
    access: Scope,
    kind: ReferenceKind[Any],
    verb: str,
    item_id: uuid.UUID,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    latest = after if after is not None else before
    assert latest is not None
    await audit_change(
        session,
        access,
        f"{kind.object_type}.{verb}",
        object_type=kind.object_type,
        object_id=item_id,
        label=latest["name"],
        before=before,
        after=after,
    )

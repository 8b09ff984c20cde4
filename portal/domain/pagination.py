"""Keyset pagination over (updated_at, id): stable under inserts, cheap at any depth.

The cursor is opaque to clients (base64 of the last row's key) and walks forward in the
order integrations and scripts want: oldest change first, so "updated since" plus the
cursor never skips a row changed while the client was paging.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.errors import ValidationError

T = TypeVar("T")

MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def pack_token(payload: Any) -> str:
    """An opaque, URL-safe token for a JSON-able payload (every cursor in socdesk is one)."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack_token(token: str) -> Any:
    """The payload, or None when the token is malformed (callers decide: start over, or refuse)."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, TypeError):
        return None


def encode_cursor(updated_at: datetime, row_id: uuid.UUID) -> str:
    return pack_token([updated_at.isoformat(), str(row_id)])


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        stamp, row_id = unpack_token(cursor)
        return datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"cursor": "This cursor is not one socdesk issued."}) from exc


async def keyset_page(
    session: AsyncSession, statement: Select[Any], model: Any, *, limit: int, cursor: str | None
) -> Page[Any]:
    """``statement`` selects ``model`` rows (already filtered and scoped); this orders and cuts it."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": f"Choose a limit between 1 and {MAX_LIMIT}."})
    if cursor:
        after_time, after_id = decode_cursor(cursor)
        statement = statement.where(
            or_(model.updated_at > after_time, and_(model.updated_at == after_time, model.id > after_id))
        )
    statement = statement.order_by(model.updated_at, model.id).limit(limit + 1)
    rows = list((await session.scalars(statement)).unique().all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].updated_at, rows[-1].id) if more and rows else None
    return Page(rows, next_cursor)

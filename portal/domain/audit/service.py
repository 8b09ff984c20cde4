"""The audit log: every staff change to settings, users and ticket closures, with before/after."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.audit.models import AuditEntry


async def record(
    session: AsyncSession,
    actor: Scope | None,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str,
    object_label: str = "",
    client_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so it is kept exactly when the change is."""
    entry = AuditEntry(
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label[:500],
        client_id=client_id,
        before=_jsonable(before),
        after=_jsonable(after),
    )
    session.add(entry)
    return entry


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: value if isinstance(value, str | int | float | bool | None | list | dict) else str(value)
        for key, value in values.items()
    }

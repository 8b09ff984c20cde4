"""The audit log: every staff change to settings, users and ticket closures, with before/after."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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
        before=jsonable(before),
        after=jsonable(after),
    )
    session.add(entry)
    return entry


async def record_change(
    session: AsyncSession,
    actor: Scope | None,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str,
    object_label: str = "",
    client_id: uuid.UUID | None = None,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> AuditEntry | None:
    """Record a creation (``before`` None) whole, or a change as the fields it changed: none, no entry."""
    if before is not None:
        changed = changes(before, after)
        if not changed:
            return None
        before = {key: old for key, (old, _) in changed.items()}
        after = {key: new for key, (_, new) in changed.items()}
    return await record(
        session,
        actor,
        action,
        object_type=object_type,
        object_id=object_id,
        object_label=object_label,
        client_id=client_id,
        before=before,
        after=after,
    )


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for each field of two snapshots of one object whose value differs."""
    return {key: [before[key], after[key]] for key in after if before[key] != after[key]}


def jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: value if isinstance(value, str | int | float | bool | None | list | dict) else str(value)
        for key, value in values.items()
    }

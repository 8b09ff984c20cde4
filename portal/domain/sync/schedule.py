"""Which sync scopes are due: read by the scheduler tick, which enqueues them (deduplicated by job id)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.sync.engine import entity_enabled
from portal.domain.sync.models import SyncState
from portal.integrations.catalog import MANIFESTS

# A run whose page job vanished (a worker killed between commit and enqueue) is picked up again.
STALLED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class DueScope:
    connection_id: uuid.UUID
    client_link_id: uuid.UUID | None
    entity: str


def _is_due(state: SyncState | None, now: datetime) -> bool:
    if state is None or state.next_run_at is None:
        return True
    if state.run_id is not None:
        return state.updated_at <= now - STALLED_AFTER
    return state.next_run_at <= now


async def due_scopes(session: AsyncSession, now: datetime) -> list[DueScope]:
    connections = (
        await session.scalars(
            select(Connection)
            .where(Connection.status.in_([ConnectionStatus.CONNECTED.value, ConnectionStatus.ERROR.value]))
            .options(selectinload(Connection.client_links))
        )
    ).all()
    states = {
        (state.connection_id, state.client_link_id, state.entity): state
        for state in (await session.scalars(select(SyncState))).all()
    }
    due: list[DueScope] = []
    for connection in connections:
        manifest = MANIFESTS.get(connection.vendor)
        if manifest is None or manifest.missing_mappings(connection.mappings):
            continue
        for spec in manifest.entities:
            if not entity_enabled(connection, spec):
                continue
            link_ids = [link.id for link in connection.client_links if link.enabled] if spec.per_client else [None]
            for link_id in link_ids:
                if _is_due(states.get((connection.id, link_id, spec.name)), now):
                    due.append(DueScope(connection.id, link_id, spec.name))
    return due

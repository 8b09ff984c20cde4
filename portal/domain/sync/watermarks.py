"""The sync cursors of a connection, and moving one by hand (administrators, audited).

A watermark is the newest remote change time a completed run committed; the next run reads
from it (minus the entity's overlap). Clearing it makes the next run start from the entity's
first-sync window again; setting it earlier re-reads history, later skips it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.audit.service import record_change
from portal.domain.clients.models import Client
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.sync.models import RunOutcome, SyncRun, SyncState
from portal.domain.sync.visibility import visible_sync_rows


@dataclass(frozen=True)
class StateRow:
    state: SyncState
    link: ClientLink | None  # None: a connection-level scope
    client: Client | None


def _states() -> Select[SyncState, ClientLink | None, Client | None]:
    return (
        select(SyncState, ClientLink, Client)
        .outerjoin(ClientLink, ClientLink.id == SyncState.client_link_id)
        .outerjoin(Client, Client.id == ClientLink.client_id)
    )


async def list_sync_states(session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> list[StateRow]:
    rows = await session.execute(
        _states()
        .where(
            SyncState.connection_id == connection_id,
            visible_sync_rows(access, SyncState.client_link_id, ClientLink.client_id),
        )
        .order_by(SyncState.entity, Client.name.nulls_first(), ClientLink.remote_scope)
    )
    return [StateRow(state, link, client) for state, link, client in rows.all()]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def get_sync_state(session: AsyncSession, access: Scope, state_id: uuid.UUID, *, lock: bool = False) -> StateRow:
    statement = _states().where(
        SyncState.id == state_id, visible_sync_rows(access, SyncState.client_link_id, ClientLink.client_id)
    )
    found = (await session.execute(statement.with_for_update(of=SyncState) if lock else statement)).first()
    if found is None:
        raise NotFoundError("sync state")
    return StateRow(*found)


async def set_watermark(
    session: AsyncSession, access: Scope, state_id: uuid.UUID, new_value: datetime | None
) -> SyncState:
    """Move (or clear, with None) one scope's watermark; refused while a run of that scope is under way."""
    access.require_admin()
    row = await get_sync_state(session, access, state_id, lock=True)
    state, link, client = row.state, row.link, row.client
    if new_value is not None and new_value > utcnow():
        raise ValidationError({"watermark": "A watermark in the future would skip changes not made yet."})
    if state.run_id is not None:
        run = await session.get(SyncRun, state.run_id)
        if run is not None and run.outcome == RunOutcome.RUNNING.value:
            raise ValidationError({"watermark": "A run of this scope is under way: wait for it to finish."})
    connection_name = await session.scalar(select(Connection.name).where(Connection.id == state.connection_id))
    before = {"watermark": iso(state.watermark)}
    state.watermark = new_value
    label = " · ".join(part for part in (connection_name, state.entity, client.name if client else None) if part)
    await record_change(
        session,
        access,
        "sync.watermark_changed",
        object_type="sync_state",
        object_id=state.id,
        object_label=label,
        client_id=link.client_id if link else None,
        before=before,
        after={"watermark": iso(new_value)},
    )
    return state

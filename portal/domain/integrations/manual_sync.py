""" "Sync now" and "Re-sync this item": what may be asked for by hand, checked before it is queued.

The web layer queues the work (by job name, through :mod:`workers.queue`); these functions only
decide whether the request makes sense, so a button never queues a job the engine would skip.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.integrations.client_links import get_link
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.service import get_connection, manifest_of
from portal.domain.sync.health import get_run


@dataclass(frozen=True)
class ManualSync:
    connection_id: uuid.UUID
    link_id: uuid.UUID | None
    entity: str
    label: str  # "Cases of Globex (tenant-7)", for the notice


def _refuse(message: str) -> ValidationError:
    return ValidationError({"sync": message}, message=message)


def _check_runnable(connection: Connection, link: ClientLink | None) -> None:
    if connection.status == ConnectionStatus.DISABLED.value:
        raise _refuse("This connection is disabled: enable it first.")
    if connection.status == ConnectionStatus.NEEDS_REAUTH.value:
        raise _refuse("This connection needs signing in again (Connect) before it can sync.")
    if link is not None and not link.enabled:
        raise _refuse("This client link is disabled: enable it first.")
    missing = manifest_of(connection).missing_mappings(connection.mappings)
    if missing:
        raise _refuse("Set the mandatory mappings first: " + ", ".join(missing) + ".")


async def manual_sync(
    session: AsyncSession,
    access: Scope,
    entity: str,
    *,
    connection_id: uuid.UUID | None = None,
    link_id: uuid.UUID | None = None,
) -> ManualSync:
    """A per-client entity syncs per link (``link_id``), a connection-level one per connection."""
    access.require_admin()
    link: ClientLink | None = None
    if link_id is not None:
        link = await get_link(session, access, link_id)
        connection = link.connection
    elif connection_id is not None:
        connection = await get_connection(session, access, connection_id)
    else:
        raise ValueError("manual_sync needs a connection or a client link")
    try:
        spec = manifest_of(connection).entity(entity)
    except KeyError:
        raise _refuse(f"{connection.name} does not sync “{entity}”.") from None
    if spec.per_client != (link is not None):
        where = "per client link" if spec.per_client else "for the whole connection"
        raise _refuse(f"{spec.label} sync {where}.")
    _check_runnable(connection, link)
    label = (
        spec.label
        if link is None
        else f"{spec.label} of {link.client.name}" + (f" ({link.remote_scope})" if link.remote_scope else "")
    )
    return ManualSync(connection.id, link.id if link else None, spec.name, label)


@dataclass(frozen=True)
class ItemResync:
    connection_id: uuid.UUID
    link_id: uuid.UUID | None
    entity: str
    remote_id: str


async def item_resync(session: AsyncSession, access: Scope, run_id: uuid.UUID, remote_id: str) -> ItemResync:
    """Fetch and apply again one item a run could not apply (it must be one of the run's problems)."""
    access.require_admin()
    row = await get_run(session, access, run_id)
    if remote_id not in {str(problem.get("remote_id")) for problem in row.run.problems}:
        raise _refuse("That item is not among this run's problems.")
    _check_runnable(row.connection, row.link)
    return ItemResync(row.connection.id, row.link.id if row.link else None, row.run.entity, remote_id)

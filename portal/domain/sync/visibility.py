"""Which sync records a user may see: those of their clients' links, and connection-level ones only
for users who see every client (a connection-level record may concern any client)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, true
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.access import Scope


def visible_sync_rows(
    access: Scope, link_id: InstrumentedAttribute[uuid.UUID | None], link_client_id: InstrumentedAttribute[uuid.UUID]
) -> ColumnElement[bool]:
    """The WHERE clause for rows with a ``client_link_id`` (``link_id``), outer-joined to their link."""
    if access.all_clients:
        return true()
    return and_(link_id.is_not(None), access.clients(link_client_id))

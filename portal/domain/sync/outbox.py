"""The transactional outbox: socdesk's ticket changes on their way back to the source.

:func:`record_ticket_change` runs inside the transaction that changes the ticket, so the change
and the message to send it commit or vanish together. The relay (:mod:`portal.domain.sync.relay`)
delivers messages at least once; each carries a stable idempotency key, and what a delivery
produced remotely is linked to the local row so imports recognise it (echo suppression).

Changes made by the sync itself (an imported comment, a closure that came from the vendor) act
as :meth:`Scope.system` and never produce messages: that is what stops echo loops at the source.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.links.models import ExternalLink
from portal.domain.sync.links import attach
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.integrations.catalog import MANIFESTS

MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


async def record_ticket_change(
    session: AsyncSession,
    access: Scope,
    ticket_id: uuid.UUID,
    operation: str,
    payload: dict[str, Any],
    *,
    ticket_action_id: uuid.UUID | None = None,
) -> list[OutboxMessage]:
    """Queue ``operation`` for every connection the ticket is linked to that accepts it."""
    if access.user_id is None:
        return []  # the sync's own changes: sending them back would echo
    rows = (
        await session.execute(
            select(ExternalLink, Connection)
            .join(Connection, Connection.id == ExternalLink.connection_id)
            .where(ExternalLink.local_type == "ticket", ExternalLink.local_id == ticket_id)
        )
    ).all()
    messages = []
    for link, connection in rows:
        manifest = MANIFESTS.get(connection.vendor)
        if manifest is None or operation not in manifest.outbound or connection.status == ConnectionStatus.DISABLED:
            continue
        message = OutboxMessage(
            connection_id=connection.id,
            ticket_id=ticket_id,
            ticket_action_id=ticket_action_id,
            operation=operation,
            remote_type=link.remote_type,
            remote_id=link.remote_id,
            payload=payload,
            idempotency_key=uuid.uuid4(),
            next_attempt_at=utcnow(),
        )
        session.add(message)
        messages.append(message)
    return messages


def mark_delivered(
    session: AsyncSession, message: OutboxMessage, produced_remote_type: str | None, produced_remote_id: str | None
) -> ExternalLink | None:
    """Record a successful delivery, and link what it produced remotely to the local action."""
    message.status = OutboxStatus.DELIVERED.value
    message.delivered_at = utcnow()
    message.last_error = ""
    message.produced_remote_id = produced_remote_id
    if produced_remote_type and produced_remote_id and message.ticket_action_id is not None:
        return attach(
            session,
            connection_id=message.connection_id,
            remote_type=produced_remote_type,
            remote_id=produced_remote_id,
            local_type="ticket_action",
            local_id=message.ticket_action_id,
            origin="local",
        )
    return None


async def known_or_echo(
    session: AsyncSession, connection_id: uuid.UUID, remote_type: str, remote_id: str
) -> ExternalLink | None:
    """The link of a remote child object (a comment) if socdesk already knows it.

    Covers the outbox's crash window: socdesk wrote the comment remotely (with the message's
    idempotency key as the client-chosen id) but died before recording it. The next import
    meets that comment; it is recognised as ours, linked to the note it came from, and the
    pending message is marked delivered, instead of the comment being imported as new.
    Call it after :func:`portal.domain.sync.links.lock_remote` on the parent object.
    """
    link = await session.scalar(
        select(ExternalLink).where(
            ExternalLink.connection_id == connection_id,
            ExternalLink.remote_type == remote_type,
            ExternalLink.remote_id == remote_id,
        )
    )
    if link is not None:
        return link
    try:
        key = uuid.UUID(remote_id)
    except ValueError:
        return None
    message = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.connection_id == connection_id, OutboxMessage.idempotency_key == key)
        .with_for_update()
    )
    if message is None or message.ticket_action_id is None:
        return None
    return mark_delivered(session, message, remote_type, remote_id)

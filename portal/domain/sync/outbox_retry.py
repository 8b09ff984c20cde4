"""Sending a change that gave up once more, by hand (administrators, audited)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.audit.service import record
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.sync.health import visible_outbox
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.domain.tickets.models import Ticket


async def retry_outbox_message(session: AsyncSession, access: Scope, message_id: uuid.UUID) -> OutboxMessage:
    """Put a failed message back in line, due now, with a fresh set of attempts; the caller nudges the relay."""
    access.require_admin()
    message = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id, visible_outbox(access)).with_for_update()
    )
    if message is None:
        raise NotFoundError("outbox message")
    if message.status != OutboxStatus.FAILED.value:
        raise ValidationError({"message": "Only a message that gave up can be retried."})
    message.status = OutboxStatus.PENDING.value
    message.next_attempt_at = utcnow()
    message.attempts = 0  # the relay gives up after MAX_ATTEMPTS: a retry gets them all again
    client_id = await session.scalar(select(Ticket.client_id).where(Ticket.id == message.ticket_id))
    await record(
        session,
        access,
        "outbox.retry",
        object_type="outbox_message",
        object_id=message.id,
        object_label=f"{message.operation} {message.remote_type} {message.remote_id}",
        client_id=client_id,
        before={"status": OutboxStatus.FAILED.value, "last_error": message.last_error},
        after={"status": OutboxStatus.PENDING.value},
    )
    return message

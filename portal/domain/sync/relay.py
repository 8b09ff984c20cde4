"""The outbox relay: delivers socdesk's changes to the source, at least once, in order per ticket.

Each message is claimed with ``FOR UPDATE SKIP LOCKED`` (two relays never deliver the same one)
and only when no older message of the same ticket is still pending (a closure never overtakes
the note written before it). The delivery and its bookkeeping share one transaction; if the
process dies after the remote write, the message is delivered again with the same idempotency
key, which the vendor client turns into a no-op (client-chosen ids) — see
:func:`portal.domain.sync.outbox.known_or_echo` for the import side of the same window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import aliased

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.sync.connector import SyncRuntime, open_connection
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.domain.sync.outbox import MAX_ATTEMPTS, backoff, mark_delivered
from portal.integrations.base import OutboundChange
from portal.integrations.errors import Conflict, RateLimited, VendorError

log = logging.getLogger(__name__)


@dataclass
class RelayResult:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _claim_next() -> Select[OutboxMessage]:
    earlier = aliased(OutboxMessage)
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= utcnow(),
            ~exists().where(
                and_(
                    earlier.ticket_id == OutboxMessage.ticket_id,
                    earlier.status == OutboxStatus.PENDING.value,
                    earlier.created_at < OutboxMessage.created_at,
                )
            ),
        )
        .order_by(OutboxMessage.created_at)
        .limit(1)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )


async def relay(runtime: SyncRuntime, *, limit: int = 100) -> RelayResult:
    """Deliver up to ``limit`` due messages, one transaction each."""
    result = RelayResult()
    for _ in range(limit):
        async with session_scope(runtime.sessionmaker) as session:
            message = await session.scalar(_claim_next())
            if message is None:
                break
            connection = await session.get(Connection, message.connection_id)
            assert connection is not None  # the foreign key cascades
            if connection.status in (ConnectionStatus.DISABLED, ConnectionStatus.NEEDS_REAUTH):
                message.next_attempt_at = utcnow() + backoff(3)
                message.last_error = f"Waiting: the connection is {connection.status.replace('_', ' ')}."
                result.retrying += 1
                continue
            change = OutboundChange(
                id=message.id,
                operation=message.operation,
                remote_type=message.remote_type,
                remote_id=message.remote_id,
                payload=dict(message.payload),
                idempotency_key=message.idempotency_key,
                ticket_id=message.ticket_id,
            )
            message.attempts += 1
            try:
                opened = open_connection(runtime, connection)
                delivered = await opened.vendor.deliver(opened.api, session, change)
            except VendorError as exc:
                retryable = exc.retryable or isinstance(exc, Conflict)
                wait = timedelta(seconds=exc.retry_after) if isinstance(exc, RateLimited) else timedelta(0)
                _failed_attempt(message, exc.describe(), retryable, wait, result)
                continue
            except Exception as exc:  # a bug in a vendor's delivery must not wedge the queue behind it
                log.exception("outbox delivery %s failed unexpectedly", message.id)
                _failed_attempt(message, f"Internal error: {type(exc).__name__}", True, timedelta(0), result)
                continue
            mark_delivered(session, message, delivered.produced_remote_type, delivered.produced_remote_id)
            result.delivered += 1
    return result


def _failed_attempt(
    message: OutboxMessage, error: str, retryable: bool, at_least: timedelta, result: RelayResult
) -> None:
    message.last_error = error[:2000]
    result.errors.append(message.last_error)
    if retryable and message.attempts < MAX_ATTEMPTS:
        message.next_attempt_at = utcnow() + max(backoff(message.attempts), at_least)
        result.retrying += 1
    else:
        message.status = OutboxStatus.FAILED.value  # shown on sync health, with a retry button
        result.failed += 1

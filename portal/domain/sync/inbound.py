"""Webhook ingress: verify, log, deduplicate, and hand the work to the queue — nothing slower.

The vendor's own code reads its payload (signature scheme, delivery id, which objects changed);
this module records every delivery in the inbound event log, drops redeliveries by delivery
id, and maps each changed object to the client link it belongs to. The caller enqueues the
returned work after the commit and acknowledges.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.connector import connection_view
from portal.domain.sync.models import InboundEvent
from portal.integrations import redaction
from portal.integrations.catalog import MANIFESTS
from portal.integrations.registry import vendor as vendor_for

MAX_BODY_BYTES = 256 * 1024
EXCERPT_BYTES = 2000


@dataclass(frozen=True)
class ItemWork:
    connection_id: uuid.UUID
    client_link_id: uuid.UUID | None
    entity: str
    remote_id: str


@dataclass(frozen=True)
class Receipt:
    status_code: int
    outcome: str
    detail: str = ""
    work: list[ItemWork] = field(default_factory=list)


async def _log(
    session: AsyncSession,
    connection_id: uuid.UUID,
    delivery_id: str,
    *,
    signature: str,
    size: int,
    outcome: str,
    detail: str,
    body: bytes,
) -> bool:
    """Record the delivery; False when this delivery id was already recorded (a redelivery)."""
    inserted = await session.scalar(
        insert(InboundEvent)
        .values(
            id=uuid.uuid4(),
            connection_id=connection_id,
            received_at=utcnow(),
            delivery_id=delivery_id[:200],
            signature=signature,
            size=size,
            outcome=outcome,
            detail=detail[:2000],
            body_excerpt=redaction.body(body[:EXCERPT_BYTES]),
        )
        .on_conflict_do_nothing()
        .returning(InboundEvent.id)
    )
    return inserted is not None


async def receive(
    session: AsyncSession, box: SecretBox, connection_id: uuid.UUID, headers: Mapping[str, str], body: bytes
) -> Receipt:
    connection = await session.get(Connection, connection_id)
    manifest = MANIFESTS.get(connection.vendor) if connection else None
    if connection is None or manifest is None or not manifest.webhook:
        return Receipt(404, "unknown", "No webhook is configured at this address.")
    size = len(body)

    async def reject(code: int, signature: str, detail: str) -> Receipt:
        await _log(
            session, connection_id, f"rejected:{uuid.uuid4()}", signature=signature, size=size,
            outcome="rejected", detail=detail, body=body,
        )  # fmt: skip
        return Receipt(code, "rejected", detail)

    if size > MAX_BODY_BYTES:
        return await reject(413, "unchecked", f"Body of {size} bytes is over the {MAX_BODY_BYTES}-byte limit.")
    view = connection_view(connection, box)
    if not view.secrets.get("webhook_secret"):
        return await reject(401, "missing", "No webhook secret is set for this connection; rotate one first.")
    reading = vendor_for(connection.vendor).read_webhook(view, headers, body, utcnow())
    if not reading.valid:
        return await reject(401, "invalid", reading.detail or "Signature check failed.")
    if connection.status == ConnectionStatus.DISABLED:
        await _log(
            session, connection_id, reading.delivery_id, signature="valid", size=size,
            outcome="ignored", detail="The connection is disabled.", body=body,
        )  # fmt: skip
        return Receipt(202, "ignored", "The connection is disabled.")

    links = (
        await session.scalars(
            select(ClientLink).where(ClientLink.connection_id == connection_id, ClientLink.enabled.is_(True))
        )
    ).all()
    by_scope = {link.remote_scope: link for link in links}
    work: list[ItemWork] = []
    unmatched: list[str] = []
    for item in reading.work:
        spec = manifest.entity(item.entity)
        link = by_scope.get(item.remote_scope) if spec.per_client else None
        if spec.per_client and link is None:
            unmatched.append(item.remote_scope or "(none)")
            continue
        work.append(ItemWork(connection_id, link.id if link else None, item.entity, item.remote_id))
    outcome = "queued" if work else "ignored"
    detail = reading.detail or (f"No client is linked to {', '.join(sorted(set(unmatched)))}." if unmatched else "")
    first = await _log(
        session, connection_id, reading.delivery_id, signature="valid", size=size,
        outcome=outcome, detail=detail, body=body,
    )  # fmt: skip
    if not first:
        return Receipt(200, "duplicate", "This delivery was already received.")
    return Receipt(202, outcome, detail, work)

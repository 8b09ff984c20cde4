"""“Send to Sentinel”: a ticket raised in socdesk becomes an incident in its client's workspace.

The incident's name is chosen here (a new GUID), so the ticket is linked at once and in the same
transaction as the outbox message that creates the incident: notes written before the relay
runs wait behind it (messages go in order per ticket), a redelivery finds the incident already
there, and the next import of that incident updates this ticket instead of raising another.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.sync.links import attach
from portal.domain.sync.outbox import record_ticket_change
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Ticket, TicketSource
from portal.integrations.sentinel import mapping
from portal.integrations.sentinel.mapping import SentinelMappingError


async def sentinel_links(session: AsyncSession, client_id: uuid.UUID) -> list[tuple[ClientLink, Connection]]:
    """The client's enabled links to Sentinel connections that are not disabled."""
    rows = await session.execute(
        select(ClientLink, Connection)
        .join(Connection, Connection.id == ClientLink.connection_id)
        .where(
            ClientLink.client_id == client_id,
            ClientLink.enabled.is_(True),
            Connection.vendor == "sentinel",
            Connection.status != ConnectionStatus.DISABLED.value,
        )
        .order_by(Connection.name, ClientLink.remote_scope)
    )
    return [(link, connection) for link, connection in rows.all()]


def severity_of(ticket: Ticket, mappings: dict[str, object]) -> str:
    severities = mapping.severities_for(ticket.priority_id, mappings)
    return severities[0] if severities else "Medium"


async def send_to_sentinel(session: AsyncSession, access: Scope, ticket_id: uuid.UUID, link_id: uuid.UUID) -> str:
    """Queue the creation of an incident for a manual ticket; returns the incident's remote id."""
    detail = await tickets.get_ticket(session, access, ticket_id)  # 404 for a ticket this user may not see
    access.require_ticket_work()
    ticket = detail.ticket
    # Two people pressing the button at once must not raise two incidents: the second waits, then sees the link.
    await session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())
    if await tickets.external_link(session, ticket.id) is not None:
        raise ValidationError({"sentinel": "This ticket is already linked to a remote record."})
    if ticket.source not in (TicketSource.MANUAL.value, TicketSource.API.value):
        raise ValidationError({"sentinel": "Only tickets raised in socdesk can be sent to Sentinel."})
    choices = {link.id: (link, connection) for link, connection in await sentinel_links(session, ticket.client_id)}
    if link_id not in choices:
        raise ValidationError({"sentinel": "Choose one of this client's Sentinel workspaces."})
    link, connection = choices[link_id]
    try:
        workspace = mapping.workspace_of(link.settings)
    except SentinelMappingError as exc:
        raise ValidationError({"sentinel": str(exc)}) from None
    remote_id = workspace.incident_remote_id(str(uuid.uuid4()))
    attach(
        session,
        connection_id=connection.id,
        remote_type=mapping.INCIDENT,
        remote_id=remote_id,
        local_type="ticket",
        local_id=ticket.id,
        origin="local",
    )
    await session.flush()
    messages = await record_ticket_change(
        session,
        access,
        ticket.id,
        "create",
        {
            "title": ticket.summary,
            "description": f"Raised in socdesk as ticket {ticket.number}.\n\n{ticket.details}".strip(),
            "severity": severity_of(ticket, dict(connection.mappings)),
            "ticket": ticket.number,
        },
    )
    if not messages:
        raise ValidationError({"sentinel": "The Sentinel connection does not accept new incidents right now."})
    return remote_id

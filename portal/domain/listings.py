"""Change-ordered, cursor-paged lists of the record (for the API and, later, exports).

Each list is scoped to the caller's clients and walks rows oldest-change first, so
``updated_since`` plus the cursor gives a consumer every change exactly once per pass.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.access import Scope
from portal.domain.assets.models import Asset
from portal.domain.clients.models import Client, Site
from portal.domain.pagination import Page, keyset_page
from portal.domain.tickets.models import Status, Ticket, TicketAction
from portal.domain.tickets.queue import QueueFilters, filter_conditions


async def page_clients(
    session: AsyncSession,
    access: Scope,
    *,
    updated_since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Client]:
    statement = select(Client).where(access.clients(Client.id))
    if updated_since:
        statement = statement.where(Client.updated_at >= updated_since)
    return await keyset_page(session, statement, Client, limit=limit, cursor=cursor)


async def page_sites(
    session: AsyncSession,
    access: Scope,
    *,
    client_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Site]:
    statement = select(Site).where(access.clients(Site.client_id))
    if client_id:
        statement = statement.where(Site.client_id == client_id)
    if updated_since:
        statement = statement.where(Site.updated_at >= updated_since)
    return await keyset_page(session, statement, Site, limit=limit, cursor=cursor)


async def page_assets(
    session: AsyncSession,
    access: Scope,
    *,
    client_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    status: str | None = None,
    updated_since: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Asset]:
    statement = select(Asset).where(access.clients(Asset.client_id)).options(selectinload(Asset.asset_type))
    if client_id:
        statement = statement.where(Asset.client_id == client_id)
    if site_id:
        statement = statement.where(Asset.site_id == site_id)
    if status:
        statement = statement.where(Asset.status == status)
    if updated_since:
        statement = statement.where(Asset.updated_at >= updated_since)
    return await keyset_page(session, statement, Asset, limit=limit, cursor=cursor)


TICKET_LOADS = (
    selectinload(Ticket.ticket_type),
    selectinload(Ticket.priority),
    selectinload(Ticket.status),
    selectinload(Ticket.agent),
)


async def page_tickets(
    session: AsyncSession, access: Scope, filters: QueueFilters, *, limit: int = 100, cursor: str | None = None
) -> Page[Ticket]:
    """The queue's filters (one definition of what each means), in change order."""
    statement = (
        select(Ticket)
        .join(Status, Status.id == Ticket.status_id)
        .where(*filter_conditions(filters, access))
        .options(*TICKET_LOADS)
    )
    return await keyset_page(session, statement, Ticket, limit=limit, cursor=cursor)


async def page_actions(
    session: AsyncSession, ticket: Ticket, *, limit: int = 100, cursor: str | None = None
) -> Page[TicketAction]:
    """A ticket's actions; the caller has already loaded ``ticket`` through its scoped service."""
    statement = (
        select(TicketAction).where(TicketAction.ticket_id == ticket.id).options(selectinload(TicketAction.author))
    )
    return await keyset_page(session, statement, TicketAction, limit=limit, cursor=cursor)

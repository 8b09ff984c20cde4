"""Helpers shared by the settings tests (domain and web): scopes, clients, tickets, audit entries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.assets.models import Asset, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.tickets.models import Priority, Status, Ticket, TicketType


def scope_of(user: User, role: Role | None = None) -> Scope:
    """The scope of a user made by ``make_user`` (all clients), without touching its detached links."""
    return Scope(
        user_id=user.id, role=role or Role(user.role), all_clients=True, client_ids=frozenset(), label=user.email
    )


async def make_client(sessionmaker: async_sessionmaker[AsyncSession], name: str | None = None) -> Client:
    async with session_scope(sessionmaker) as session:
        client = Client(name=name or f"Client {uuid.uuid4().hex[:6]}")
        client.sites = [Site(name="Main", is_main=True)]
        session.add(client)
    return client


async def make_ticket(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    priority_name: str = "P3 - Medium",
    status_name: str = "New",
    type_name: str = "Alert",
) -> Ticket:
    async with session_scope(sessionmaker) as session:
        client = Client(name=f"Ticket client {uuid.uuid4().hex[:6]}")
        site = Site(name="Main", is_main=True)
        client.sites = [site]
        session.add(client)
        await session.flush()
        ticket = Ticket(
            client_id=client.id,
            site_id=site.id,
            ticket_type_id=await session.scalar(select(TicketType.id).where(TicketType.name == type_name)),
            priority_id=await session.scalar(select(Priority.id).where(Priority.name == priority_name)),
            status_id=await session.scalar(select(Status.id).where(Status.name == status_name)),
            summary="Suspicious sign-in",
        )
        session.add(ticket)
    return ticket


async def make_asset(sessionmaker: async_sessionmaker[AsyncSession], type_name: str = "Laptop") -> Asset:
    async with session_scope(sessionmaker) as session:
        client = Client(name=f"Asset client {uuid.uuid4().hex[:6]}")
        site = Site(name="Main", is_main=True)
        client.sites = [site]
        session.add(client)
        await session.flush()
        asset = Asset(
            client_id=client.id,
            site_id=site.id,
            asset_type_id=await session.scalar(select(AssetType.id).where(AssetType.name == type_name)),
            name="LT-001",
        )
        session.add(asset)
    return asset


async def audit_entries(sessionmaker: async_sessionmaker[AsyncSession], action: str | None = None) -> list[AuditEntry]:
    async with sessionmaker() as session:
        query = select(AuditEntry).order_by(AuditEntry.created_at)
        if action:
            query = query.where(AuditEntry.action == action)
        return list((await session.scalars(query)).all())


async def by_name(sessionmaker: async_sessionmaker[AsyncSession], model: Any, name: str) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(select(model).where(model.name == name))

"""Data the ticket tests share: two clients with sites and assets, scopes, and fast ticket inserts.

(No tests in here; the name keeps it beside the ticket tests it serves.)
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.assets.models import Asset, AssetType
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import Connection
from portal.domain.links.models import ExternalLink
from portal.domain.tickets.models import ActionKind, Priority, Status, Ticket, TicketAction, TicketSource, TicketType

_sequence = itertools.count()


@dataclass
class World:
    acme: Client
    acme_main: Site
    acme_branch: Site
    acme_asset: Asset
    globex: Client
    globex_main: Site
    globex_asset: Asset
    types: dict[str, TicketType]
    priorities: dict[int, Priority]  # by rank
    statuses: dict[str, Status]  # by name


async def build_world(session: AsyncSession) -> World:
    """Two clients (Acme with two sites, Globex with one), an asset each, and the reference data."""
    asset_type = (await session.scalars(select(AssetType).limit(1))).one()
    clients = []
    for name in ("Acme Corp", "Globex Ltd"):
        client = Client(name=name, reference=name[:4].upper())
        session.add(client)
        await session.flush()
        main = Site(client_id=client.id, name="Head office", is_main=True)
        session.add(main)
        await session.flush()
        asset = Asset(client_id=client.id, site_id=main.id, asset_type_id=asset_type.id, name=f"{name[:4]}-WS001")
        session.add(asset)
        clients.append((client, main, asset))
    branch = Site(client_id=clients[0][0].id, name="Branch", is_main=False)
    session.add(branch)
    await session.flush()
    return World(
        acme=clients[0][0],
        acme_main=clients[0][1],
        acme_branch=branch,
        acme_asset=clients[0][2],
        globex=clients[1][0],
        globex_main=clients[1][1],
        globex_asset=clients[1][2],
        types={t.name: t for t in (await session.scalars(select(TicketType))).all()},
        priorities={p.rank: p for p in (await session.scalars(select(Priority))).all()},
        statuses={s.name: s for s in (await session.scalars(select(Status))).all()},
    )


async def limit_to(session: AsyncSession, user: User, *clients: Client) -> User:
    """Make ``user`` see only ``clients``."""
    stored = await session.get(User, user.id)
    assert stored is not None
    stored.all_clients = False
    session.add_all(UserClient(user_id=user.id, client_id=client.id) for client in clients)
    await session.flush()
    return stored


def scope_of(user: User, *clients: Client) -> Scope:
    """The scope ``user`` gets; limited to ``clients`` when any are given."""
    return Scope(
        user_id=user.id,
        role=Role(user.role),
        all_clients=not clients,
        client_ids=frozenset(client.id for client in clients),
        label=user.email,
    )


async def insert_ticket(
    session: AsyncSession,
    world: World,
    client: Client | None = None,
    *,
    summary: str | None = None,
    details: str = "",
    status: str = "New",
    priority: int = 3,
    type_name: str = "Alert",
    agent: User | None = None,
    asset: Asset | None = None,
    source: TicketSource = TicketSource.MANUAL,
    updated_at: datetime | None = None,
    opened_at: datetime | None = None,
    **extra: Any,
) -> Ticket:
    """A ticket written straight to the table (fast, and with any timestamps a test needs)."""
    client = client or world.acme
    site = world.acme_main if client.id == world.acme.id else world.globex_main
    chosen_status = world.statuses[status]
    moment = updated_at or (utcnow() - timedelta(minutes=next(_sequence)))
    ticket = Ticket(
        client_id=client.id,
        site_id=site.id,
        asset_id=asset.id if asset else None,
        ticket_type_id=world.types[type_name].id,
        priority_id=world.priorities[priority].id,
        status_id=chosen_status.id,
        agent_id=agent.id if agent else None,
        summary=summary or f"Ticket {uuid.uuid4().hex[:8]}",
        details=details,
        source=source.value,
        opened_at=opened_at or moment,
        closed_at=moment if chosen_status.is_closed else None,
        created_at=moment,
        updated_at=moment,
        **extra,
    )
    session.add(ticket)
    await session.flush()
    session.add(TicketAction(ticket_id=ticket.id, kind=ActionKind.CREATED.value, created_at=moment))
    await session.flush()
    return ticket


async def link_ticket(session: AsyncSession, ticket: Ticket, remote_id: str = "INC-42") -> ExternalLink:
    connection = Connection(vendor="acme", name=f"Linked {uuid.uuid4().hex[:8]}")
    session.add(connection)
    await session.flush()
    link = ExternalLink(
        connection_id=connection.id,
        local_type="ticket",
        local_id=ticket.id,
        remote_type="incident",
        remote_id=remote_id,
        remote_url=f"https://portal.example/incidents/{remote_id}",
    )
    session.add(link)
    await session.flush()
    return link

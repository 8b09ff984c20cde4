"""What a page of remote records needs from socdesk, each read once per page with one query.

A page apply asks these instead of querying per item: the reference lists (priorities,
statuses, ticket types: small, read whole), the staff who may work tickets with the clients
they see, and the clients, sites and assets the page's records name, each a set-based read
of exactly the ids asked for. Answers are kept for the page, so asking twice costs nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.assets.models import Asset
from portal.domain.clients.models import Client, Site
from portal.domain.tickets.models import Priority, Status, TicketType


@dataclass(frozen=True)
class Agent:
    """Someone who may be given a ticket: an active analyst or administrator."""

    id: uuid.UUID
    email: str
    display_name: str
    all_clients: bool
    client_ids: frozenset[uuid.UUID]

    def works(self, client_id: uuid.UUID) -> bool:
        return self.all_clients or client_id in self.client_ids


class PageLookups:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._priorities: list[Priority] | None = None
        self._statuses: dict[uuid.UUID, Status] | None = None
        self._types: dict[uuid.UUID, TicketType] | None = None
        self._agents: list[Agent] | None = None
        self._main_sites: dict[uuid.UUID, uuid.UUID | None] = {}
        self._no_client: set[uuid.UUID] = set()
        self._site_clients: dict[uuid.UUID, uuid.UUID | None] = {}
        self._asset_clients: dict[uuid.UUID, uuid.UUID | None] = {}

    # -- reference lists -----------------------------------------------------------------------

    async def priorities(self) -> list[Priority]:
        """Most urgent first."""
        if self._priorities is None:
            self._priorities = list((await self.session.scalars(select(Priority).order_by(Priority.rank))).all())
        return self._priorities

    async def priority(self, priority_id: uuid.UUID | None) -> Priority | None:
        return next((p for p in await self.priorities() if p.id == priority_id), None)

    async def statuses(self) -> dict[uuid.UUID, Status]:
        if self._statuses is None:
            rows = (await self.session.scalars(select(Status).order_by(Status.rank, Status.name))).all()
            self._statuses = {status.id: status for status in rows}
        return self._statuses

    async def default_closed_status(self) -> Status | None:
        """What a closure uses when none is chosen: the first resolved closed status ("Resolved")."""
        closed = [status for status in (await self.statuses()).values() if status.is_closed]
        return min(closed, key=lambda s: (not s.is_resolved, s.rank, s.name), default=None)

    async def first_open_status(self) -> Status | None:
        return next((status for status in (await self.statuses()).values() if not status.is_closed), None)

    async def ticket_types(self) -> dict[uuid.UUID, TicketType]:
        if self._types is None:
            self._types = {t.id: t for t in (await self.session.scalars(select(TicketType))).all()}
        return self._types

    # -- staff ---------------------------------------------------------------------------------

    async def agents(self) -> list[Agent]:
        """Every active analyst and administrator with the clients they see, by name."""
        if self._agents is None:
            scoped = (
                select(UserClient.user_id, func.array_agg(UserClient.client_id).label("clients"))
                .group_by(UserClient.user_id)
                .subquery()
            )
            rows = await self.session.execute(
                select(User.id, User.email, User.display_name, User.all_clients, scoped.c.clients)
                .outerjoin(scoped, scoped.c.user_id == User.id)
                .where(User.is_active.is_(True), User.role.in_((Role.ANALYST.value, Role.ADMIN.value)))
                .order_by(User.display_name, User.email)
            )
            self._agents = [
                Agent(row.id, row.email, row.display_name, row.all_clients, frozenset(row.clients or ()))
                for row in rows
            ]
        return self._agents

    async def agents_of(self, client_id: uuid.UUID) -> list[Agent]:
        return [agent for agent in await self.agents() if agent.works(client_id)]

    async def agent(self, agent_id: uuid.UUID | None) -> Agent | None:
        return next((agent for agent in await self.agents() if agent.id == agent_id), None)

    # -- clients, sites, assets ----------------------------------------------------------------

    async def main_sites(self, client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
        """Each existing client's main site (None: it has none); clients that do not exist are absent."""
        asked = set(client_ids)
        wanted = asked - set(self._main_sites) - self._no_client
        if wanted:
            rows = await self.session.execute(
                select(Client.id, Site.id.label("site_id"))
                .outerjoin(Site, (Site.client_id == Client.id) & Site.is_main.is_(True))
                .where(Client.id.in_(wanted))
            )
            self._main_sites.update({row.id: row.site_id for row in rows})
            self._no_client |= wanted - set(self._main_sites)
        return {client_id: self._main_sites[client_id] for client_id in asked if client_id in self._main_sites}

    async def site_clients(self, site_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
        """The client of each site (None: no such site)."""
        return await self._owners(self._site_clients, Site.id, Site.client_id, site_ids)

    async def asset_clients(self, asset_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
        """The client of each asset (None: no such asset)."""
        return await self._owners(self._asset_clients, Asset.id, Asset.client_id, asset_ids)

    async def _owners(
        self,
        cache: dict[uuid.UUID, uuid.UUID | None],
        key: InstrumentedAttribute[uuid.UUID],
        owner: InstrumentedAttribute[uuid.UUID],
        ids: Iterable[uuid.UUID],
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        asked = set(ids)
        wanted = asked - set(cache)
        if wanted:
            found = {row[0]: row[1] for row in await self.session.execute(select(key, owner).where(key.in_(wanted)))}
            cache.update({item: found.get(item) for item in wanted})
        return {item: cache[item] for item in asked}

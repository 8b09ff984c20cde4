"""Where a SentinelOne record lands: which client and site, through the connection's client links.

A link's remote side is an account or a site (its ``kind``). A site link is the most specific
and wins; with the account matching method an account link catches the rest of its account.
What no link covers goes to the connection's default site, marked as unmapped, so a threat of
a site nobody mapped yet still becomes a ticket (flagged) instead of being dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.clients.models import Site
from portal.domain.integrations.models import ClientLink
from portal.integrations.base import ConnectionView


@dataclass(frozen=True)
class Destination:
    client_id: uuid.UUID
    site_id: uuid.UUID | None  # None: the client's main site
    mapped: bool  # False: the default site, because no link covers the record
    enabled: bool = True
    link_id: uuid.UUID | None = None


def link_kind(settings: Mapping[str, Any]) -> str:
    return "site" if settings.get("kind") == "site" else "account"


def matching_method(mappings: Mapping[str, Any]) -> str:
    return "site" if mappings.get("matching_method") == "site" else "account"


@dataclass(frozen=True)
class Router:
    method: str
    by_site: Mapping[str, Destination]
    by_account: Mapping[str, Destination]
    default: Destination | None

    def route(self, site_id: str | None, account_id: str | None) -> Destination | None:
        if site_id and site_id in self.by_site:
            return self.by_site[site_id]
        if self.method == "account" and account_id and account_id in self.by_account:
            return self.by_account[account_id]
        return self.default

    def covers(self, kind: str, remote_id: str) -> bool:
        return remote_id in (self.by_site if kind == "site" else self.by_account)


async def default_destination(session: AsyncSession, mappings: Mapping[str, Any]) -> Destination | None:
    try:
        site_id = uuid.UUID(str(mappings.get("default_site") or ""))
    except ValueError:
        return None
    client_id = await session.scalar(select(Site.client_id).where(Site.id == site_id))
    return Destination(client_id=client_id, site_id=site_id, mapped=False) if client_id else None


async def load_router(session: AsyncSession, connection: ConnectionView) -> Router:
    links = (
        await session.scalars(
            select(ClientLink).where(ClientLink.connection_id == connection.id).order_by(ClientLink.created_at)
        )
    ).all()
    by_site: dict[str, Destination] = {}
    by_account: dict[str, Destination] = {}
    for link in links:
        if not link.remote_scope:
            continue
        table = by_site if link_kind(link.settings) == "site" else by_account
        # The first link of a remote id wins; an enabled one over a disabled one.
        if link.remote_scope in table and (table[link.remote_scope].enabled or not link.enabled):
            continue
        table[link.remote_scope] = Destination(link.client_id, link.site_id, True, link.enabled, link.id)
    return Router(
        method=matching_method(connection.mappings),
        by_site=by_site,
        by_account=by_account,
        default=await default_destination(session, connection.mappings),
    )

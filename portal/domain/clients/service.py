"""Clients (the MSP's customers) and their sites. No web code here.

Every read is limited to the caller's clients with ``access.clients(...)``; a client or site outside
them is reported exactly like a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.access import Scope
from portal.domain.assets.models import Asset, AssetStatus
from portal.domain.audit.service import record_change
from portal.domain.clients.models import Client, Site
from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError
from portal.domain.search import like_pattern
from portal.domain.tickets.models import Status, Ticket

MAIN_SITE_NAME = "Main"
MAX_NAME = 200
MAX_REFERENCE = 64
MAX_NOTES = 10_000
MAX_ADDRESS = 2_000


@dataclass(frozen=True)
class ClientSummary:
    client: Client
    site_count: int
    asset_count: int
    open_ticket_count: int


@dataclass(frozen=True)
class SiteSummary:
    site: Site
    asset_count: int


@dataclass(frozen=True)
class ClientCounts:
    sites: int
    assets: int
    active_assets: int
    open_tickets: int


def require_asset_work(access: Scope) -> None:
    """Analysts and admins look after sites and assets; viewers only read."""
    if not access.can_work_tickets:
        raise ForbiddenError("Viewers can look at clients, sites and assets but not change them.")


# A client id: a value for one client, or the outer query's column in a correlated count.
ClientRef = uuid.UUID | ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]


def _open_tickets(client_id: ClientRef) -> Select[int]:
    return (
        select(func.count())
        .select_from(Ticket)
        .join(Status, Status.id == Ticket.status_id)
        .where(Ticket.client_id == client_id, Status.is_closed.is_(False))
    )


def _site_count(client_id: ClientRef) -> Select[int]:
    return select(func.count()).select_from(Site).where(Site.client_id == client_id)


def _asset_count(client_id: ClientRef) -> Select[int]:
    return select(func.count()).select_from(Asset).where(Asset.client_id == client_id)


# ---------------------------------------------------------------- clients


async def list_clients(session: AsyncSession, access: Scope, q: str | None = None) -> list[ClientSummary]:
    """The caller's clients sorted by name, with site, asset and open-ticket counts; ``q`` searches name/reference."""
    stmt = select(
        Client,
        _site_count(Client.id).scalar_subquery(),
        _asset_count(Client.id).scalar_subquery(),
        _open_tickets(Client.id).scalar_subquery(),
    ).where(access.clients(Client.id))
    if q and q.strip():
        pattern = like_pattern(q.strip())
        stmt = stmt.where(or_(Client.name.ilike(pattern), Client.reference.ilike(pattern)))
    rows = await session.execute(stmt.order_by(func.lower(Client.name), Client.id))
    return [ClientSummary(client, sites, assets, tickets) for client, sites, assets, tickets in rows]


async def client_choices(session: AsyncSession, access: Scope, *, active_only: bool = False) -> list[Client]:
    """The caller's clients sorted by name, without counts: for pickers and filters."""
    stmt = select(Client).where(access.clients(Client.id))
    if active_only:
        stmt = stmt.where(Client.is_active.is_(True))
    return list((await session.scalars(stmt.order_by(func.lower(Client.name), Client.id))).all())


async def get_client(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> Client:
    client = await session.scalar(select(Client).where(Client.id == client_id, access.clients(Client.id)))
    if client is None:
        raise NotFoundError("client")
    return client


async def client_counts(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> ClientCounts:
    client = await get_client(session, access, client_id)
    sites = await session.scalar(_site_count(client.id))
    row = (
        await session.execute(
            select(func.count(), func.count().filter(Asset.status == AssetStatus.ACTIVE.value)).where(
                Asset.client_id == client.id
            )
        )
    ).one()
    open_tickets = await session.scalar(_open_tickets(client.id))
    return ClientCounts(sites=sites or 0, assets=row[0], active_assets=row[1], open_tickets=open_tickets or 0)


def _client_snapshot(client: Client) -> dict[str, Any]:
    return {"name": client.name, "reference": client.reference, "notes": client.notes, "is_active": client.is_active}


async def _check_client_fields(
    session: AsyncSession, name: str, reference: str | None, notes: str, *, existing: uuid.UUID | None = None
) -> None:
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter the client's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    else:
        # Case-insensitive, so "Acme" and "ACME" cannot become two clients people confuse.
        clash = select(Client.id).where(func.lower(Client.name) == name.lower())
        if existing is not None:
            clash = clash.where(Client.id != existing)
        if await session.scalar(clash.limit(1)) is not None:
            errors["name"] = "A client with this name already exists."
    if reference is not None and len(reference) > MAX_REFERENCE:
        errors["reference"] = f"Use at most {MAX_REFERENCE} characters."
    if len(notes) > MAX_NOTES:
        errors["notes"] = f"Use at most {MAX_NOTES} characters."
    if errors:
        raise ValidationError(errors)


async def _flush_unique(session: AsyncSession, field: str, message: str) -> None:
    """Flush in a savepoint: a unique index losing a race becomes a field error, and the transaction stays usable."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationError({field: message}) from exc


async def create_client(
    session: AsyncSession, access: Scope, name: str, reference: str | None = None, notes: str = ""
) -> Client:
    """A new client and its main site "Main", in the caller's transaction."""
    access.require_admin()
    name, reference, notes = name.strip(), (reference or "").strip() or None, notes.strip()
    await _check_client_fields(session, name, reference, notes)
    client = Client(name=name, reference=reference, notes=notes, is_active=True)
    session.add(client)
    await _flush_unique(session, "name", "A client with this name already exists.")
    session.add(Site(client_id=client.id, name=MAIN_SITE_NAME, is_main=True, address=""))
    await session.flush()
    await _audit_client(session, access, "client.create", client, None)
    return client


async def update_client(
    session: AsyncSession,
    access: Scope,
    client_id: uuid.UUID,
    *,
    name: str,
    reference: str | None,
    notes: str,
) -> Client:
    access.require_admin()
    client = await get_client(session, access, client_id)
    name, reference, notes = name.strip(), (reference or "").strip() or None, notes.strip()
    await _check_client_fields(session, name, reference, notes, existing=client.id)
    before = _client_snapshot(client)
    client.name, client.reference, client.notes = name, reference, notes
    await _flush_unique(session, "name", "A client with this name already exists.")
    await _audit_client(session, access, "client.update", client, before)
    return client


async def deactivate_client(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> Client:
    return await _set_client_active(session, access, client_id, active=False)


async def reactivate_client(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> Client:
    return await _set_client_active(session, access, client_id, active=True)


async def _set_client_active(session: AsyncSession, access: Scope, client_id: uuid.UUID, *, active: bool) -> Client:
    access.require_admin()
    client = await get_client(session, access, client_id)
    if client.is_active == active:
        return client
    before = _client_snapshot(client)
    client.is_active = active
    await session.flush()
    await _audit_client(session, access, "client.reactivate" if active else "client.deactivate", client, before)
    return client


async def _audit_client(
    session: AsyncSession, access: Scope, action: str, client: Client, before: dict[str, Any] | None
) -> None:
    await record_change(
        session,
        access,
        action,
        object_type="client",
        object_id=client.id,
        object_label=client.name,
        client_id=client.id,
        before=before,
        after=_client_snapshot(client),
    )


# ---------------------------------------------------------------- sites


async def list_sites(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> list[SiteSummary]:
    """The client's sites, main site first, then by name, with their asset counts."""
    client = await get_client(session, access, client_id)
    asset_count = select(func.count()).select_from(Asset).where(Asset.site_id == Site.id).scalar_subquery()
    rows = await session.execute(
        select(Site, asset_count)
        .where(Site.client_id == client.id)
        .order_by(Site.is_main.desc(), func.lower(Site.name), Site.id)
    )
    return [SiteSummary(site, count) for site, count in rows]


async def get_site(
    session: AsyncSession, access: Scope, site_id: uuid.UUID, *, client_id: uuid.UUID | None = None
) -> Site:
    """The site, if it is one of the caller's clients' (and of ``client_id``, when given)."""
    stmt = select(Site).where(Site.id == site_id, access.clients(Site.client_id))
    if client_id is not None:
        stmt = stmt.where(Site.client_id == client_id)
    site = await session.scalar(stmt)
    if site is None:
        raise NotFoundError("site")
    return site


async def get_main_site(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> Site:
    """Where a ticket or asset goes when nobody says which site."""
    site = await session.scalar(
        select(Site).where(Site.client_id == client_id, Site.is_main.is_(True), access.clients(Site.client_id))
    )
    if site is None:
        raise NotFoundError("site")
    return site


def _site_snapshot(site: Site) -> dict[str, Any]:
    return {"name": site.name, "address": site.address, "is_main": site.is_main}


async def _check_site_fields(
    session: AsyncSession, client_id: uuid.UUID, name: str, address: str, *, existing: uuid.UUID | None = None
) -> None:
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter the site's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    else:
        clash = select(Site.id).where(Site.client_id == client_id, func.lower(Site.name) == name.lower())
        if existing is not None:
            clash = clash.where(Site.id != existing)
        if await session.scalar(clash.limit(1)) is not None:
            errors["name"] = "This client already has a site with this name."
    if len(address) > MAX_ADDRESS:
        errors["address"] = f"Use at most {MAX_ADDRESS} characters."
    if errors:
        raise ValidationError(errors)


async def _audit_site(
    session: AsyncSession,
    access: Scope,
    action: str,
    site: Site,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    await record_change(
        session,
        access,
        action,
        object_type="site",
        object_id=site.id,
        object_label=site.name,
        client_id=site.client_id,
        before=before,
        after=after,
    )


async def add_site(session: AsyncSession, access: Scope, client_id: uuid.UUID, name: str, address: str = "") -> Site:
    require_asset_work(access)
    client = await get_client(session, access, client_id)
    name, address = name.strip(), address.strip()
    await _check_site_fields(session, client.id, name, address)
    site = Site(client_id=client.id, name=name, address=address, is_main=False)
    session.add(site)
    await _flush_unique(session, "name", "This client already has a site with this name.")
    await _audit_site(session, access, "site.create", site, None, _site_snapshot(site))
    return site


async def update_site(
    session: AsyncSession,
    access: Scope,
    client_id: uuid.UUID,
    site_id: uuid.UUID,
    *,
    name: str,
    address: str,
) -> Site:
    require_asset_work(access)
    site = await get_site(session, access, site_id, client_id=client_id)
    name, address = name.strip(), address.strip()
    await _check_site_fields(session, site.client_id, name, address, existing=site.id)
    before = _site_snapshot(site)
    site.name, site.address = name, address
    await _flush_unique(session, "name", "This client already has a site with this name.")
    await _audit_site(session, access, "site.update", site, before, _site_snapshot(site))
    return site


async def set_main_site(session: AsyncSession, access: Scope, client_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    """Make ``site_id`` the client's one main site."""
    require_asset_work(access)
    site = await get_site(session, access, site_id, client_id=client_id)
    if site.is_main:
        return site
    # Two people switching the main site at once would otherwise both clear and set, and one would
    # hit the one-main-site index; the client row lock makes them take turns.
    await session.execute(select(Client.id).where(Client.id == site.client_id).with_for_update())
    current = await session.scalar(select(Site).where(Site.client_id == site.client_id, Site.is_main.is_(True)))
    if current is not None:
        current.is_main = False
        # The partial unique index allows one main site per client at any moment: clear first.
        await session.flush()
    site.is_main = True
    await session.flush()
    await _audit_site(
        session,
        access,
        "site.set_main",
        site,
        {"main_site": current.name if current else None},
        {"main_site": site.name},
    )
    return site

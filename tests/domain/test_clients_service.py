"""Clients and sites services on the real database: scoping, counts, uniqueness, main sites, audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.assets.models import Asset, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.clients.service import (
    add_site,
    client_choices,
    client_counts,
    create_client,
    deactivate_client,
    get_client,
    get_main_site,
    get_site,
    list_clients,
    list_sites,
    reactivate_client,
    set_main_site,
    update_client,
    update_site,
)
from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError
from portal.domain.tickets.models import Priority, Status, Ticket, TicketType


async def _scope(make_user, role: Role, clients: tuple[uuid.UUID, ...] | None = None) -> Scope:
    """A scope whose user exists (audit entries point at it); ``clients`` None means every client."""
    user = await make_user(role)
    return Scope(
        user_id=user.id,
        role=role,
        all_clients=clients is None,
        client_ids=frozenset(clients or ()),
        label=user.email,
    )


@pytest.fixture
async def admin(make_user) -> Scope:
    return await _scope(make_user, Role.ADMIN)


async def _new_client(sessionmaker, admin: Scope, name: str, reference: str | None = None) -> Client:
    async with session_scope(sessionmaker) as session:
        return await create_client(session, admin, name, reference, "")


async def _add_ticket(session: AsyncSession, client_id: uuid.UUID, status_name: str) -> None:
    site = await session.scalar(select(Site).where(Site.client_id == client_id, Site.is_main.is_(True)))
    assert site is not None
    ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name).limit(1))
    priority = await session.scalar(select(Priority).order_by(Priority.rank).limit(1))
    status = await session.scalar(select(Status).where(Status.name == status_name))
    assert ticket_type is not None
    assert priority is not None
    assert status is not None
    session.add(
        Ticket(
            client_id=client_id,
            site_id=site.id,
            ticket_type_id=ticket_type.id,
            priority_id=priority.id,
            status_id=status.id,
            summary=f"{status_name} ticket",
        )
    )
    await session.flush()


async def _add_asset(session: AsyncSession, client_id: uuid.UUID, name: str) -> None:
    site = await session.scalar(select(Site).where(Site.client_id == client_id, Site.is_main.is_(True)))
    asset_type = await session.scalar(select(AssetType).limit(1))
    assert site is not None
    assert asset_type is not None
    session.add(Asset(client_id=client_id, site_id=site.id, asset_type_id=asset_type.id, name=name))
    await session.flush()


async def test_create_client_creates_its_main_site_and_an_audit_entry(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    client = await _new_client(sessionmaker, admin, "  Acme Corp  ", " ACME-01 ")

    async with sessionmaker() as session:
        stored = await session.get(Client, client.id)
        assert stored is not None
        assert (stored.name, stored.reference, stored.is_active) == ("Acme Corp", "ACME-01", True)
        sites = (await session.scalars(select(Site).where(Site.client_id == client.id))).all()
        assert [(site.name, site.is_main) for site in sites] == [("Main", True)]
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "client.create"))
        assert entry is not None
        assert entry.actor_id == admin.user_id
        assert entry.object_id == str(client.id)
        assert entry.client_id == client.id
        assert entry.before is None
        assert entry.after == {"name": "Acme Corp", "reference": "ACME-01", "notes": "", "is_active": True}


async def test_client_names_are_unique_regardless_of_case_and_nothing_is_written(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    await _new_client(sessionmaker, admin, "Acme Corp")
    async with sessionmaker() as session, session.begin():
        with pytest.raises(ValidationError) as refused:
            await create_client(session, admin, "ACME corp", None, "")
        assert set(refused.value.fields) == {"name"}
        with pytest.raises(ValidationError) as empty:
            await create_client(session, admin, "   ", "x" * 65, "")
        assert set(empty.value.fields) == {"name", "reference"}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Client)) == 1
        assert await session.scalar(select(func.count()).select_from(Site)) == 1
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


async def test_only_admins_create_update_or_deactivate_clients(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    client = await _new_client(sessionmaker, admin, "Acme")
    analyst = await _scope(make_user, Role.ANALYST)
    async with sessionmaker() as session, session.begin():
        with pytest.raises(ForbiddenError):
            await create_client(session, analyst, "Other", None, "")
        with pytest.raises(ForbiddenError):
            await update_client(session, analyst, client.id, name="Renamed", reference=None, notes="")
        with pytest.raises(ForbiddenError):
            await deactivate_client(session, analyst, client.id)


async def test_update_client_records_before_and_after_and_keeps_names_unique(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    client = await _new_client(sessionmaker, admin, "Acme", "A1")
    await _new_client(sessionmaker, admin, "Globex")
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as clash:
            await update_client(session, admin, client.id, name="globex", reference="A1", notes="")
        assert "already exists" in clash.value.fields["name"]
        # The same name in another case is the client itself, not a clash.
        await update_client(session, admin, client.id, name="ACME Ltd", reference="A1", notes="VIP customer")

    async with sessionmaker() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "client.update"))
        assert entry is not None
        assert entry.before == {"name": "Acme", "notes": ""}
        assert entry.after == {"name": "ACME Ltd", "notes": "VIP customer"}
        stored = await session.get(Client, client.id)
        assert stored is not None
        assert stored.name == "ACME Ltd"


async def test_deactivate_and_reactivate_are_audited(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    client = await _new_client(sessionmaker, admin, "Acme")
    async with session_scope(sessionmaker) as session:
        assert (await deactivate_client(session, admin, client.id)).is_active is False
        assert (await reactivate_client(session, admin, client.id)).is_active is True
    async with sessionmaker() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.object_type == "client").order_by(AuditEntry.created_at)
            )
        ).all()
        assert [(e.action, e.before, e.after) for e in entries[1:]] == [
            ("client.deactivate", {"is_active": True}, {"is_active": False}),
            ("client.reactivate", {"is_active": False}, {"is_active": True}),
        ]


async def test_list_clients_counts_and_scoping(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    acme = await _new_client(sessionmaker, admin, "Acme", "AC-1")
    globex = await _new_client(sessionmaker, admin, "globex", "GX_2")
    async with session_scope(sessionmaker) as session:
        await add_site(session, admin, acme.id, "Branch", "")
        await _add_asset(session, acme.id, "laptop-1")
        await _add_asset(session, acme.id, "laptop-2")
        await _add_asset(session, globex.id, "server-1")
        await _add_ticket(session, acme.id, "New")
        await _add_ticket(session, acme.id, "In Progress")
        await _add_ticket(session, acme.id, "Resolved")
        await _add_ticket(session, acme.id, "Closed")
        await _add_ticket(session, globex.id, "New")

    async with sessionmaker() as session:
        rows = await list_clients(session, admin)
        assert [(r.client.name, r.site_count, r.asset_count, r.open_ticket_count) for r in rows] == [
            ("Acme", 2, 2, 2),
            ("globex", 1, 1, 1),
        ]
        assert [r.client.name for r in await list_clients(session, admin, "gx_")] == ["globex"]
        assert [r.client.name for r in await list_clients(session, admin, "ACM")] == ["Acme"]
        # "_" is a literal underscore, not a wildcard: "AC-1" does not match "c_1".
        assert await list_clients(session, admin, "c_1") == []

        limited = await _scope(make_user, Role.ANALYST, (acme.id,))
        assert [r.client.name for r in await list_clients(session, limited)] == ["Acme"]
        assert await list_clients(session, limited, "globex") == []
        assert [c.name for c in await client_choices(session, limited)] == ["Acme"]
        counts = await client_counts(session, limited, acme.id)
        assert (counts.sites, counts.assets, counts.active_assets, counts.open_tickets) == (2, 2, 2, 2)
        nobody = await _scope(make_user, Role.VIEWER, ())
        assert await list_clients(session, nobody) == []
        for call in (
            get_client(session, limited, globex.id),
            client_counts(session, limited, globex.id),
            list_sites(session, limited, globex.id),
            get_main_site(session, limited, globex.id),
            get_client(session, admin, uuid.uuid4()),
        ):
            with pytest.raises(NotFoundError):
                await call


async def test_sites_are_unique_per_client_and_viewers_cannot_change_them(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    acme = await _new_client(sessionmaker, admin, "Acme")
    globex = await _new_client(sessionmaker, admin, "Globex")
    analyst = await _scope(make_user, Role.ANALYST, (acme.id,))
    viewer = await _scope(make_user, Role.VIEWER)
    async with session_scope(sessionmaker) as session:
        branch = await add_site(session, analyst, acme.id, " Branch ", " 1 High St ")
        assert (branch.name, branch.address, branch.is_main) == ("Branch", "1 High St", False)
        await add_site(session, admin, globex.id, "Branch", "")  # another client may use the name
        with pytest.raises(ValidationError) as clash:
            await add_site(session, analyst, acme.id, "branch", "")
        assert set(clash.value.fields) == {"name"}
        with pytest.raises(ValidationError):
            await update_site(session, analyst, acme.id, branch.id, name="MAIN", address="")
        with pytest.raises(ForbiddenError):
            await add_site(session, viewer, acme.id, "Viewer site", "")
        with pytest.raises(NotFoundError):
            await add_site(session, analyst, globex.id, "Elsewhere", "")
        renamed = await update_site(session, analyst, acme.id, branch.id, name="Branch office", address="2 High St")
        assert renamed.name == "Branch office"

    async with sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.object_type == "site").order_by(AuditEntry.created_at)
            )
        ).all()
        assert actions == ["site.create", "site.create", "site.update"]
        update = await session.scalar(select(AuditEntry).where(AuditEntry.action == "site.update"))
        assert update is not None
        assert update.before == {"name": "Branch", "address": "1 High St"}
        assert update.after == {"name": "Branch office", "address": "2 High St"}


async def test_set_main_site_keeps_exactly_one_main_site(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    acme = await _new_client(sessionmaker, admin, "Acme")
    globex = await _new_client(sessionmaker, admin, "Globex")
    async with session_scope(sessionmaker) as session:
        branch = await add_site(session, admin, acme.id, "Branch", "")
        warehouse = await add_site(session, admin, acme.id, "Warehouse", "")
        await set_main_site(session, admin, acme.id, branch.id)
        await set_main_site(session, admin, acme.id, warehouse.id)
        await set_main_site(session, admin, acme.id, warehouse.id)  # already main: no change
        globex_main = await get_main_site(session, admin, globex.id)

    async with sessionmaker() as session:
        main = (await session.scalars(select(Site.name).where(Site.client_id == acme.id, Site.is_main))).all()
        assert main == ["Warehouse"]
        assert [s.site.name for s in await list_sites(session, admin, acme.id)] == ["Warehouse", "Branch", "Main"]
        moves = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "site.set_main").order_by(AuditEntry.created_at)
            )
        ).all()
        assert [(m.before, m.after) for m in moves] == [
            ({"main_site": "Main"}, {"main_site": "Branch"}),
            ({"main_site": "Branch"}, {"main_site": "Warehouse"}),
        ]

    limited = await _scope(make_user, Role.ANALYST, (acme.id,))
    async with session_scope(sessionmaker) as session:
        # Another client's site, through the right client id or through this client's: not found.
        with pytest.raises(NotFoundError):
            await set_main_site(session, limited, globex.id, globex_main.id)
        with pytest.raises(NotFoundError):
            await set_main_site(session, admin, acme.id, globex_main.id)
        with pytest.raises(NotFoundError):
            await get_site(session, limited, globex_main.id)

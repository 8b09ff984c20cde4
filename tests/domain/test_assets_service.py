"""Asset services on the real database: scoping, search, paging, site rules, status, audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.assets.models import Asset, AssetType
from portal.domain.assets.service import (
    create_asset,
    get_asset,
    list_asset_types,
    list_assets,
    set_asset_status,
    update_asset,
)
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client
from portal.domain.clients.service import add_site, create_client, get_main_site
from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError


async def _scope(make_user, role: Role, clients: tuple[uuid.UUID, ...] | None = None) -> Scope:
    user = await make_user(role)
    return Scope(
        user_id=user.id, role=role, all_clients=clients is None, client_ids=frozenset(clients or ()), label=user.email
    )


@pytest.fixture
async def admin(make_user) -> Scope:
    return await _scope(make_user, Role.ADMIN)


async def _type_id(session: AsyncSession, name: str) -> uuid.UUID:
    type_id = await session.scalar(select(AssetType.id).where(AssetType.name == name))
    assert type_id is not None
    return type_id


async def _two_clients(sessionmaker, admin: Scope) -> tuple[Client, Client]:
    async with session_scope(sessionmaker) as session:
        acme = await create_client(session, admin, "Acme")
        globex = await create_client(session, admin, "Globex")
        laptop = await _type_id(session, "Laptop")
        server = await _type_id(session, "Server")
        await create_asset(
            session,
            admin,
            acme.id,
            site_id=None,
            asset_type_id=laptop,
            name="ACME-LT-01",
            hostname="lt01.acme.local",
            serial="SN-ACME-1",
            device_uuid="aaaa-1111",
        )
        await create_asset(
            session, admin, acme.id, site_id=None, asset_type_id=server, name="ACME-SRV", status="inactive"
        )
        await create_asset(
            session,
            admin,
            globex.id,
            site_id=None,
            asset_type_id=laptop,
            name="GLOBEX-LT-01",
            hostname="lt01.globex.local",
            serial="SN-GLOBEX-1",
        )
    return acme, globex


async def test_create_asset_defaults_to_the_main_site_and_is_audited(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    acme, _ = await _two_clients(sessionmaker, admin)
    async with sessionmaker() as session:
        main = await get_main_site(session, admin, acme.id)
        asset = await session.scalar(select(Asset).where(Asset.name == "ACME-LT-01"))
        assert asset is not None
        assert (asset.client_id, asset.site_id, asset.status) == (acme.id, main.id, "active")
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "asset.create", AuditEntry.object_id == str(asset.id))
        )
        assert entry is not None
        assert entry.client_id == acme.id
        assert entry.after is not None
        assert entry.after["hostname"] == "lt01.acme.local"


async def test_a_site_of_another_client_is_refused_and_nothing_is_written(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    acme, globex = await _two_clients(sessionmaker, admin)
    async with sessionmaker() as session, session.begin():
        globex_main = await get_main_site(session, admin, globex.id)
        laptop = await _type_id(session, "Laptop")
        with pytest.raises(ValidationError) as refused:
            await create_asset(session, admin, acme.id, site_id=globex_main.id, asset_type_id=laptop, name="X")
        assert set(refused.value.fields) == {"site_id"}
        with pytest.raises(ValidationError) as several:
            await create_asset(
                session, admin, acme.id, site_id=uuid.uuid4(), asset_type_id=None, name=" ", status="broken"
            )
        assert set(several.value.fields) == {"site_id", "asset_type_id", "name", "status"}
        asset = await session.scalar(select(Asset).where(Asset.name == "ACME-LT-01"))
        assert asset is not None
        with pytest.raises(ValidationError) as moved:
            await update_asset(
                session, admin, asset.id, site_id=globex_main.id, asset_type_id=laptop, name="ACME-LT-01"
            )
        assert set(moved.value.fields) == {"site_id"}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Asset)) == 3
        stored = await session.scalar(select(Asset).where(Asset.name == "ACME-LT-01"))
        assert stored is not None
        assert stored.site_id != globex_main.id


async def test_list_and_search_never_show_another_clients_assets(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    acme, globex = await _two_clients(sessionmaker, admin)
    limited = await _scope(make_user, Role.VIEWER, (acme.id,))
    async with sessionmaker() as session:
        everything = await list_assets(session, admin)
        assert [a.name for a in everything.assets] == ["ACME-LT-01", "ACME-SRV", "GLOBEX-LT-01"]
        assert everything.next_cursor is None

        def names(page) -> list[str]:
            return [a.name for a in page.assets]

        assert names(await list_assets(session, limited)) == ["ACME-LT-01", "ACME-SRV"]
        for q in ("globex", "lt01", "SN-", "local"):
            assert "GLOBEX-LT-01" not in names(await list_assets(session, limited, q=q))
        assert names(await list_assets(session, limited, q="lt01.ACME")) == ["ACME-LT-01"]
        assert names(await list_assets(session, limited, q="sn-acme")) == ["ACME-LT-01"]
        assert names(await list_assets(session, limited, q="aaaa-11")) == ["ACME-LT-01"]
        assert names(await list_assets(session, limited, status="inactive")) == ["ACME-SRV"]
        server = await _type_id(session, "Server")
        assert names(await list_assets(session, limited, asset_type_id=server)) == ["ACME-SRV"]
        assert names(await list_assets(session, admin, client_id=globex.id)) == ["GLOBEX-LT-01"]
        main = await get_main_site(session, admin, acme.id)
        assert names(await list_assets(session, admin, site_id=main.id)) == ["ACME-LT-01", "ACME-SRV"]
        with pytest.raises(NotFoundError):
            await list_assets(session, limited, client_id=globex.id)

        globex_asset = await session.scalar(select(Asset).where(Asset.name == "GLOBEX-LT-01"))
        assert globex_asset is not None
        with pytest.raises(NotFoundError):
            await get_asset(session, limited, globex_asset.id)
        loaded = await get_asset(session, admin, globex_asset.id)
        assert (loaded.site.client.name, loaded.asset_type.group.name) == ("Globex", "Endpoints")


async def test_list_assets_pages_by_name_without_gaps_or_repeats(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope
) -> None:
    async with session_scope(sessionmaker) as session:
        client = await create_client(session, admin, "Big")
        site = await get_main_site(session, admin, client.id)
        laptop = await _type_id(session, "Laptop")
        # Repeated names: the id breaks the tie, so no row is skipped or shown twice.
        session.add_all(
            Asset(client_id=client.id, site_id=site.id, asset_type_id=laptop, name=f"host-{i // 2:03d}")
            for i in range(205)
        )
    async with sessionmaker() as session:
        seen: list[uuid.UUID] = []
        sizes = []
        cursor: str | None = None
        while True:
            page = await list_assets(session, admin, after=cursor)
            sizes.append(len(page.assets))
            seen.extend(asset.id for asset in page.assets)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sizes == [100, 100, 5]
        assert len(set(seen)) == 205
        # A cursor that was not made by the service starts from the first page.
        assert len((await list_assets(session, admin, after="not-a-cursor")).assets) == 100


async def test_update_status_and_viewer_rules(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, make_user
) -> None:
    acme, globex = await _two_clients(sessionmaker, admin)
    analyst = await _scope(make_user, Role.ANALYST, (acme.id,))
    viewer = await _scope(make_user, Role.VIEWER)
    async with session_scope(sessionmaker) as session:
        asset = await session.scalar(select(Asset).where(Asset.name == "ACME-LT-01"))
        other = await session.scalar(select(Asset).where(Asset.name == "GLOBEX-LT-01"))
        assert asset is not None
        assert other is not None
        original_site, original_type = asset.site_id, asset.asset_type_id
        branch = await add_site(session, analyst, acme.id, "Branch", "")
        server = await _type_id(session, "Server")
        updated = await update_asset(
            session,
            analyst,
            asset.id,
            site_id=branch.id,
            asset_type_id=server,
            name="ACME-SRV-02",
            hostname="",
            serial=" SN-2 ",
            device_uuid=None,
        )
        assert (updated.site.name, updated.asset_type.name, updated.hostname, updated.serial) == (
            "Branch",
            "Server",
            None,
            "SN-2",
        )
        assert (await set_asset_status(session, analyst, asset.id, "inactive")).status == "inactive"
        with pytest.raises(ValidationError):
            await set_asset_status(session, analyst, asset.id, "retired")
        with pytest.raises(NotFoundError):
            await set_asset_status(session, analyst, other.id, "inactive")
        with pytest.raises(NotFoundError):
            await create_asset(session, analyst, globex.id, site_id=None, asset_type_id=server, name="X")
        with pytest.raises(ForbiddenError):
            await set_asset_status(session, viewer, asset.id, "active")
        with pytest.raises(ForbiddenError):
            await create_asset(session, viewer, acme.id, site_id=None, asset_type_id=server, name="X")

    async with sessionmaker() as session:
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_id == str(asset.id), AuditEntry.action != "asset.create")
                .order_by(AuditEntry.created_at)
            )
        ).all()
        assert [(e.action, e.before, e.after) for e in entries] == [
            (
                "asset.update",
                {
                    "name": "ACME-LT-01",
                    "site_id": str(original_site),
                    "asset_type_id": str(original_type),
                    "hostname": "lt01.acme.local",
                    "serial": "SN-ACME-1",
                    "device_uuid": "aaaa-1111",
                },
                {
                    "name": "ACME-SRV-02",
                    "site_id": str(branch.id),
                    "asset_type_id": str(server),
                    "hostname": None,
                    "serial": "SN-2",
                    "device_uuid": None,
                },
            ),
            ("asset.status", {"status": "active"}, {"status": "inactive"}),
        ]


async def test_asset_types_come_grouped_for_pickers(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        types = await list_asset_types(session)
    assert [(t.group.name, t.name) for t in types][:3] == [
        ("Cloud", "Cloud Workload"),
        ("Cloud", "Other"),
        ("Endpoints", "Laptop"),
    ]

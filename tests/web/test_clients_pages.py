"""Client pages through the real app: list and search, create, tabs, sites, scoping (404) and roles (403)."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.assets.models import Asset, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.clients.service import add_site, create_client
from tests.conftest import csrf_token, sign_in

HTMX = {"HX-Request": "true"}


async def _limit_to(sessionmaker: async_sessionmaker[AsyncSession], user: User, *client_ids: uuid.UUID) -> None:
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.all_clients = False
        session.add_all(UserClient(user_id=user.id, client_id=client_id) for client_id in client_ids)


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], make_user) -> tuple[Client, Client]:
    """Acme (with a branch site and an asset) and Globex, created by an admin."""
    admin = await make_user(Role.ADMIN)
    scope = Scope(user_id=admin.id, role=Role.ADMIN, all_clients=True, client_ids=frozenset(), label=admin.email)
    async with session_scope(sessionmaker) as session:
        acme = await create_client(session, scope, "Acme", "AC-1")
        globex = await create_client(session, scope, "Globex", "GX-2")
        await add_site(session, scope, acme.id, "Branch", "1 High St")
        await add_site(session, scope, globex.id, "Globex HQ", "")
        site = await session.scalar(select(Site).where(Site.client_id == acme.id, Site.is_main.is_(True)))
        asset_type = await session.scalar(select(AssetType).limit(1))
        assert site is not None
        assert asset_type is not None
        session.add(Asset(client_id=acme.id, site_id=site.id, asset_type_id=asset_type.id, name="acme-laptop"))
    return acme, globex


async def _signed_in(client: AsyncTestClient[Litestar], make_user, role: Role) -> User:
    user: User = await make_user(role)
    assert (await sign_in(client, user.email)).status_code == 303
    return user


async def _count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_admin_lists_searches_and_creates_a_client(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.ADMIN)

    listing = await client.get("/clients")
    assert listing.status_code == 200
    assert 'href="/clients/new"' in listing.text
    assert listing.text.count('data-testid="client-row"') == 2
    assert 'aria-current="page">Clients' in listing.text

    fragment = await client.get("/clients?q=gx-", headers=HTMX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="client-list">')
    assert "<html" not in fragment.text
    assert "Globex" in fragment.text
    assert "Acme" not in fragment.text

    token = await csrf_token(client, "/clients/new")
    created = await client.post(
        "/clients",
        data={"name": "Initech", "reference": "IN-3", "notes": "Printers", "_csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 303
    new_id = created.headers["location"].rsplit("/", 1)[1]
    overview = await client.get(f"/clients/{new_id}")
    assert overview.status_code == 200
    assert "Initech" in overview.text
    assert "created, with its main site" in overview.text  # the flash
    sites = await client.get(f"/clients/{new_id}/sites")
    assert re.search(r'data-site="Main">\s*<td><span class="site-name">Main</span> <span class="badge', sites.text)


async def test_a_duplicate_client_name_is_refused_beside_the_field(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.ADMIN)
    clients_before, audit_before = await _count(sessionmaker, Client), await _count(sessionmaker, AuditEntry)

    token = await csrf_token(client, "/clients/new")
    refused = await client.post("/clients", data={"name": "ACME", "reference": "", "notes": "", "_csrf_token": token})
    assert refused.status_code == 422
    assert 'id="client-name-error"' in refused.text
    assert "A client with this name already exists." in refused.text
    assert 'value="ACME"' in refused.text  # what was typed is kept
    assert await _count(sessionmaker, Client) == clients_before
    assert await _count(sessionmaker, AuditEntry) == audit_before


async def test_admin_edits_a_client_and_the_change_is_audited(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, _ = await _seed(sessionmaker, make_user)
    admin = await _signed_in(client, make_user, Role.ADMIN)
    token = await csrf_token(client, f"/clients/{acme.id}")
    saved = await client.post(
        f"/clients/{acme.id}",
        data={"name": "Acme Ltd", "reference": "AC-1", "notes": "", "_csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    refused = await client.post(
        f"/clients/{acme.id}", data={"name": "globex", "reference": "", "notes": "", "_csrf_token": token}
    )
    assert refused.status_code == 422
    assert "A client with this name already exists." in refused.text
    async with sessionmaker() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "client.update"))
        assert entry is not None
        assert (entry.actor_id, entry.before, entry.after) == (admin.id, {"name": "Acme"}, {"name": "Acme Ltd"})
        stored = await session.get(Client, acme.id)
        assert stored is not None
        assert stored.name == "Acme Ltd"

    deactivated = await client.post(f"/clients/{acme.id}/deactivate", data={"_csrf_token": token})
    assert deactivated.status_code == 200
    assert "is now inactive" in deactivated.text
    assert 'data-testid="client-reactivate"' in deactivated.text


@pytest.mark.parametrize(
    ("tab", "marker"),
    [
        ("", 'id="client-details-title"'),
        ("/sites", 'data-testid="site-table"'),
        ("/assets", 'data-testid="asset-table"'),
        ("/tickets", 'hx-get="/tickets?client={id}&amp;status=all"'),
        ("/integrations", "No integrations connected yet"),
    ],
)
async def test_each_tab_is_a_real_page_with_its_tab_marked(
    client: AsyncTestClient[Litestar], make_user, sessionmaker, tab: str, marker: str
) -> None:
    acme, _ = await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.VIEWER)
    response = await client.get(f"/clients/{acme.id}{tab}")
    assert response.status_code == 200
    assert marker.format(id=acme.id) in response.text
    current = re.findall(r'<a href="([^"]+)" aria-current="page" data-tab=', response.text)
    assert current == [f"/clients/{acme.id}{tab}"]
    # Viewers read but get no forms to change anything.
    assert "Add a site" not in response.text
    assert "Edit client" not in response.text


async def test_sites_are_added_renamed_and_made_main_through_htmx(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, _ = await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.ANALYST)
    token = await csrf_token(client, f"/clients/{acme.id}/sites")

    added = await client.post(
        f"/clients/{acme.id}/sites",
        data={"name": "Warehouse", "address": "Dock 4", "_csrf_token": token},
        headers=HTMX,
    )
    assert added.status_code == 200
    assert added.text.lstrip().startswith('<section id="client-sites"')
    assert 'data-site="Warehouse"' in added.text
    assert "Site “Warehouse” added." in added.text

    clash = await client.post(
        f"/clients/{acme.id}/sites", data={"name": "warehouse", "address": "", "_csrf_token": token}, headers=HTMX
    )
    assert clash.status_code == 422
    assert 'id="new-site-name-error"' in clash.text

    async with sessionmaker() as session:
        warehouse = await session.scalar(select(Site).where(Site.name == "Warehouse"))
        assert warehouse is not None
    made_main = await client.post(
        f"/clients/{acme.id}/sites/{warehouse.id}/main", data={"_csrf_token": token}, follow_redirects=False
    )
    assert made_main.status_code == 303
    assert made_main.headers["location"] == f"/clients/{acme.id}/sites"
    renamed = await client.post(
        f"/clients/{acme.id}/sites/{warehouse.id}",
        data={"name": "Main", "address": "", "_csrf_token": token},
    )
    assert renamed.status_code == 422
    assert f'id="site-{warehouse.id}-name-error"' in renamed.text
    async with sessionmaker() as session:
        mains = (await session.scalars(select(Site.name).where(Site.client_id == acme.id, Site.is_main))).all()
        assert mains == ["Warehouse"]


async def test_another_clients_pages_and_forms_are_not_found(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, globex = await _seed(sessionmaker, make_user)
    user = await make_user(Role.ANALYST)
    await _limit_to(sessionmaker, user, acme.id)
    await sign_in(client, user.email)

    listing = await client.get("/clients")
    assert "Acme" in listing.text
    assert "Globex" not in listing.text
    assert "Globex" not in (await client.get("/clients?q=globex", headers=HTMX)).text
    assert (await client.get(f"/clients/{acme.id}")).status_code == 200

    async with sessionmaker() as session:
        globex_site = await session.scalar(select(Site).where(Site.client_id == globex.id, Site.is_main.is_(True)))
        acme_site = await session.scalar(select(Site).where(Site.client_id == acme.id, Site.is_main.is_(False)))
        assert globex_site is not None
        assert acme_site is not None
    for path in ("", "/sites", "/assets", "/tickets", "/integrations"):
        response = await client.get(f"/clients/{globex.id}{path}")
        assert response.status_code == 404, path
        assert "Globex" not in response.text

    token = await csrf_token(client, f"/clients/{acme.id}/sites")
    sites_before = await _count(sessionmaker, Site)
    posts = {
        f"/clients/{globex.id}/sites": {"name": "Sneaky", "address": ""},
        f"/clients/{globex.id}/sites/{globex_site.id}": {"name": "Sneaky", "address": ""},
        f"/clients/{globex.id}/sites/{globex_site.id}/main": {},
        # Another client's site under one's own client: still not found.
        f"/clients/{acme.id}/sites/{globex_site.id}/main": {},
        f"/clients/{acme.id}/sites/{globex_site.id}": {"name": "Sneaky", "address": ""},
        f"/clients/{globex.id}/assets": {"name": "Sneaky", "site_id": str(globex_site.id)},
        f"/clients/{uuid.uuid4()}/sites": {"name": "Nowhere", "address": ""},
    }
    for path, data in posts.items():
        response = await client.post(path, data={**data, "_csrf_token": token})
        assert response.status_code == 404, path
    assert await _count(sessionmaker, Site) == sites_before
    async with sessionmaker() as session:
        assert await session.scalar(select(Site.is_main).where(Site.id == globex_site.id)) is True


async def test_viewers_get_403_on_every_change(client: AsyncTestClient[Litestar], make_user, sessionmaker) -> None:
    acme, _ = await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.VIEWER)
    async with sessionmaker() as session:
        branch = await session.scalar(select(Site).where(Site.name == "Branch"))
        asset_type = await session.scalar(select(AssetType.id).limit(1))
        assert branch is not None
    token = await csrf_token(client, f"/clients/{acme.id}")
    audit_before = await _count(sessionmaker, AuditEntry)
    posts = {
        "/clients": {"name": "New one"},
        f"/clients/{acme.id}": {"name": "Renamed"},
        f"/clients/{acme.id}/deactivate": {},
        f"/clients/{acme.id}/sites": {"name": "Viewer site"},
        f"/clients/{acme.id}/sites/{branch.id}": {"name": "Renamed"},
        f"/clients/{acme.id}/sites/{branch.id}/main": {},
        f"/clients/{acme.id}/assets": {
            "name": "Viewer asset",
            "site_id": str(branch.id),
            "asset_type_id": str(asset_type),
        },
    }
    for path, data in posts.items():
        response = await client.post(path, data={**data, "_csrf_token": token})
        assert response.status_code == 403, path
    assert (await client.get("/clients/new")).status_code == 403
    assert await _count(sessionmaker, AuditEntry) == audit_before
    async with sessionmaker() as session:
        assert await session.scalar(select(Site.is_main).where(Site.id == branch.id)) is False


async def test_analysts_add_an_asset_on_the_assets_tab(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, globex = await _seed(sessionmaker, make_user)
    await _signed_in(client, make_user, Role.ANALYST)
    async with sessionmaker() as session:
        globex_site = await session.scalar(select(Site.id).where(Site.client_id == globex.id))
        branch = await session.scalar(select(Site.id).where(Site.name == "Branch"))
        laptop = await session.scalar(select(AssetType.id).where(AssetType.name == "Laptop"))
    token = await csrf_token(client, f"/clients/{acme.id}/assets")
    form = {"name": "ACME-LT-09", "asset_type_id": str(laptop), "hostname": "lt09", "status": "active"}

    refused = await client.post(
        f"/clients/{acme.id}/assets", data={**form, "site_id": str(globex_site), "_csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Choose one of this client&#39;s sites." in refused.text
    assert 'value="ACME-LT-09"' in refused.text
    assert await _count(sessionmaker, Asset) == 1

    added = await client.post(
        f"/clients/{acme.id}/assets",
        data={**form, "site_id": str(branch), "_csrf_token": token},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert added.headers["location"].startswith("/assets/")
    tab = await client.get(f"/clients/{acme.id}/assets?q=lt09")
    assert tab.text.count('data-testid="asset-row"') == 1
    assert "ACME-LT-09" in tab.text
    fragment = await client.get(f"/clients/{acme.id}/assets?site={branch}", headers=HTMX)
    assert fragment.text.lstrip().startswith('<div id="asset-list">')
    assert "ACME-LT-09" in fragment.text
    assert "acme-laptop" not in fragment.text  # on the main site, filtered out

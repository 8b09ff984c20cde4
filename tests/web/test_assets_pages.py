"""Asset pages through the real app: the filtered list, one asset, edit and status, scoping and roles."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.assets.models import Asset, AssetType
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


async def _seed(sessionmaker: async_sessionmaker[AsyncSession], make_user) -> tuple[Client, Client, Asset, Asset]:
    admin = await make_user(Role.ADMIN)
    scope = Scope(user_id=admin.id, role=Role.ADMIN, all_clients=True, client_ids=frozenset(), label=admin.email)
    async with session_scope(sessionmaker) as session:
        acme = await create_client(session, scope, "Acme")
        globex = await create_client(session, scope, "Globex")
        await add_site(session, scope, acme.id, "Branch", "")
        laptop = await session.scalar(select(AssetType.id).where(AssetType.name == "Laptop"))
        acme_main = await session.scalar(select(Site.id).where(Site.client_id == acme.id, Site.is_main.is_(True)))
        globex_main = await session.scalar(select(Site.id).where(Site.client_id == globex.id))
        ours = Asset(
            client_id=acme.id,
            site_id=acme_main,
            asset_type_id=laptop,
            name="ACME-LT-01",
            hostname="lt01.acme.local",
            serial="SN-A1",
            fields={"os": "Windows 11", "agent": {"version": "23.4", "online": True}, "tags": ["vip"]},
        )
        theirs = Asset(
            client_id=globex.id,
            site_id=globex_main,
            asset_type_id=laptop,
            name="GLOBEX-LT-01",
            hostname="lt01.globex.local",
            serial="SN-G1",
        )
        session.add_all([ours, theirs])
    return acme, globex, ours, theirs


async def test_the_asset_list_filters_and_answers_htmx_with_the_fragment(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, _, _, _ = await _seed(sessionmaker, make_user)
    user = await make_user(Role.VIEWER)
    await sign_in(client, user.email)

    page = await client.get("/assets")
    assert page.status_code == 200
    assert page.text.count('data-testid="asset-row"') == 2
    assert 'id="asset-filters"' in page.text

    fragment = await client.get("/assets?q=globex.local", headers=HTMX)
    assert fragment.text.lstrip().startswith('<div id="asset-list">')
    assert "<html" not in fragment.text
    assert "GLOBEX-LT-01" in fragment.text
    assert "ACME-LT-01" not in fragment.text

    by_client = await client.get(f"/assets?client={acme.id}&status=active&type=")
    assert by_client.text.count('data-testid="asset-row"') == 1
    assert "ACME-LT-01" in by_client.text
    assert (await client.get("/assets?status=inactive")).text.count('data-testid="asset-row"') == 0
    assert "No matching assets" in (await client.get("/assets?q=nothing-like-this")).text
    # Filters that are not ids or statuses are ignored, not errors.
    assert (await client.get("/assets?client=nope&type=nope&status=retired")).status_code == 200


async def test_the_asset_list_pages_by_100(client: AsyncTestClient[Litestar], make_user, sessionmaker) -> None:
    acme, _, _, _ = await _seed(sessionmaker, make_user)
    async with session_scope(sessionmaker) as session:
        site = await session.scalar(select(Site.id).where(Site.client_id == acme.id, Site.is_main.is_(True)))
        server = await session.scalar(select(AssetType.id).where(AssetType.name == "Server"))
        session.add_all(
            Asset(client_id=acme.id, site_id=site, asset_type_id=server, name=f"srv-{i:03d}") for i in range(120)
        )
    user = await make_user(Role.ANALYST)
    await sign_in(client, user.email)

    first = await client.get(f"/clients/{acme.id}/assets?q=srv-")
    assert first.text.count('data-testid="asset-row"') == 100
    assert "srv-099" in first.text
    assert "srv-100" not in first.text
    next_link = first.text.split('data-testid="asset-next"')[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert next_link.startswith(f"/clients/{acme.id}/assets?q=srv-&amp;after=")
    second = await client.get(next_link.replace("&amp;", "&"), headers=HTMX)
    assert second.text.count('data-testid="asset-row"') == 20
    assert "srv-100" in second.text
    assert "srv-119" in second.text
    assert 'data-testid="asset-next"' not in second.text
    assert "First page" in second.text


async def test_the_asset_page_shows_details_and_imported_fields(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    _, _, ours, _ = await _seed(sessionmaker, make_user)
    user = await make_user(Role.VIEWER)
    await sign_in(client, user.email)
    response = await client.get(f"/assets/{ours.id}")
    assert response.status_code == 200
    text = response.text
    assert "lt01.acme.local" in text
    assert "Endpoints" in text
    assert '<td class="mono">os</td><td class="mono breakable">Windows 11</td>' in text
    assert "{&#34;online&#34;: true, &#34;version&#34;: &#34;23.4&#34;}" in text
    assert f'hx-get="/tickets?asset={ours.id}&amp;status=all"' in text
    assert f'<a href="/tickets?asset={ours.id}&amp;status=all">Open in the ticket queue</a>' in text  # without JS
    # Viewers get no forms.
    assert 'data-testid="edit-asset-form"' not in text
    assert 'action="/assets/' not in text


async def test_analysts_edit_an_asset_and_change_its_status(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, globex, ours, _ = await _seed(sessionmaker, make_user)
    user = await make_user(Role.ANALYST)
    await sign_in(client, user.email)
    async with sessionmaker() as session:
        branch = await session.scalar(select(Site.id).where(Site.name == "Branch"))
        globex_site = await session.scalar(select(Site.id).where(Site.client_id == globex.id))
        server = await session.scalar(select(AssetType.id).where(AssetType.name == "Server"))
    token = await csrf_token(client, f"/assets/{ours.id}")
    form = {"name": "ACME-SRV-01", "asset_type_id": str(server), "hostname": "srv01", "serial": "", "device_uuid": ""}

    refused = await client.post(f"/assets/{ours.id}", data={**form, "site_id": str(globex_site), "_csrf_token": token})
    assert refused.status_code == 422
    assert 'id="asset-site-id-error"' in refused.text
    assert 'value="ACME-SRV-01"' in refused.text

    saved = await client.post(
        f"/assets/{ours.id}", data={**form, "site_id": str(branch), "_csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303
    status = await client.post(f"/assets/{ours.id}/status", data={"status": "inactive", "_csrf_token": token})
    assert status.status_code == 200
    assert "is now inactive" in status.text
    assert 'data-testid="asset-activate"' in status.text

    async with sessionmaker() as session:
        stored = await session.get(Asset, ours.id)
        assert stored is not None
        assert (stored.name, stored.site_id, stored.asset_type_id, stored.hostname, stored.serial, stored.status) == (
            "ACME-SRV-01",
            branch,
            server,
            "srv01",
            None,
            "inactive",
        )
        assert stored.client_id == acme.id
        assert stored.fields["os"] == "Windows 11"  # staff edits never touch the imported fields


async def test_another_clients_asset_is_not_found_and_viewers_cannot_change_assets(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    acme, globex, ours, theirs = await _seed(sessionmaker, make_user)
    analyst = await make_user(Role.ANALYST)
    await _limit_to(sessionmaker, analyst, acme.id)
    await sign_in(client, analyst.email)

    listing = await client.get("/assets?q=lt01")
    assert "ACME-LT-01" in listing.text
    assert "GLOBEX" not in listing.text
    assert "Globex" not in listing.text  # not even in the client filter
    assert (await client.get(f"/assets?client={globex.id}")).status_code == 404
    assert (await client.get(f"/assets/{theirs.id}")).status_code == 404
    assert (await client.get(f"/assets/{uuid.uuid4()}")).status_code == 404
    token = await csrf_token(client, f"/assets/{ours.id}")
    edit = {"name": "Mine now", "site_id": "", "asset_type_id": str(theirs.asset_type_id), "_csrf_token": token}
    assert (await client.post(f"/assets/{theirs.id}", data=edit)).status_code == 404
    status = {"status": "inactive", "_csrf_token": token}
    assert (await client.post(f"/assets/{theirs.id}/status", data=status)).status_code == 404

    viewer = await make_user(Role.VIEWER)
    await client.post("/logout", data={"_csrf_token": token})
    await sign_in(client, viewer.email)
    token = await csrf_token(client, f"/assets/{ours.id}")
    assert (await client.post(f"/assets/{ours.id}", data={**edit, "_csrf_token": token})).status_code == 403
    assert (await client.post(f"/assets/{ours.id}/status", data={**status, "_csrf_token": token})).status_code == 403

    async with sessionmaker() as session:
        rows = (await session.execute(select(Asset.name, Asset.status).order_by(Asset.name))).all()
        assert [tuple(row) for row in rows] == [("ACME-LT-01", "active"), ("GLOBEX-LT-01", "active")]
        assert await session.scalar(select(func.count()).select_from(Asset)) == 2

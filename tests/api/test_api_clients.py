"""The JSON API: token auth, client scoping, cursor pagination, problem details, OpenAPI."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from portal.domain.accounts.models import Role
from portal.domain.clients.models import Client, Site
from tests.conftest import sign_in


async def test_api_needs_a_bearer_token(client: AsyncTestClient[Litestar]) -> None:
    missing = await client.get("/api/v1/clients")
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = await client.get("/api/v1/clients", headers={"Authorization": "Bearer sdk_nope_nope"})
    assert forged.status_code == 401
    assert "unknown, revoked or expired" in forged.json()["detail"]


async def test_a_session_cookie_is_not_an_api_credential(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user(Role.ADMIN)
    await sign_in(client, user.email)
    assert (await client.get("/api/v1/clients")).status_code == 401


async def test_limited_token_sees_only_its_clients(client: AsyncTestClient[Litestar], make_client, api_token) -> None:
    mine = await make_client("Mine Ltd")
    theirs = await make_client("Theirs Ltd")
    headers = await api_token(Role.ANALYST, clients=[mine])

    listed = await client.get("/api/v1/clients", headers=headers)
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()["items"]] == ["Mine Ltd"]
    assert (await client.get(f"/api/v1/clients/{mine.id}", headers=headers)).json()["name"] == "Mine Ltd"
    assert (await client.get(f"/api/v1/clients/{theirs.id}", headers=headers)).status_code == 404
    sites = (await client.get("/api/v1/sites", headers=headers)).json()["items"]
    assert {site["client_id"] for site in sites} == {str(mine.id)}
    other_site = await client.get(f"/api/v1/sites?client_id={theirs.id}", headers=headers)
    assert other_site.json()["items"] == []


async def test_cursor_pagination_walks_every_row_once(
    client: AsyncTestClient[Litestar], make_client, api_token
) -> None:
    for number in range(7):
        await make_client(f"Paged {number}")
    headers = await api_token(Role.VIEWER)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "/api/v1/clients?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(query, headers=headers)).json()
        seen.extend(row["id"] for row in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    bad = await client.get("/api/v1/clients?cursor=garbage", headers=headers)
    assert bad.status_code == 422
    assert "cursor" in bad.json()["errors"]


async def test_create_client_needs_admin_and_valid_input(
    client: AsyncTestClient[Litestar], api_token, sessionmaker
) -> None:
    analyst = await api_token(Role.ANALYST)
    refused = await client.post("/api/v1/clients", json={"name": "New Co"}, headers=analyst)
    assert refused.status_code == 403
    admin = await api_token(Role.ADMIN)
    invalid = await client.post("/api/v1/clients", json={"name": ""}, headers=admin)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("application/problem+json")
    created = await client.post("/api/v1/clients", json={"name": "New Co", "reference": "NEW"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "New Co"
    duplicate = await client.post("/api/v1/clients", json={"name": "New Co"}, headers=admin)
    assert duplicate.status_code == 422
    assert "name" in duplicate.json()["errors"]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Client).where(Client.name == "New Co")) == 1
        main = await session.scalar(select(Site).where(Site.client_id == body["id"]))
        assert main is not None
        assert main.is_main
    patched = await client.patch(f"/api/v1/clients/{body['id']}", json={"notes": "VIP"}, headers=admin)
    assert patched.status_code == 200
    assert patched.json()["notes"] == "VIP"
    assert patched.json()["reference"] == "NEW"


async def test_openapi_document_and_docs_page(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user(Role.VIEWER)
    await sign_in(client, user.email)
    schema = (await client.get("/api/docs/schema/openapi.json")).json()
    assert "/api/v1/clients" in schema["paths"]
    assert not any(path.startswith("/tickets") or path == "/login" for path in schema["paths"])
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "/api/v1/clients/{client_id}" in docs.text


async def test_assets_api_scoped_create_and_patch(
    client: AsyncTestClient[Litestar], make_client, api_token, sessionmaker
) -> None:
    from portal.domain.assets.models import AssetType

    mine = await make_client("Asset Owner")
    theirs = await make_client("Someone Else")
    async with sessionmaker() as session:
        asset_type = await session.scalar(select(AssetType).limit(1))
    assert asset_type is not None
    headers = await api_token(Role.ANALYST, clients=[mine])
    created = await client.post(
        "/api/v1/assets",
        json={"client_id": str(mine.id), "asset_type_id": str(asset_type.id), "name": "AO-WS001", "serial": "SN1"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    asset = created.json()
    assert asset["asset_type"]["id"] == str(asset_type.id)
    elsewhere = await client.post(
        "/api/v1/assets",
        json={"client_id": str(theirs.id), "asset_type_id": str(asset_type.id), "name": "X"},
        headers=headers,
    )
    assert elsewhere.status_code == 404
    patched = await client.patch(
        f"/api/v1/assets/{asset['id']}", json={"status": "inactive", "hostname": "ao-ws001"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json()["status"] == "inactive"
    assert patched.json()["hostname"] == "ao-ws001"
    listed = await client.get(f"/api/v1/assets?client_id={mine.id}&status=inactive", headers=headers)
    assert [row["name"] for row in listed.json()["items"]] == ["AO-WS001"]
    viewer = await api_token(Role.VIEWER)
    assert (await client.patch(f"/api/v1/assets/{asset['id']}", json={"name": "Y"}, headers=viewer)).status_code == 403

"""/api/v1/clients and /api/v1/sites."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.clients import service as clients
from portal.domain.listings import page_clients, page_sites
from portal.web.api.params import Limit
from portal.web.api.schemas import ClientIn, ClientOut, ClientPatch, PageOut, SiteIn, SiteOut


class ClientsApi(Controller):
    path = "/clients"
    tags = ["clients"]

    @get("/", summary="List clients", description="Oldest change first; filter with updated_since.")
    async def list_clients(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        updated_since: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> PageOut[ClientOut]:
        result = await page_clients(db_session, access, updated_since=updated_since, limit=limit, cursor=cursor)
        return PageOut[ClientOut](
            items=[ClientOut.model_validate(row) for row in result.items], next_cursor=result.next_cursor
        )

    @get("/{client_id:uuid}", summary="Get a client")
    async def get_client(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], client_id: FromPath[uuid.UUID]
    ) -> ClientOut:
        return ClientOut.model_validate(await clients.get_client(db_session, access, client_id))

    @post("/", summary="Create a client (admin)", description="Its main site is created with it.")
    async def create_client(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], data: JSONBody[ClientIn]
    ) -> ClientOut:
        client = await clients.create_client(db_session, access, data.name, data.reference, data.notes)
        return ClientOut.model_validate(client)

    @patch("/{client_id:uuid}", summary="Update a client (admin)")
    async def update_client(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[ClientPatch],
    ) -> ClientOut:
        current = await clients.get_client(db_session, access, client_id)
        changes = data.model_dump(exclude_unset=True)
        client = await clients.update_client(
            db_session,
            access,
            client_id,
            name=changes.get("name") or current.name,
            reference=changes.get("reference", current.reference),
            notes=changes["notes"] if changes.get("notes") is not None else current.notes,
        )
        return ClientOut.model_validate(client)


class SitesApi(Controller):
    path = "/sites"
    tags = ["sites"]

    @get("/", summary="List sites")
    async def list_sites(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromQuery[uuid.UUID | None] = None,
        updated_since: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> PageOut[SiteOut]:
        result = await page_sites(
            db_session, access, client_id=client_id, updated_since=updated_since, limit=limit, cursor=cursor
        )
        return PageOut[SiteOut](
            items=[SiteOut.model_validate(row) for row in result.items], next_cursor=result.next_cursor
        )

    @get("/{site_id:uuid}", summary="Get a site")
    async def get_site(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], site_id: FromPath[uuid.UUID]
    ) -> SiteOut:
        return SiteOut.model_validate(await clients.get_site(db_session, access, site_id))

    @post("/", summary="Add a site to a client")
    async def create_site(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], data: JSONBody[SiteIn]
    ) -> SiteOut:
        site = await clients.add_site(db_session, access, data.client_id, data.name, data.address)
        return SiteOut.model_validate(site)

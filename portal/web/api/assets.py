"""/api/v1/assets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.assets import service as assets
from portal.domain.listings import page_assets
from portal.web.api.params import Limit
from portal.web.api.schemas import AssetIn, AssetOut, AssetPatch, PageOut


class AssetsApi(Controller):
    path = "/assets"
    tags = ["assets"]

    @get("/", summary="List assets", description="Oldest change first; filter by client, site, status, updated_since.")
    async def list_assets(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromQuery[uuid.UUID | None] = None,
        site_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[Literal["active", "inactive"] | None] = None,
        updated_since: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> PageOut[AssetOut]:
        result = await page_assets(
            db_session,
            access,
            client_id=client_id,
            site_id=site_id,
            status=status,
            updated_since=updated_since,
            limit=limit,
            cursor=cursor,
        )
        items = [AssetOut.model_validate(row) for row in result.items]
        return PageOut[AssetOut](items=items, next_cursor=result.next_cursor)

    @get("/{asset_id:uuid}", summary="Get an asset")
    async def get_asset(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], asset_id: FromPath[uuid.UUID]
    ) -> AssetOut:
        return AssetOut.model_validate(await assets.get_asset(db_session, access, asset_id))

    @post("/", summary="Create an asset", description="Without site_id it goes to the client's main site.")
    async def create_asset(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], data: JSONBody[AssetIn]
    ) -> AssetOut:
        asset = await assets.create_asset(
            db_session,
            access,
            data.client_id,
            site_id=data.site_id,
            asset_type_id=data.asset_type_id,
            name=data.name,
            hostname=data.hostname,
            serial=data.serial,
            device_uuid=data.device_uuid,
            status=data.status,
        )
        return AssetOut.model_validate(await assets.get_asset(db_session, access, asset.id, reload=True))

    @patch("/{asset_id:uuid}", summary="Update an asset")
    async def update_asset(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_id: FromPath[uuid.UUID],
        data: JSONBody[AssetPatch],
    ) -> AssetOut:
        current = await assets.get_asset(db_session, access, asset_id)
        changes = data.model_dump(exclude_unset=True)
        if any(key != "status" for key in changes):
            current = await assets.update_asset(
                db_session,
                access,
                asset_id,
                site_id=changes.get("site_id") or current.site_id,
                asset_type_id=changes.get("asset_type_id") or current.asset_type_id,
                name=changes.get("name") or current.name,
                hostname=changes.get("hostname", current.hostname),
                serial=changes.get("serial", current.serial),
                device_uuid=changes.get("device_uuid", current.device_uuid),
            )
        if changes.get("status"):
            current = await assets.set_asset_status(db_session, access, asset_id, changes["status"])
        return AssetOut.model_validate(current)

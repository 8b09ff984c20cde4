"""Asset groups and the asset types filed under them (a type belongs to exactly one group)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.access import Scope
from portal.domain.assets.models import Asset, AssetGroup, AssetType
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.settings.common import (
    audit_change,
    clean_name,
    count,
    counts_by,
    delete_unreferenced,
    get_or_404,
    in_use_message,
    name_taken,
)

MAX_NAME = 120


@dataclass(frozen=True)
class AssetGroupRow:
    group: AssetGroup
    types: int


@dataclass(frozen=True)
class AssetTypeRow:
    asset_type: AssetType
    assets: int


@dataclass(frozen=True)
class AssetTypeInput:
    name: str
    group_id: uuid.UUID | None


def group_snapshot(group: AssetGroup) -> dict[str, Any]:
    return {"name": group.name}


def type_snapshot(asset_type: AssetType, group: AssetGroup) -> dict[str, Any]:
    return {"name": asset_type.name, "group": group.name}


# ---- groups ----


async def list_asset_groups(session: AsyncSession, access: Scope) -> list[AssetGroupRow]:
    access.require_admin()
    types = await counts_by(session, AssetType.group_id)
    groups = (await session.scalars(select(AssetGroup).order_by(AssetGroup.name))).all()
    return [AssetGroupRow(g, types.get(g.id, 0)) for g in groups]


async def _group_name(session: AsyncSession, raw: str, exclude: uuid.UUID | None) -> str:
    errors: dict[str, str] = {}
    name = clean_name(errors, raw, limit=MAX_NAME)
    if not errors and await name_taken(session, AssetGroup.name, AssetGroup.id, name, exclude):
        errors["name"] = "Another asset group already has this name."
    if errors:
        raise ValidationError(errors)
    return name


async def create_asset_group(session: AsyncSession, access: Scope, name: str) -> AssetGroup:
    access.require_admin()
    group = AssetGroup(name=await _group_name(session, name, None))
    session.add(group)
    await session.flush()
    await audit_change(
        session,
        access,
        "asset_group.create",
        object_type="asset_group",
        object_id=group.id,
        label=group.name,
        before=None,
        after=group_snapshot(group),
    )
    return group


async def update_asset_group(session: AsyncSession, access: Scope, group_id: uuid.UUID, name: str) -> AssetGroup:
    access.require_admin()
    group = await get_or_404(session, AssetGroup, group_id, "asset group")
    cleaned = await _group_name(session, name, group.id)
    before = group_snapshot(group)
    group.name = cleaned
    await session.flush()
    await audit_change(
        session,
        access,
        "asset_group.update",
        object_type="asset_group",
        object_id=group.id,
        label=group.name,
        before=before,
        after=group_snapshot(group),
    )
    return group


async def delete_asset_group(session: AsyncSession, access: Scope, group_id: uuid.UUID) -> None:
    access.require_admin()
    group = await get_or_404(session, AssetGroup, group_id, "asset group")
    refused = in_use_message("asset group", [(await count(session, AssetType.group_id, group.id), "asset type")])
    if refused:
        raise ValidationError({"delete": refused}, message=refused)
    before = group_snapshot(group)
    await delete_unreferenced(session, group, "This asset group is still in use, so it cannot be deleted.")
    await audit_change(
        session,
        access,
        "asset_group.delete",
        object_type="asset_group",
        object_id=group_id,
        label=before["name"],
        before=before,
        after=None,
    )


# ---- types ----


async def list_asset_types(session: AsyncSession, access: Scope) -> list[AssetTypeRow]:
    access.require_admin()
    assets = await counts_by(session, Asset.asset_type_id)
    types = (
        await session.scalars(
            select(AssetType)
            .join(AssetType.group)
            .options(selectinload(AssetType.group))
            .order_by(AssetGroup.name, AssetType.name)
        )
    ).all()
    return [AssetTypeRow(t, assets.get(t.id, 0)) for t in types]


async def _validate_type(
    session: AsyncSession, data: AssetTypeInput, exclude: uuid.UUID | None
) -> tuple[str, AssetGroup]:
    errors: dict[str, str] = {}
    name = clean_name(errors, data.name, limit=MAX_NAME)
    if "name" not in errors and await name_taken(session, AssetType.name, AssetType.id, name, exclude):
        errors["name"] = "Another asset type already has this name."
    group = await session.get(AssetGroup, data.group_id) if data.group_id else None
    if group is None:
        errors["group_id"] = "Choose the group this type belongs to."
    if errors:
        raise ValidationError(errors)
    assert group is not None
    return name, group


async def create_asset_type(session: AsyncSession, access: Scope, data: AssetTypeInput) -> AssetType:
    access.require_admin()
    name, group = await _validate_type(session, data, None)
    asset_type = AssetType(name=name, group=group)
    session.add(asset_type)
    await session.flush()
    await audit_change(
        session,
        access,
        "asset_type.create",
        object_type="asset_type",
        object_id=asset_type.id,
        label=name,
        before=None,
        after=type_snapshot(asset_type, group),
    )
    return asset_type


async def _get_type(session: AsyncSession, asset_type_id: uuid.UUID) -> AssetType:
    found = await session.scalar(
        select(AssetType).options(selectinload(AssetType.group)).where(AssetType.id == asset_type_id)
    )
    if found is None:
        raise NotFoundError("asset type")
    return found


async def update_asset_type(
    session: AsyncSession, access: Scope, asset_type_id: uuid.UUID, data: AssetTypeInput
) -> AssetType:
    access.require_admin()
    asset_type = await _get_type(session, asset_type_id)
    name, group = await _validate_type(session, data, asset_type.id)
    before = type_snapshot(asset_type, asset_type.group)
    asset_type.name = name
    asset_type.group = group
    await session.flush()
    await audit_change(
        session,
        access,
        "asset_type.update",
        object_type="asset_type",
        object_id=asset_type.id,
        label=name,
        before=before,
        after=type_snapshot(asset_type, group),
    )
    return asset_type


async def delete_asset_type(session: AsyncSession, access: Scope, asset_type_id: uuid.UUID) -> None:
    access.require_admin()
    asset_type = await _get_type(session, asset_type_id)
    refused = in_use_message("asset type", [(await count(session, Asset.asset_type_id, asset_type.id), "asset")])
    if refused:
        raise ValidationError({"delete": refused}, message=refused)
    before = type_snapshot(asset_type, asset_type.group)
    await delete_unreferenced(session, asset_type, "This asset type is still in use, so it cannot be deleted.")
    await audit_change(
        session,
        access,
        "asset_type.delete",
        object_type="asset_type",
        object_id=asset_type_id,
        label=before["name"],
        before=before,
        after=None,
    )

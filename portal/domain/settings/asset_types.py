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
from portal.domain.settings import reference_list
from portal.domain.settings.common import get_or_404
from portal.domain.settings.reference_list import ReferenceKind

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


def type_snapshot(asset_type: AssetType) -> dict[str, Any]:
    return {"name": asset_type.name, "group": asset_type.group.name}


ASSET_GROUP = ReferenceKind(
    model=AssetGroup,
    name_column=AssetGroup.name,
    max_name=MAX_NAME,
    object_type="asset_group",
    noun="asset group",
    snapshot=group_snapshot,
    used_by=((AssetType.group_id, "asset type"),),
)
ASSET_TYPE = ReferenceKind(
    model=AssetType,
    name_column=AssetType.name,
    max_name=MAX_NAME,
    object_type="asset_type",
    noun="asset type",
    snapshot=type_snapshot,
    used_by=((Asset.asset_type_id, "asset"),),
)


# ---- groups ----


async def list_asset_groups(session: AsyncSession, access: Scope) -> list[AssetGroupRow]:
    access.require_admin()
    [types] = await reference_list.usage(session, ASSET_GROUP)
    groups = (await session.scalars(select(AssetGroup).order_by(AssetGroup.name))).all()
    return [AssetGroupRow(g, types.get(g.id, 0)) for g in groups]


async def _group_name(session: AsyncSession, raw: str, exclude: uuid.UUID | None) -> str:
    errors: dict[str, str] = {}
    name = await reference_list.unique_name(session, ASSET_GROUP, errors, raw, exclude)
    if errors:
        raise ValidationError(errors)
    return name


async def create_asset_group(session: AsyncSession, access: Scope, name: str) -> AssetGroup:
    access.require_admin()
    group = AssetGroup(name=await _group_name(session, name, None))
    return await reference_list.create(session, access, ASSET_GROUP, group)


async def update_asset_group(session: AsyncSession, access: Scope, group_id: uuid.UUID, name: str) -> AssetGroup:
    access.require_admin()
    group = await get_or_404(session, AssetGroup, group_id, "asset group")
    cleaned = await _group_name(session, name, group.id)
    async with reference_list.changing(session, access, ASSET_GROUP, group):
        group.name = cleaned
    return group


async def delete_asset_group(session: AsyncSession, access: Scope, group_id: uuid.UUID) -> None:
    access.require_admin()
    group = await get_or_404(session, AssetGroup, group_id, "asset group")
    await reference_list.delete(session, access, ASSET_GROUP, group)


# ---- types ----


async def list_asset_types(session: AsyncSession, access: Scope) -> list[AssetTypeRow]:
    access.require_admin()
    [assets] = await reference_list.usage(session, ASSET_TYPE)
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
    name = await reference_list.unique_name(session, ASSET_TYPE, errors, data.name, exclude)
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
    return await reference_list.create(session, access, ASSET_TYPE, AssetType(name=name, group=group))


async def _get_type(session: AsyncSession, asset_type_id: uuid.UUID) -> AssetType:
    # With its group: the audit snapshot names it, and an async session cannot load it lazily.
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
    async with reference_list.changing(session, access, ASSET_TYPE, asset_type):
        asset_type.name = name
        asset_type.group = group
    return asset_type


async def delete_asset_type(session: AsyncSession, access: Scope, asset_type_id: uuid.UUID) -> None:
    access.require_admin()
    asset_type = await _get_type(session, asset_type_id)
    await reference_list.delete(session, access, ASSET_TYPE, asset_type)

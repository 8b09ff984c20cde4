"""Assets (endpoints, network gear, cloud workloads) of the caller's clients. No web code here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from portal.domain.access import Scope
from portal.domain.assets.models import Asset, AssetGroup, AssetStatus, AssetType
from portal.domain.audit.service import record_change
from portal.domain.clients.models import Site
from portal.domain.clients.service import get_client, get_main_site, require_asset_work
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.pagination import pack_token, unpack_token
from portal.domain.search import like_pattern

PAGE_SIZE = 100
MAX_NAME = 255
MAX_IDENTIFIER = 255
MAX_DEVICE_UUID = 64
STATUSES = tuple(status.value for status in AssetStatus)


@dataclass(frozen=True)
class AssetPage:
    assets: list[Asset]
    # Opaque keyset cursor for the next page; None on the last one.
    next_cursor: str | None


def _with_details() -> tuple[Any, ...]:
    return (
        joinedload(Asset.asset_type).joinedload(AssetType.group),
        joinedload(Asset.site).joinedload(Site.client),
    )


def _encode_cursor(asset: Asset) -> str:
    return pack_token([asset.name, str(asset.id)])


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID] | None:
    """The (name, id) to continue after; None for anything that is not a cursor this module made."""
    try:
        name, raw_id = unpack_token(cursor)
        return str(name), uuid.UUID(str(raw_id))
    except (ValueError, TypeError):
        return None


async def list_assets(
    session: AsyncSession,
    access: Scope,
    client_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    q: str | None = None,
    status: str | None = None,
    asset_type_id: uuid.UUID | None = None,
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> AssetPage:
    """One page of the caller's assets by name; ``q`` searches name, hostname, serial and device UUID."""
    if client_id is not None:
        access.require_client(client_id, "client")
    stmt = select(Asset).where(access.clients(Asset.client_id)).options(*_with_details())
    if client_id is not None:
        stmt = stmt.where(Asset.client_id == client_id)
    if site_id is not None:
        stmt = stmt.where(Asset.site_id == site_id)
    if status in STATUSES:
        stmt = stmt.where(Asset.status == status)
    if asset_type_id is not None:
        stmt = stmt.where(Asset.asset_type_id == asset_type_id)
    if q and q.strip():
        pattern = like_pattern(q.strip())
        stmt = stmt.where(
            or_(
                Asset.name.ilike(pattern),
                Asset.hostname.ilike(pattern),
                Asset.serial.ilike(pattern),
                Asset.device_uuid.ilike(pattern),
            )
        )
    position = _decode_cursor(after) if after else None
    if position is not None:
        stmt = stmt.where(tuple_(Asset.name, Asset.id) > tuple_(*position))
    # One row more than the page tells whether there is a next page without counting.
    rows = list((await session.scalars(stmt.order_by(Asset.name, Asset.id).limit(limit + 1))).unique().all())
    page, more = rows[:limit], len(rows) > limit
    return AssetPage(page, _encode_cursor(page[-1]) if more and page else None)


async def get_asset(session: AsyncSession, access: Scope, asset_id: uuid.UUID, *, reload: bool = False) -> Asset:
    """The asset with its type, group, site and client loaded (``reload``: again, after a change)."""
    stmt = select(Asset).where(Asset.id == asset_id, access.clients(Asset.client_id)).options(*_with_details())
    asset = await session.scalar(stmt.execution_options(populate_existing=reload))
    if asset is None:
        raise NotFoundError("asset")
    return asset


async def list_asset_types(session: AsyncSession) -> list[AssetType]:
    """Every asset type with its group, by group then name (for pickers)."""
    result = await session.scalars(
        select(AssetType)
        .join(AssetGroup, AssetGroup.id == AssetType.group_id)
        .options(joinedload(AssetType.group))
        .order_by(AssetGroup.name, AssetType.name)
    )
    return list(result.all())


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@dataclass(frozen=True)
class AssetValues:
    """What staff may set on an asset, trimmed (blank identifiers are None)."""

    site_id: uuid.UUID | None
    asset_type_id: uuid.UUID | None
    name: str
    hostname: str | None
    serial: str | None
    device_uuid: str | None
    status: str

    @classmethod
    def of(
        cls,
        site_id: uuid.UUID | None,
        asset_type_id: uuid.UUID | None,
        name: str,
        hostname: str | None,
        serial: str | None,
        device_uuid: str | None,
        status: str,
    ) -> AssetValues:
        return cls(site_id, asset_type_id, name.strip(), _clean(hostname), _clean(serial), _clean(device_uuid), status)


def field_errors(
    values: AssetValues, client_id: uuid.UUID, *, site_client: uuid.UUID | None, type_known: bool
) -> dict[str, str]:
    """What is wrong with an asset's values (``site_client``: the client of the chosen site)."""
    errors: dict[str, str] = {}
    if not values.name:
        errors["name"] = "Enter the asset's name."
    elif len(values.name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if site_client != client_id:
        # Also what a site of another client gets: whether it exists is none of the caller's business.
        errors["site_id"] = "Choose one of this client's sites."
    if values.asset_type_id is None or not type_known:
        errors["asset_type_id"] = "Choose the asset's type."
    for field, value, limit in (
        ("hostname", values.hostname, MAX_IDENTIFIER),
        ("serial", values.serial, MAX_IDENTIFIER),
        ("device_uuid", values.device_uuid, MAX_DEVICE_UUID),
    ):
        if value is not None and len(value) > limit:
            errors[field] = f"Use at most {limit} characters."
    if values.status not in STATUSES:
        errors["status"] = "Choose active or inactive."
    return errors


async def _check_asset_fields(session: AsyncSession, client_id: uuid.UUID, values: AssetValues) -> None:
    site_client = (
        await session.scalar(select(Site.client_id).where(Site.id == values.site_id))
        if values.site_id is not None
        else None
    )
    type_known = values.asset_type_id is not None and await session.get(AssetType, values.asset_type_id) is not None
    errors = field_errors(values, client_id, site_client=site_client, type_known=type_known)
    if errors:
        raise ValidationError(errors)


class AssetLike(Protocol):
    """What an asset's audit snapshot reads: a loaded asset, or one an import batch holds."""

    name: str
    site_id: uuid.UUID
    asset_type_id: uuid.UUID
    hostname: str | None
    serial: str | None
    device_uuid: str | None
    status: str


def snapshot(asset: AssetLike) -> dict[str, Any]:
    return {
        "name": asset.name,
        "site_id": str(asset.site_id),
        "asset_type_id": str(asset.asset_type_id),
        "hostname": asset.hostname,
        "serial": asset.serial,
        "device_uuid": asset.device_uuid,
        "status": asset.status,
    }


async def _audit_asset(
    session: AsyncSession, access: Scope, action: str, asset: Asset, before: dict[str, Any] | None
) -> None:
    await record_change(
        session,
        access,
        action,
        object_type="asset",
        object_id=asset.id,
        object_label=asset.name,
        client_id=asset.client_id,
        before=before,
        after=snapshot(asset),
    )


async def create_asset(
    session: AsyncSession,
    access: Scope,
    client_id: uuid.UUID,
    *,
    site_id: uuid.UUID | None,
    asset_type_id: uuid.UUID | None,
    name: str,
    hostname: str | None = None,
    serial: str | None = None,
    device_uuid: str | None = None,
    status: str = AssetStatus.ACTIVE.value,
    fields: dict[str, Any] | None = None,
) -> Asset:
    """A new asset of the client; ``site_id`` None means the client's main site."""
    require_asset_work(access)
    client = await get_client(session, access, client_id)
    if site_id is None:
        site_id = (await get_main_site(session, access, client.id)).id
    values = AssetValues.of(site_id, asset_type_id, name, hostname, serial, device_uuid, status)
    await _check_asset_fields(session, client.id, values)
    asset = Asset(
        client_id=client.id,
        site_id=values.site_id,
        asset_type_id=values.asset_type_id,
        name=values.name,
        hostname=values.hostname,
        serial=values.serial,
        device_uuid=values.device_uuid,
        status=values.status,
        fields=dict(fields or {}),
    )
    session.add(asset)
    await session.flush()
    await _audit_asset(session, access, "asset.create", asset, None)
    return asset


async def update_asset(
    session: AsyncSession,
    access: Scope,
    asset_id: uuid.UUID,
    *,
    site_id: uuid.UUID | None,
    asset_type_id: uuid.UUID | None,
    name: str,
    hostname: str | None = None,
    serial: str | None = None,
    device_uuid: str | None = None,
) -> Asset:
    """Change what staff may edit; the imported ``fields`` bag stays as the vendor sent it."""
    require_asset_work(access)
    asset = await get_asset(session, access, asset_id)
    values = AssetValues.of(site_id, asset_type_id, name, hostname, serial, device_uuid, asset.status)
    await _check_asset_fields(session, asset.client_id, values)
    before = snapshot(asset)
    # Both were checked above; the asserts narrow the types.
    assert values.site_id is not None
    assert values.asset_type_id is not None
    asset.site_id, asset.asset_type_id, asset.name = values.site_id, values.asset_type_id, values.name
    asset.hostname, asset.serial, asset.device_uuid = values.hostname, values.serial, values.device_uuid
    await session.flush()
    await _audit_asset(session, access, "asset.update", asset, before)
    # The caller sees the new site and type, not the ones loaded before the change.
    return await get_asset(session, access, asset.id, reload=True)


async def set_asset_status(session: AsyncSession, access: Scope, asset_id: uuid.UUID, status: str) -> Asset:
    require_asset_work(access)
    asset = await get_asset(session, access, asset_id)
    if status not in STATUSES:
        raise ValidationError({"status": "Choose active or inactive."})
    if asset.status == status:
        return asset
    before = snapshot(asset)
    asset.status = status
    await session.flush()
    await _audit_asset(session, access, "asset.status", asset, before)
    return asset


async def set_imported_fields(
    session: AsyncSession, access: Scope, asset_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Merge what an import read into the asset's imported fields; True when something changed."""
    require_asset_work(access)
    asset = await get_asset(session, access, asset_id)
    merged = {**asset.fields, **values}
    if merged == asset.fields:
        return False
    asset.fields = merged
    await session.flush()
    return True


async def asset_type_named(
    session: AsyncSession, name: str, *, create_in_group: uuid.UUID | None = None
) -> AssetType | None:
    """The asset type of exactly this name; with ``create_in_group``, created there when missing (imports)."""
    name = name.strip()[:120]
    if not name:
        return None
    found = await session.scalar(select(AssetType).where(AssetType.name == name))
    if found is not None or create_in_group is None or await session.get(AssetGroup, create_in_group) is None:
        return found
    # Another import may create the same name at the same moment: the unique index decides, this one re-reads.
    try:
        async with session.begin_nested():
            created = AssetType(name=name, group_id=create_in_group)
            session.add(created)
            await session.flush()
        return created
    except IntegrityError:
        return await session.scalar(select(AssetType).where(AssetType.name == name))

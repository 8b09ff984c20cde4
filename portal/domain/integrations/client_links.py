"""Which socdesk clients a connection serves: one link per (connection, client, remote scope).

The vendor's per-client settings (an Acme tenant, a Sentinel workspace...) come from the
manifest's ``client_fields`` and are validated against them. Links are client-owned: a user
limited to some clients never sees, nor can reach by id, a link of another client.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.access import Scope
from portal.domain.audit.service import record, record_change
from portal.domain.clients.models import Client, Site
from portal.domain.clients.service import get_client
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.service import get_connection, manifest_of
from portal.integrations.manifest import FieldKind, Manifest, validate

MAX_REMOTE = 255
DUPLICATE_LINK = "This client is already linked to this connection for that remote scope."


@dataclass(frozen=True)
class LinkInput:
    """The link form: where the client's records land, and the vendor's per-client settings."""

    site_id: uuid.UUID | None
    remote_scope: str
    remote_name: str
    settings: Mapping[str, str]


def default_remote_scope(manifest: Manifest, settings: Mapping[str, Any]) -> str:
    """The manifest's ``scope_field``, else by convention the first required text field of the client
    form, names the remote side (an Acme tenant), so webhooks that say which tenant they are about
    find their link without retyping it."""
    if manifest.scope_of is not None:
        return manifest.scope_of(settings)
    if manifest.scope_field:
        return str(settings.get(manifest.scope_field) or "")
    for spec in manifest.client_fields:
        if spec.required and spec.kind in (FieldKind.TEXT, FieldKind.CHOICE):
            return str(settings.get(spec.key) or "")
    return ""


def _snapshot(link: ClientLink) -> dict[str, Any]:
    return {
        "site_id": str(link.site_id) if link.site_id else None,
        "remote_scope": link.remote_scope,
        "remote_name": link.remote_name,
        "enabled": link.enabled,
        **link.settings,
    }


async def _audit(
    session: AsyncSession, access: Scope, action: str, link: ClientLink, label: str, before: dict[str, Any] | None
) -> None:
    await record_change(
        session,
        access,
        action,
        object_type="connection_client",
        object_id=link.id,
        object_label=label,
        client_id=link.client_id,
        before=before,
        after=_snapshot(link),
    )


def _label(connection: Connection, client: Client, link: ClientLink) -> str:
    return f"{connection.name} → {client.name}" + (f" ({link.remote_scope})" if link.remote_scope else "")


# ---------------------------------------------------------------- reading


def _loaded() -> Any:
    return select(ClientLink).options(
        selectinload(ClientLink.client), selectinload(ClientLink.site), selectinload(ClientLink.connection)
    )


async def list_links(session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> list[ClientLink]:
    connection = await get_connection(session, access, connection_id)
    statement = (
        _loaded()
        .join(Client, Client.id == ClientLink.client_id)
        .where(ClientLink.connection_id == connection.id, access.clients(ClientLink.client_id))
        .order_by(func.lower(Client.name), ClientLink.remote_scope)
    )
    return list((await session.scalars(statement)).all())


async def links_for_client(session: AsyncSession, access: Scope, client_id: uuid.UUID) -> list[ClientLink]:
    client = await get_client(session, access, client_id)
    statement = (
        _loaded()
        .join(Connection, Connection.id == ClientLink.connection_id)
        .where(ClientLink.client_id == client.id)
        .order_by(func.lower(Connection.name), ClientLink.remote_scope)
    )
    return list((await session.scalars(statement)).all())


async def get_link(session: AsyncSession, access: Scope, link_id: uuid.UUID) -> ClientLink:
    link: ClientLink | None = await session.scalar(
        _loaded().where(ClientLink.id == link_id, access.clients(ClientLink.client_id))
    )
    if link is None:
        raise NotFoundError("client link")
    return link


# ---------------------------------------------------------------- changing


async def _checked(session: AsyncSession, manifest: Manifest, link: ClientLink, data: LinkInput) -> dict[str, Any]:
    """The link's new column values from ``data``, or the field errors; ``link`` is not touched."""
    checked = validate(manifest.client_fields, data.settings)
    errors = dict(checked.errors)
    remote_scope = (
        default_remote_scope(manifest, checked.values)
        if manifest.scope_of is not None
        else data.remote_scope.strip() or default_remote_scope(manifest, checked.values)
    )
    remote_name = data.remote_name.strip()
    if len(remote_scope) > MAX_REMOTE:
        errors["remote_scope"] = f"Use at most {MAX_REMOTE} characters."
    if len(remote_name) > MAX_REMOTE:
        errors["remote_name"] = f"Use at most {MAX_REMOTE} characters."
    if data.site_id is not None:
        site_client = await session.scalar(select(Site.client_id).where(Site.id == data.site_id))
        if site_client != link.client_id:
            errors["site_id"] = "Choose one of this client's sites."
    if errors:
        raise ValidationError(errors)
    clash = await session.scalar(
        select(ClientLink.id).where(
            ClientLink.connection_id == link.connection_id,
            ClientLink.client_id == link.client_id,
            ClientLink.remote_scope == remote_scope,
            ClientLink.id != link.id,
        )
    )
    if clash is not None:
        raise ValidationError({"remote_scope": DUPLICATE_LINK}, message=DUPLICATE_LINK)
    # Client fields are never secret: they are stored as plain JSON.
    return {
        "site_id": data.site_id,
        "remote_scope": remote_scope,
        "remote_name": remote_name,
        "settings": checked.values,
    }


def _assign(link: ClientLink, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(link, key, value)


async def _flush_link(session: AsyncSession) -> None:
    """Flush in a savepoint: a concurrent duplicate (connection, client, remote scope) is a field error, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationError({"remote_scope": DUPLICATE_LINK}, message=DUPLICATE_LINK) from exc


async def add_link(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, client_id: uuid.UUID, data: LinkInput
) -> ClientLink:
    access.require_admin()
    connection = await get_connection(session, access, connection_id)
    client = await get_client(session, access, client_id)
    # The client is attached too, so callers can name it without a lazy load (not possible in async).
    link = ClientLink(id=uuid.uuid4(), connection_id=connection.id, client_id=client.id, client=client, enabled=True)
    _assign(link, await _checked(session, manifest_of(connection), link, data))
    session.add(link)
    await _flush_link(session)
    await _audit(session, access, "integration.link.create", link, _label(connection, client, link), None)
    return link


async def update_link(session: AsyncSession, access: Scope, link_id: uuid.UUID, data: LinkInput) -> ClientLink:
    access.require_admin()
    link = await get_link(session, access, link_id)
    before = _snapshot(link)
    _assign(link, await _checked(session, manifest_of(link.connection), link, data))
    await _flush_link(session)
    await _audit(session, access, "integration.link.update", link, _label(link.connection, link.client, link), before)
    return link


async def set_link_enabled(session: AsyncSession, access: Scope, link_id: uuid.UUID, *, enabled: bool) -> ClientLink:
    access.require_admin()
    link = await get_link(session, access, link_id)
    before = _snapshot(link)
    link.enabled = enabled
    action = "integration.link.enable" if enabled else "integration.link.disable"
    await _audit(session, access, action, link, _label(link.connection, link.client, link), before)
    return link


async def remove_link(session: AsyncSession, access: Scope, link_id: uuid.UUID) -> ClientLink:
    """Unlink the client: its sync states go too; tickets already imported stay."""
    access.require_admin()
    link = await get_link(session, access, link_id)
    await record(
        session,
        access,
        "integration.link.delete",
        object_type="connection_client",
        object_id=link.id,
        object_label=_label(link.connection, link.client, link),
        client_id=link.client_id,
        before=_snapshot(link),
    )
    await session.delete(link)
    await session.flush()
    return link


async def site_choices(session: AsyncSession, access: Scope) -> dict[uuid.UUID, list[Site]]:
    """The sites a link may file records under, by client (main site first)."""
    sites = await session.scalars(
        select(Site).where(access.clients(Site.client_id)).order_by(Site.is_main.desc(), func.lower(Site.name))
    )
    grouped: dict[uuid.UUID, list[Site]] = {}
    for site in sites.all():
        grouped.setdefault(site.client_id, []).append(site)
    return grouped

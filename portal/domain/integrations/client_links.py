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
    """By convention the first required text field of the client form names the remote side (an Acme
    tenant), so webhooks that say which tenant they are about find their link without retyping it."""
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


async def _apply_input(
    session: AsyncSession, link: ClientLink, manifest: Manifest, data: LinkInput
) -> None:
    """Validate ``data`` and write it onto ``link``, or raise the field errors."""
    checked = validate(manifest.client_fields, data.settings)
    errors = dict(checked.errors)
    remote_scope = data.remote_scope.strip() or default_remote_scope(manifest, checked.values)
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
    link.site_id = data.site_id
    link.remote_scope = remote_scope
    link.remote_name = remote_name
    link.settings = checked.values  # client fields are never secret: they are stored as plain JSON


async def _flush_link(session: AsyncSession) -> None:
    """Flush in a savepoint: the unique (connection, client, remote scope) becomes a field error, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationError({"remote_scope": DUPLICATE_LINK}, message=DUPLICATE_LINK) from exc


async def _refuse_duplicate(session: AsyncSession, link: ClientLink) -> None:
    clash = await session.scalar(
        select(ClientLink.id).where(
            ClientLink.connection_id == link.connection_id,
            ClientLink.client_id == link.client_id,
            ClientLink.remote_scope == link.remote_scope,
            ClientLink.id != link.id,
        )
    )
    if clash is not None:
        raise ValidationError({"remote_scope": DUPLICATE_LINK}, message=DUPLICATE_LINK)


async def add_link(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, client_id: uuid.UUID, data: LinkInput
) -> ClientLink:
    access.require_admin()
    connection = await get_connection(session, access, connection_id)
    client = await get_client(session, access, client_id)
    link = ClientLink(id=uuid.uuid4(), connection_id=connection.id, client_id=client.id, enabled=True)
    await _apply_input(session, link, manifest_of(connection), data)
    await _refuse_duplicate(session, link)
    session.add(link)
    await _flush_link(session)
    await _audit(session, access, "integration.link.create", link, _label(connection, client, link), None)
    return link


async def update_link(session: AsyncSession, access: Scope, link_id: uuid.UUID, data: LinkInput) -> ClientLink:
    access.require_admin()
    link = await get_link(session, access, link_id)
    before = _snapshot(link)
    await _apply_input(session, link, manifest_of(link.connection), data)
    with session.no_autoflush:  # the clash check must not flush the very change it checks
        await _refuse_duplicate(session, link)
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

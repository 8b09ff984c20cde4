"""Opening a connection for work: decrypted view, credentials, an API client on the shared HTTP base."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.domain.errors import NotFoundError
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.integrations.base import ConnectionCheck, ConnectionView, LinkView, TokenSource, Vendor
from portal.integrations.errors import VendorError
from portal.integrations.http import RequestRecorder, VendorHttp
from portal.integrations.registry import vendor as vendor_for


@dataclass(frozen=True)
class SyncRuntime:
    """What sync work needs besides a transaction: built once per worker (or web app)."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    box: SecretBox
    recorder: RequestRecorder
    tokens: TokenSource
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


@dataclass(frozen=True)
class OpenConnection:
    vendor: Vendor
    view: ConnectionView
    api: Any


def connection_view(connection: Connection, box: SecretBox) -> ConnectionView:
    return ConnectionView(
        id=connection.id,
        vendor=connection.vendor,
        name=connection.name,
        config=dict(connection.config),
        mappings=dict(connection.mappings),
        secrets=box.open(connection.secrets_ciphertext),
    )


def link_view(link: ClientLink) -> LinkView:
    return LinkView(
        id=link.id,
        client_id=link.client_id,
        site_id=link.site_id,
        remote_scope=link.remote_scope,
        settings=dict(link.settings),
    )


def open_connection(runtime: SyncRuntime, connection: Connection) -> OpenConnection:
    vendor = vendor_for(connection.vendor)
    view = connection_view(connection, runtime.box)
    http = VendorHttp(
        runtime.http,
        vendor.base_url(view),
        recorder=runtime.recorder,
        connection_id=connection.id,
        credentials=vendor.credentials(view, runtime.tokens),
        sleep=runtime.sleep,
    )
    return OpenConnection(vendor=vendor, view=view, api=vendor.client(http, view))


async def check_connection(session: AsyncSession, runtime: SyncRuntime, connection_id: uuid.UUID) -> ConnectionCheck:
    """ "Test connection": one real call with the stored credentials; records the expiry it learns."""
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise NotFoundError("connection")
    try:
        opened = open_connection(runtime, connection)
        check = await opened.vendor.check(opened.api, opened.view)
    except VendorError as exc:
        return ConnectionCheck(ok=False, message=exc.describe())
    if check.credential_expires_at is not None:
        connection.credential_expires_at = check.credential_expires_at
    if check.ok and connection.status == ConnectionStatus.ERROR.value:
        connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""
    return check


def build_runtime(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SyncRuntime:
    from portal.domain.sync.outbound_log import DatabaseRecorder
    from portal.integrations.oauth import OAuthTokens

    box = SecretBox.from_settings(settings)
    recorder = DatabaseRecorder(sessionmaker)
    return SyncRuntime(
        settings=settings,
        sessionmaker=sessionmaker,
        http=http,
        box=box,
        recorder=recorder,
        tokens=OAuthTokens(sessionmaker, box, http, recorder),
        sleep=sleep,
    )

"""Shared pieces of the OAuth tests: the Acme emulator behind a recording transport, and connections."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.models import OutboundRequest
from portal.integrations.acme.emulator.app import create_emulator
from portal.integrations.base import ConnectionView
from portal.integrations.oauth import TokenSet

ACME = "http://acme.test"
CLIENT_ID = "socdesk-test-app"
CLIENT_SECRET = "client-secret-4b1d9e7f"
SCOPES = ["openid", "cases.read", "cases.write", "offline_access"]
CONFIG = {"api_url": ACME, "login_url": ACME, "client_id": CLIENT_ID, "page_size": 100}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the emulator and keeps them, so tests can count and read what was sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.responses: dict[int, bytes] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.responses[id(request)] = content
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

    def response_json(self, request: httpx.Request) -> Any:
        return json.loads(self.responses[id(request)])

    def calls(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]

    def token_calls(self, grant_type: str | None = None) -> list[httpx.Request]:
        return [
            request
            for request in self.calls("/oauth/token")
            if grant_type is None or f"grant_type={grant_type}" in request.content.decode()
        ]


def emulator(redirect_uris: list[str] | None = None) -> tuple[Any, Any, RecordingTransport]:
    app, state = create_emulator()
    state.oauth.register_client(CLIENT_ID, CLIENT_SECRET, redirect_uris or ["http://127.0.0.1:8000/authcallback"])
    return app, state, RecordingTransport(httpx.ASGITransport(app=app))  # type: ignore[arg-type]


def token_set(answer: dict[str, Any], *, expires_at: datetime | None = None) -> TokenSet:
    return TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_at=expires_at or utcnow() + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scope=answer.get("scope", ""),
    )


async def make_connection(
    sessionmaker: async_sessionmaker[AsyncSession],
    box: SecretBox,
    *,
    tokens: TokenSet | None = None,
    name: str | None = None,
    status: str = "connected",
) -> uuid.UUID:
    secrets: dict[str, Any] = {"client_secret": CLIENT_SECRET}
    if tokens is not None:
        secrets["oauth"] = {"default": tokens.to_json()}
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="acme",
            name=name or f"Acme {uuid.uuid4().hex[:6]}",
            status=status,
            status_message="" if status == "connected" else "Not signed in yet.",
            config=dict(CONFIG),
            secrets_ciphertext=box.seal(secrets),
        )
        session.add(connection)
        await session.flush()
        return connection.id


async def load(sessionmaker: async_sessionmaker[AsyncSession], connection_id: uuid.UUID) -> Connection:
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        return connection


async def view(
    sessionmaker: async_sessionmaker[AsyncSession], box: SecretBox, connection_id: uuid.UUID
) -> ConnectionView:
    connection = await load(sessionmaker, connection_id)
    return ConnectionView(
        id=connection.id,
        vendor=connection.vendor,
        name=connection.name,
        config=dict(connection.config),
        mappings=dict(connection.mappings),
        secrets=box.open(connection.secrets_ciphertext),
    )


async def outbound_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboundRequest]:
    async with session_scope(sessionmaker) as session:
        return list((await session.scalars(select(OutboundRequest).order_by(OutboundRequest.id))).all())


def assert_log_is_clean(rows: list[OutboundRequest], secrets: list[str]) -> None:
    """No secret value in any logged URL or excerpt."""
    assert rows
    for row in rows:
        text = f"{row.url}\n{row.request_excerpt}\n{row.response_excerpt}"
        for secret in secrets:
            assert secret not in text, f"{secret[:6]}… leaked in {row.method} {row.url}"

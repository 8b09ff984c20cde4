"""A sync world for engine tests: the Acme emulator, a connection signed in to it, a linked client.

Everything is real but the network: socdesk's HTTP base talks to the emulator's ASGI app in
process (``httpx.ASGITransport``), the database and Redis are the test servers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.connector import SyncRuntime
from portal.domain.sync.models import SyncState
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.domain.tickets.models import Ticket, TicketType
from portal.integrations.acme.emulator.state import AcmeState
from portal.integrations.oauth import OAuthTokens
from tests.integrations.oauth_support import CLIENT_ID, SCOPES, RecordingTransport, emulator, make_connection, token_set

WEBHOOK_SECRET = "whsec-test-0123456789abcdef"


async def no_sleep(seconds: float) -> None:
    return None


@dataclass
class World:
    app: Any
    state: AcmeState
    transport: RecordingTransport
    runtime: SyncRuntime
    sessionmaker: async_sessionmaker[AsyncSession]
    connection_id: uuid.UUID
    link_id: uuid.UUID
    client_id: uuid.UUID
    tenant: str

    def case(self, title: str, **fields: Any) -> str:
        return str(self.state.create_case(self.tenant, title=title, **fields).id)

    async def advance(self) -> engine.Step:
        return await engine.advance(self.runtime, self.connection_id, self.link_id, "cases")

    async def run_to_end(self, *, max_steps: int = 200) -> list[engine.Step]:
        """Advance until the run ends (transient failures just mean: call again)."""
        steps = []
        for _ in range(max_steps):
            step = await self.advance()
            steps.append(step)
            if step.outcome in ("finished", "failed", "skipped"):
                return steps
        raise AssertionError(f"the run did not end: {steps[-5:]}")

    async def sync_state(self) -> SyncState:
        state = await self.maybe_state()
        assert state is not None
        return state

    async def maybe_state(self) -> SyncState | None:
        async with session_scope(self.sessionmaker) as session:
            return await session.scalar(
                select(SyncState).where(SyncState.connection_id == self.connection_id, SyncState.entity == "cases")
            )

    async def watermark(self) -> datetime | None:
        return (await self.sync_state()).watermark

    async def tickets(self) -> list[Ticket]:
        async with session_scope(self.sessionmaker) as session:
            return list((await session.scalars(select(Ticket).where(Ticket.client_id == self.client_id))).all())

    async def links_per_case(self) -> dict[str, int]:
        async with session_scope(self.sessionmaker) as session:
            rows = await session.execute(
                select(ExternalLink.remote_id, func.count())
                .where(ExternalLink.connection_id == self.connection_id, ExternalLink.local_type == "ticket")
                .group_by(ExternalLink.remote_id)
            )
            return {remote_id.split("/", 1)[1]: count for remote_id, count in rows.all()}

    async def connection(self) -> Connection:
        async with session_scope(self.sessionmaker) as session:
            connection = await session.get(Connection, self.connection_id)
            assert connection is not None
            return connection


async def make_world(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    page_size: int = 2,
    http: httpx.AsyncClient | None = None,
    emulated: tuple[Any, AcmeState, RecordingTransport] | None = None,
    api_url: str | None = None,
) -> World:
    app, state, transport = emulated or emulator()
    box = SecretBox.from_settings(settings)
    client = http or httpx.AsyncClient(transport=transport)
    recorder = DatabaseRecorder(sessionmaker)
    runtime = SyncRuntime(
        settings=settings,
        sessionmaker=sessionmaker,
        http=client,
        box=box,
        recorder=recorder,
        tokens=OAuthTokens(sessionmaker, box, client, recorder),
        sleep=no_sleep,
    )
    tenant = f"t{uuid.uuid4().hex[:8]}"
    state.create_tenant(tenant, f"Tenant {tenant}")
    connection_id = await make_connection(
        sessionmaker, box, tokens=token_set(state.oauth.issue_tokens(CLIENT_ID, SCOPES))
    )
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name).limit(1))
        assert ticket_type is not None
        connection.mappings = {"ticket_type": str(ticket_type.id)}
        connection.config = {**connection.config, "page_size": page_size} | ({"api_url": api_url} if api_url else {})
        secrets = box.open(connection.secrets_ciphertext) | {"webhook_secret": WEBHOOK_SECRET}
        connection.secrets_ciphertext = box.seal(secrets)
        client_row = Client(name=f"Client {tenant}")
        client_row.sites = [Site(name="Head office", is_main=True)]
        session.add(client_row)
        await session.flush()
        link = ClientLink(
            connection_id=connection_id, client_id=client_row.id, remote_scope=tenant, settings={"tenant": tenant}
        )
        session.add(link)
        await session.flush()
        link_id, client_id = link.id, client_row.id
    return World(app, state, transport, runtime, sessionmaker, connection_id, link_id, client_id, tenant)


def ago(state: AcmeState, **delta: float) -> datetime:
    return state.now() - timedelta(**delta)

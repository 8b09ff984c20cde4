"""A SentinelOne world for tests: the emulator's ``usea1`` console in process, a socdesk connection to it.

Nothing on socdesk's side is stubbed: the engine, the HTTP base, the outbox relay and the
database are the real ones; httpx reaches the emulator app through ``ASGITransport``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.assets.models import Asset, AssetGroup, AssetType
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.connector import SyncRuntime, open_connection
from portal.domain.sync.models import SyncState, SyncTrigger
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.domain.tickets.models import Priority, Ticket, TicketType
from portal.integrations.oauth import OAuthTokens
from portal.integrations.sentinelone.client import SentinelOneApi
from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES
from portal.integrations.sentinelone.emulator.state import S1State
from portal.integrations.sentinelone.manifest import MANIFEST

CONSOLE_URL = "http://usea1.s1.test"
FIXTURE = CONSOLES["usea1"]


async def no_sleep(seconds: float) -> None:
    return None


@dataclass
class S1World:
    state: S1State
    http: httpx.AsyncClient
    runtime: SyncRuntime
    sessionmaker: async_sessionmaker[AsyncSession]
    connection_id: uuid.UUID

    async def run(self, entity: str, *, trigger: SyncTrigger = SyncTrigger.SCHEDULE) -> list[engine.Step]:
        steps = []
        for _ in range(200):
            step = await engine.advance(self.runtime, self.connection_id, None, entity, trigger=trigger)
            steps.append(step)
            if step.outcome in ("finished", "failed", "skipped"):
                return steps
        raise AssertionError(f"the run did not end: {steps[-5:]}")

    async def mappings(self, **changes: Any) -> None:
        async with session_scope(self.sessionmaker) as session:
            connection = await session.get(Connection, self.connection_id)
            assert connection is not None
            connection.mappings = {**connection.mappings, **changes}

    async def connection(self) -> Connection:
        async with session_scope(self.sessionmaker) as session:
            connection = await session.get(Connection, self.connection_id)
            assert connection is not None
            return connection

    async def api(self) -> SentinelOneApi:
        api = open_connection(self.runtime, await self.connection()).api
        assert isinstance(api, SentinelOneApi)
        return api

    async def set_token(self, token: str) -> None:
        async with session_scope(self.sessionmaker) as session:
            connection = await session.get(Connection, self.connection_id)
            assert connection is not None
            connection.secrets_ciphertext = self.runtime.box.seal({"api_token": token})

    async def client_named(self, name: str, *sites: str) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
        """A client with a main site and ``sites``; returns its id and its sites' ids by name."""
        async with session_scope(self.sessionmaker) as session:
            client = Client(name=name)
            client.sites = [Site(name="Main", is_main=True), *(Site(name=site) for site in sites)]
            session.add(client)
            await session.flush()
            return client.id, {site.name: site.id for site in client.sites}

    async def link(
        self, client_id: uuid.UUID, remote_id: str, kind: str = "account", site_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        async with session_scope(self.sessionmaker) as session:
            link = ClientLink(
                connection_id=self.connection_id,
                client_id=client_id,
                site_id=site_id,
                remote_scope=remote_id,
                settings={"s1_id": remote_id, "kind": kind},
            )
            session.add(link)
            await session.flush()
            return link.id

    async def tickets(self) -> list[Ticket]:
        async with session_scope(self.sessionmaker) as session:
            return list((await session.scalars(select(Ticket).order_by(Ticket.number))).all())

    async def ticket_of(self, kind: str, remote_id: str) -> Ticket | None:
        async with session_scope(self.sessionmaker) as session:
            return await session.scalar(
                select(Ticket)
                .join(ExternalLink, ExternalLink.local_id == Ticket.id)
                .where(
                    ExternalLink.connection_id == self.connection_id,
                    ExternalLink.remote_type == kind,
                    ExternalLink.remote_id == remote_id,
                )
            )

    async def assets(self) -> list[Asset]:
        async with session_scope(self.sessionmaker) as session:
            return list((await session.scalars(select(Asset).order_by(Asset.name))).all())

    async def asset_of(self, agent_id: str) -> Asset | None:
        async with session_scope(self.sessionmaker) as session:
            return await session.scalar(
                select(Asset)
                .join(ExternalLink, ExternalLink.local_id == Asset.id)
                .where(
                    ExternalLink.connection_id == self.connection_id,
                    ExternalLink.remote_type == "agent",
                    ExternalLink.remote_id == agent_id,
                )
            )

    async def state_of(self, entity: str) -> SyncState:
        async with session_scope(self.sessionmaker) as session:
            found = await session.scalar(
                select(SyncState).where(SyncState.connection_id == self.connection_id, SyncState.entity == entity)
            )
            assert found is not None
            return found

    def open_threats(self) -> list[str]:
        return sorted(t.id for t in self.state.threats.values() if t.info["incidentStatus"] != "resolved")

    def open_alerts(self) -> list[str]:
        return sorted(a.id for a in self.state.alerts.values() if a.info["incidentStatus"] != "Resolved")

    def account_id(self, name: str) -> str:
        return FIXTURE.account(name).id

    def site_id(self, name: str) -> str:
        return FIXTURE.site(name).id


async def reference_ids(session: AsyncSession) -> dict[str, str]:
    ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
    asset_type = await session.scalar(select(AssetType).where(AssetType.name == "Workstation"))
    group = await session.scalar(select(AssetGroup).where(AssetGroup.name == "Endpoints"))
    assert ticket_type is not None
    assert asset_type is not None
    assert group is not None
    return {
        "ticket_type": str(ticket_type.id),
        "default_asset_type": str(asset_type.id),
        "default_asset_group": str(group.id),
    }


async def priority_named(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> uuid.UUID:
    async with session_scope(sessionmaker) as session:
        found = await session.scalar(select(Priority.id).where(Priority.name == name))
        assert found is not None
        return found


async def make_world(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], state: S1State, http: httpx.AsyncClient
) -> S1World:
    box = SecretBox.from_settings(settings)
    recorder = DatabaseRecorder(sessionmaker)
    runtime = SyncRuntime(
        settings=settings,
        sessionmaker=sessionmaker,
        http=http,
        box=box,
        recorder=recorder,
        tokens=OAuthTokens(sessionmaker, box, http, recorder),
        sleep=no_sleep,
    )
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="sentinelone",
            name=f"SentinelOne {uuid.uuid4().hex[:6]}",
            config={"console_url": CONSOLE_URL, "page_size": 5, "alert_lookback_days": 3},
            mappings={"matching_method": "account", **await reference_ids(session)},
            schedules=MANIFEST.default_schedules(),
            secrets_ciphertext=box.seal({"api_token": FIXTURE.token.token}),
        )
        session.add(connection)
        await session.flush()
        connection_id = connection.id
    return S1World(state, http, runtime, sessionmaker, connection_id)


@pytest.fixture
async def s1(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[S1World]:
    app, state = create_emulator(console="usea1")
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport) as http:
        yield await make_world(settings, sessionmaker, state, http)

"""A Sentinel sync world for engine tests: the emulator in process, a connection signed in to both demo
customer tenants, and a client linked to Northwind's workspace (real database, real HTTP base)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.connector import SyncRuntime
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.domain.tickets.models import Priority, Ticket, TicketType
from portal.integrations.oauth import OAuthTokens, TokenSet
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.fixtures import DemoTenant
from portal.integrations.sentinel.emulator.model import Incident
from portal.integrations.sentinel.emulator.state import SentinelState
from portal.integrations.sentinel.manifest import workspace_scope

BASE = "http://ms.test"
ARM_SCOPE = "https://management.azure.com/user_impersonation"
WEBHOOK_SECRET = "whsec-sentinel-0123456789abcdef"
NORTHWIND, WOODGROVE = fixtures.TENANTS


async def no_sleep(seconds: float) -> None:
    return None


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.before: Callable[[httpx.Request], None] | None = None  # e.g. someone else writes first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        if self.before is not None:
            self.before(request)
        return await self.inner.handle_async_request(request)

    def paths(self, contains: str) -> list[httpx.Request]:
        return [request for request in self.requests if contains in request.url.path]


def token_set(state: SentinelState, tenant: DemoTenant) -> TokenSet:
    answer = state.identity.issue_user_tokens(
        fixtures.DEMO_CLIENT_ID, tenant.admin_upn, [ARM_SCOPE, "offline_access", "openid", "profile"], BASE
    )
    from datetime import timedelta

    return TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_at=utcnow() + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scope=str(answer.get("scope", "")),
        claims={"tid": tenant.tenant_id},
    )


@dataclass
class World:
    app: Any
    state: SentinelState
    transport: Recording
    runtime: SyncRuntime
    sessionmaker: async_sessionmaker[AsyncSession]
    connection_id: uuid.UUID
    link_id: uuid.UUID
    client_id: uuid.UUID
    tenant: DemoTenant

    @property
    def workspace(self) -> Any:
        return self.state.workspace(self.tenant.workspace)

    def raise_incident(self, title: str, **properties: Any) -> Incident:
        return self.state.create_incident(
            self.workspace, {"title": title, "severity": "High", "status": "New", **properties}
        )

    async def advance(self) -> engine.Step:
        return await engine.advance(self.runtime, self.connection_id, self.link_id, "incidents")

    async def run_to_end(self, *, max_steps: int = 300) -> list[engine.Step]:
        steps = []
        for _ in range(max_steps):
            step = await self.advance()
            steps.append(step)
            if step.outcome in ("finished", "failed", "skipped"):
                return steps
        raise AssertionError(f"the run did not end: {steps[-5:]}")

    async def tickets(self) -> list[Ticket]:
        async with session_scope(self.sessionmaker) as session:
            return list((await session.scalars(select(Ticket).where(Ticket.client_id == self.client_id))).all())

    async def ticket_of(self, incident_name: str) -> Ticket:
        async with session_scope(self.sessionmaker) as session:
            link = await session.scalar(
                select(ExternalLink).where(
                    ExternalLink.connection_id == self.connection_id,
                    ExternalLink.local_type == "ticket",
                    ExternalLink.remote_id.endswith("/" + incident_name),
                )
            )
            assert link is not None, incident_name
            ticket = await session.get(Ticket, link.local_id)
            assert ticket is not None
            return ticket

    async def links_per_incident(self) -> dict[str, int]:
        async with session_scope(self.sessionmaker) as session:
            rows = await session.execute(
                select(ExternalLink.remote_id, func.count())
                .where(ExternalLink.connection_id == self.connection_id, ExternalLink.local_type == "ticket")
                .group_by(ExternalLink.remote_id)
            )
            return {remote_id.rsplit("/", 1)[1]: count for remote_id, count in rows.all()}

    async def connection(self) -> Connection:
        async with session_scope(self.sessionmaker) as session:
            connection = await session.get(Connection, self.connection_id)
            assert connection is not None
            return connection


async def default_mappings(session: AsyncSession) -> dict[str, Any]:
    ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
    assert ticket_type is not None
    priorities = {p.rank: p.id for p in (await session.scalars(select(Priority))).all()}
    return {
        "ticket_type": str(ticket_type.id),
        "default_classification": "FalsePositive",
        "default_reason": "InaccurateData",
        "priority_High": str(priorities[2]),
        "priority_Medium": str(priorities[3]),
        "priority_Low": str(priorities[4]),
        "priority_Informational": str(priorities[4]),
    }


async def make_world(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    page_size: int = 5,
    tenant: DemoTenant = NORTHWIND,
    settings_extra: Mapping[str, Any] | None = None,
    state: SentinelState | None = None,
) -> World:
    app, state = create_emulator(state or SentinelState())
    transport = Recording(httpx.ASGITransport(app=app))  # type: ignore[arg-type]
    http = httpx.AsyncClient(transport=transport)
    box = SecretBox.from_settings(settings)
    recorder = DatabaseRecorder(sessionmaker)
    runtime = SyncRuntime(
        settings=settings, sessionmaker=sessionmaker, http=http, box=box, recorder=recorder,
        tokens=OAuthTokens(sessionmaker, box, http, recorder), sleep=no_sleep,
    )  # fmt: skip
    secrets = {
        "client_secret": fixtures.DEMO_CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "oauth": {t.tenant_id: token_set(state, t).to_json() for t in fixtures.TENANTS},
    }
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="sentinel", name=f"Sentinel {uuid.uuid4().hex[:6]}", status="connected",
            config={"client_id": fixtures.DEMO_CLIENT_ID, "cloud": "public", "login_url": BASE, "arm_url": BASE,
                    "api_version": "2025-06-01", "page_size": page_size},
            mappings=await default_mappings(session), secrets_ciphertext=box.seal(secrets),
        )  # fmt: skip
        session.add(connection)
        client_row = Client(name=tenant.client_name)
        client_row.sites = [Site(name="Head office", is_main=True)]
        session.add(client_row)
        await session.flush()
        link = ClientLink(
            connection_id=connection.id, client_id=client_row.id,
            remote_scope=workspace_scope(tenant.subscription_id, tenant.resource_group, tenant.workspace),
            settings={"tenant_id": tenant.tenant_id, "subscription_id": tenant.subscription_id,
                      "resource_group": tenant.resource_group, "workspace_name": tenant.workspace,
                      **(settings_extra or {})},
        )  # fmt: skip
        session.add(link)
        await session.flush()
        ids = connection.id, link.id, client_row.id
    return World(app, state, transport, runtime, sessionmaker, *ids, tenant)

"""The demo's two SentinelOne connections: mapped to the demo clients, syncing out of the box, with activity."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.clients.models import Client
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.connector import SyncRuntime
from portal.domain.sync.models import SyncState
from portal.domain.sync.outbound_log import DatabaseRecorder
from portal.domain.sync.schedule import due_scopes
from portal.domain.tickets.models import Ticket
from portal.integrations.oauth import OAuthTokens
from portal.integrations.sentinelone.demo import CONNECTIONS, demo_activity, ensure_demo_connection
from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import UNMAPPED
from portal.integrations.sentinelone.emulator.state import S1State
from portal.runtime.demo_data import STAFF, seed_demo_data
from tests.integrations.sentinelone.conftest import no_sleep

URLS = {"sentinelone": "http://usea1.demo.test", "sentinelone-eu": "http://euce1.demo.test"}


class ByHost(httpx.AsyncBaseTransport):
    """One in-process emulator per console address, as the demo serves one per port."""

    def __init__(self, routes: dict[str, httpx.ASGITransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.host].handle_async_request(request)


@pytest.fixture
async def consoles(settings, sessionmaker) -> AsyncIterator[tuple[SyncRuntime, dict[str, S1State]]]:
    states, routes = {}, {}
    for vendor, (key, _) in CONNECTIONS.items():
        app, state = create_emulator(console=key)
        states[vendor] = state
        routes[httpx.URL(URLS[vendor]).host] = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    box = SecretBox.from_settings(settings)
    async with httpx.AsyncClient(transport=ByHost(routes)) as http:
        recorder = DatabaseRecorder(sessionmaker)
        tokens = OAuthTokens(sessionmaker, box, http, recorder)
        yield SyncRuntime(settings, sessionmaker, http, box, recorder, tokens, sleep=no_sleep), states


async def _ensure(runtime: SyncRuntime) -> None:
    async with session_scope(runtime.sessionmaker) as session:
        for vendor in CONNECTIONS:
            await ensure_demo_connection(session, runtime.box, vendor, URLS[vendor])


async def _run_all(runtime: SyncRuntime) -> None:
    async with session_scope(runtime.sessionmaker) as session:
        due = await due_scopes(session, utcnow())
    for scope in due:
        for _ in range(100):
            step = await engine.advance(runtime, scope.connection_id, scope.client_link_id, scope.entity)
            if not step.more:
                break


def _imported() -> Any:
    """Tickets the demo connections imported (the seeded history has SentinelOne tickets of its own)."""
    return (
        select(Ticket)
        .join(ExternalLink, ExternalLink.local_id == Ticket.id)
        .join(Connection, Connection.id == ExternalLink.connection_id)
        .where(Connection.vendor == "sentinelone")
    )


async def test_the_demo_connections_are_mapped_and_sync_on_their_own(consoles, sessionmaker) -> None:
    runtime, states = consoles
    async with session_scope(sessionmaker) as session:
        await seed_demo_data(session, {email: "demo-password-0123" for email, *_ in STAFF}, tickets=10)
    await _ensure(runtime)
    await _ensure(runtime)  # every demo start: the same connections and links, none twice
    async with session_scope(sessionmaker) as session:
        connections = (await session.scalars(select(Connection).where(Connection.vendor == "sentinelone"))).all()
        assert sorted(c.name for c in connections) == ["SentinelOne EU (demo)", "SentinelOne US (demo)"]
        links = (await session.scalars(select(ClientLink))).all()
        names = {c.id: c.name for c in (await session.scalars(select(Client))).all()}
    linked = {names[link.client_id] for link in links}
    assert "Northwind Traders" in linked
    assert "Woodgrove Credit Union" in linked
    assert not set(UNMAPPED.values()) & linked
    assert len({(link.connection_id, link.remote_scope) for link in links}) == len(links)

    await _run_all(runtime)  # what the scheduler queues first: every entity of both connections is due
    async with session_scope(sessionmaker) as session:
        tickets = (await session.scalars(_imported())).all()
    assert tickets
    assert {names[ticket.client_id] for ticket in tickets} <= linked

    before = len(tickets)
    for vendor, state in states.items():
        rng = random.Random(vendor)
        for _ in range(5):  # some may land on unmapped endpoints (held back); most on the demo clients'
            demo_activity(state, rng)
    async with session_scope(sessionmaker) as session:  # the threats and alerts are due again
        await session.execute(update(SyncState).where(SyncState.entity != "agents").values(next_run_at=utcnow()))
    await _run_all(runtime)
    async with session_scope(sessionmaker) as session:
        after = (await session.scalars(_imported())).all()
    assert len(after) > before

"""The demo's Sentinel connection: signed in to both emulated customer tenants, linked to their demo
clients, importing on its own; the activity loop's changes reach socdesk's webhook through the Logic App."""

from __future__ import annotations

import random

import httpx
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync import engine
from portal.domain.sync.connector import build_runtime
from portal.domain.tickets.models import Ticket
from portal.integrations.oauth import accounts
from portal.integrations.sentinel.demo import CONNECTION, demo_activity, ensure_demo_connection
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.state import SentinelState

URL = "http://ms.test"


async def test_the_demo_connection_syncs_both_tenants_out_of_the_box(settings: Settings, sessionmaker) -> None:
    app, state = create_emulator(SentinelState())
    box = SecretBox.from_settings(settings)
    async with session_scope(sessionmaker) as session:
        for tenant in fixtures.TENANTS:
            client = Client(name=tenant.client_name)
            client.sites = [Site(name="Head office", is_main=True)]
            session.add(client)
    for _ in range(2):  # every demo start runs it again: nothing is duplicated
        async with session_scope(sessionmaker) as session:
            await ensure_demo_connection(session, box, settings, URL, state)
    async with session_scope(sessionmaker) as session:
        connection = await session.scalar(select(Connection).where(Connection.name == CONNECTION))
        assert connection is not None
        links = (await session.scalars(select(ClientLink).where(ClientLink.connection_id == connection.id))).all()
    assert connection.status == "connected"
    assert set(accounts(box.open(connection.secrets_ciphertext))) == {t.tenant_id for t in fixtures.TENANTS}
    assert sorted(link.settings["workspace_name"] for link in links) == sorted(t.workspace for t in fixtures.TENANTS)
    hooks = {app_.url for app_ in state.logic_apps.apps.values()}
    assert hooks == {f"{settings.public_url.rstrip('/')}/hooks/{connection.id}"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:  # type: ignore[arg-type]
        runtime = build_runtime(settings, sessionmaker, http)
        for link in links:
            for _ in range(100):
                step = await engine.advance(runtime, connection.id, link.id, "incidents")
                if step.outcome != "page":
                    break
            assert step.outcome == "finished", step.message
    async with session_scope(sessionmaker) as session:
        per_client = {
            client.name: len((await session.scalars(select(Ticket).where(Ticket.client_id == client.id))).all())
            for client in (await session.scalars(select(Client))).all()
        }
    assert all(count > 0 for count in per_client.values()), per_client

    # The activity loop: a customer's SOC raises or comments, the Logic App posts it to socdesk's webhook.
    seen: list[httpx.Request] = []

    def received(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    state.logic_apps.transport = httpx.MockTransport(received)
    state.logic_apps.sleep = _no_sleep
    for _ in range(3):
        await demo_activity(state, random.Random(7))
    assert seen
    assert all(request.headers["x-portal-signature"] for request in seen)


async def _no_sleep(seconds: float) -> None:
    return None

"""The demo's integrations: vendor emulators served beside socdesk, with connections ready to sync.

Emulator state lives in memory, so every demo start signs the connections in again (tokens are
minted by the emulator's own authorization server), points them at this run's emulator
addresses, and subscribes socdesk's webhook address. "Reconnect" works too: the emulator's
sign-in page accepts the demo's redirect address. A small activity loop raises a case now and
then, as the vendor's own users would, so the demo has something to sync while it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.domain.clients.models import Client
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.tickets.models import Priority, TicketType
from portal.integrations.acme.emulator.fixtures import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from portal.integrations.acme.emulator.state import AcmeState
from portal.integrations.acme.manifest import MANIFEST as ACME
from portal.integrations.emulation.catalog import EMULATORS
from portal.integrations.oauth import TokenSet, store_tokens
from portal.integrations.sentinel.demo import demo_activity as sentinel_activity
from portal.integrations.sentinel.demo import ensure_demo_connection as ensure_sentinel
from portal.integrations.sentinel.manifest import MANIFEST as SENTINEL
from portal.integrations.sentinelone.demo import CONNECTIONS as SENTINELONE_CONSOLES
from portal.integrations.sentinelone.demo import demo_activity as sentinelone_activity
from portal.integrations.sentinelone.demo import ensure_demo_connection as ensure_sentinelone

log = logging.getLogger(__name__)

ACME_CONNECTION = "Acme Cases (demo)"
ACME_LINKS = {"Contoso Dental Group": "contoso", "Fabrikam Legal LLP": "fabrikam"}
ACTIVITY_SECONDS = 90


@dataclass
class RunningEmulator:
    vendor: str
    state: Any
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]


async def start_emulators(host: str, first_port: int) -> list[RunningEmulator]:
    running = []
    for offset, (vendor, factory) in enumerate(sorted(EMULATORS.items())):
        app, state = factory()
        port = first_port + offset
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110  (uvicorn offers no event)
            await asyncio.sleep(0.05)
        running.append(RunningEmulator(vendor, state, f"http://{host}:{port}", server, task))
        log.info("%s emulator on http://%s:%s", vendor, host, port)
    return running


async def stop_emulators(running: list[RunningEmulator]) -> None:
    for emulator in running:
        emulator.server.should_exit = True
    for emulator in running:
        with contextlib.suppress(asyncio.CancelledError):
            await emulator.task


async def _acme_mappings(session: AsyncSession) -> dict[str, str]:
    # "Alert" has no fields required on close, so closures made in Acme always apply.
    ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
    ticket_type = ticket_type or await session.scalar(select(TicketType).order_by(TicketType.name).limit(1))
    assert ticket_type is not None
    mappings = {"ticket_type": str(ticket_type.id)}
    by_rank = {priority.rank: priority for priority in (await session.scalars(select(Priority))).all()}
    for key, rank in (("priority_high", 2), ("priority_medium", 3), ("priority_low", 4)):
        if rank in by_rank:
            mappings[key] = str(by_rank[rank].id)
    return mappings


async def _ensure_acme(session: AsyncSession, box: SecretBox, settings: Settings, emulator: RunningEmulator) -> None:
    state: AcmeState = emulator.state
    public = settings.public_url.rstrip("/")
    state.oauth.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [f"{public}/authcallback"], name="socdesk demo")
    connection = await session.scalar(select(Connection).where(Connection.name == ACME_CONNECTION))
    if connection is None:
        connection = Connection(
            vendor=ACME.vendor,
            name=ACME_CONNECTION,
            mappings=await _acme_mappings(session),
            schedules={**ACME.default_schedules(), "cases": {"enabled": True, "minutes": 2}},
        )
        session.add(connection)
        await session.flush()
    connection.config = {
        **connection.config,
        "api_url": emulator.url,
        "login_url": emulator.url,
        "client_id": DEMO_CLIENT_ID,
        "page_size": connection.config.get("page_size", 50),
    }
    stored = box.open(connection.secrets_ciphertext)
    webhook_secret = stored.get("webhook_secret") or secrets.token_urlsafe(32)
    connection.secrets_ciphertext = box.seal(
        {**stored, "client_secret": DEMO_CLIENT_SECRET, "webhook_secret": webhook_secret}
    )
    if connection.webhook_secret_set_at is None:
        connection.webhook_secret_set_at = connection.created_at
    answer = state.oauth.issue_tokens(DEMO_CLIENT_ID, list(ACME.oauth.scopes if ACME.oauth else ()))
    tokens = TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_at=utcnow() + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scope=str(answer.get("scope", "")),
    )
    await store_tokens(session, box, connection, tokens)
    if connection.status != ConnectionStatus.DISABLED:
        connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""

    clients = {client.name: client for client in (await session.scalars(select(Client))).all()}
    linked = {
        link.remote_scope
        for link in (await session.scalars(select(ClientLink).where(ClientLink.connection_id == connection.id))).all()
    }
    for client_name, tenant in ACME_LINKS.items():
        if tenant not in linked and client_name in clients:
            session.add(
                ClientLink(
                    connection_id=connection.id,
                    client_id=clients[client_name].id,
                    remote_scope=tenant,
                    remote_name=state.tenant(tenant).name,
                    settings={"tenant": tenant},
                )
            )
    state.webhooks.url = f"{public}/hooks/{connection.id}"
    state.webhooks.secret = webhook_secret


async def ensure_demo_connections(settings: Settings, database_url: str, running: list[RunningEmulator]) -> None:
    engine = make_engine(database_url, pool_size=1)
    box = SecretBox.from_settings(settings)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            for emulator in running:
                if emulator.vendor == ACME.vendor:
                    await _ensure_acme(session, box, settings, emulator)
                elif emulator.vendor in SENTINELONE_CONSOLES:
                    await ensure_sentinelone(session, box, emulator.vendor, emulator.url)
                elif emulator.vendor == SENTINEL.vendor:
                    await ensure_sentinel(session, box, settings, emulator.url, emulator.state)
    finally:
        await engine.dispose()


TITLES = (
    "Suspicious PowerShell on {host}",
    "Impossible travel for {user}",
    "Mass file rename on {host}",
    "New inbox forwarding rule for {user}",
    "Brute-force sign-ins against {user}",
)


async def demo_activity(running: list[RunningEmulator], *, every: float = ACTIVITY_SECONDS) -> None:
    """Now and then a vendor-side analyst raises a case (which the emulator pushes as a webhook)."""
    rng = random.Random()  # noqa: S311  (demo data, not security)
    while True:
        await asyncio.sleep(every)
        for emulator in running:
            if emulator.vendor in SENTINELONE_CONSOLES:
                sentinelone_activity(emulator.state, rng)
            if emulator.vendor == SENTINEL.vendor:
                await sentinel_activity(emulator.state, rng)
            if emulator.vendor != ACME.vendor:
                continue
            state: AcmeState = emulator.state
            tenant = rng.choice(sorted(ACME_LINKS.values()))
            title = rng.choice(TITLES).format(host=f"WS{rng.randint(100, 999)}", user=f"user{rng.randint(1, 40)}")
            state.create_case(tenant, title=title, severity=rng.choice(["high", "medium", "low"]))
            await state.webhooks.flush()

"""An Acme Cases emulator and a connection to it in a benchmark database (the shape the demo uses)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bench.common import BenchEnv
from portal.db.base import utcnow
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.tickets.models import TicketType
from portal.integrations.acme.emulator.app import create_emulator
from portal.integrations.acme.emulator.fixtures import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from portal.integrations.acme.emulator.state import AcmeState
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.oauth import TokenSet, store_tokens

TENANT = "benchmark"


@dataclass
class AcmeSetup:
    app: Any
    state: AcmeState
    connection_id: uuid.UUID
    link_id: uuid.UUID
    client_id: uuid.UUID
    webhook_secret: str


async def acme_connection(env: BenchEnv, api_url: str, *, page_size: int = 500, public_url: str = "") -> AcmeSetup:
    """A connection signed in to a fresh emulator (reached at ``api_url``), linked to one client."""
    app, state = create_emulator()
    state.oauth.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [f"{public_url}/authcallback"], name="bench")
    state.create_tenant(TENANT, "Benchmark tenant")
    box = SecretBox.from_settings(env.settings)
    webhook_secret = secrets.token_urlsafe(32)
    engine = make_engine(env.database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
            assert ticket_type is not None
            connection = Connection(
                vendor=MANIFEST.vendor,
                name="Acme Cases (benchmark)",
                mappings={"ticket_type": str(ticket_type.id)},
                schedules=MANIFEST.default_schedules(),
                config={"api_url": api_url, "login_url": api_url, "client_id": DEMO_CLIENT_ID, "page_size": page_size},
                secrets_ciphertext=box.seal({"client_secret": DEMO_CLIENT_SECRET, "webhook_secret": webhook_secret}),
                webhook_secret_set_at=utcnow(),
            )
            session.add(connection)
            await session.flush()
            answer = state.oauth.issue_tokens(DEMO_CLIENT_ID, list(MANIFEST.oauth.scopes if MANIFEST.oauth else ()))
            tokens = TokenSet(
                access_token=answer["access_token"],
                refresh_token=answer.get("refresh_token"),
                expires_at=utcnow() + timedelta(seconds=int(answer.get("expires_in", 3600))),
                scope=str(answer.get("scope", "")),
            )
            await store_tokens(session, box, connection, tokens)
            client = Client(name="Benchmark client", sites=[Site(name="Head office", is_main=True)])
            session.add(client)
            await session.flush()
            link = ClientLink(
                connection_id=connection.id, client_id=client.id, remote_scope=TENANT, settings={"tenant": TENANT}
            )
            session.add(link)
            await session.flush()
            ids = connection.id, link.id, client.id
    finally:
        await engine.dispose()
    if public_url:
        state.webhooks.url = f"{public_url}/hooks/{ids[0]}"
        state.webhooks.secret = webhook_secret
    return AcmeSetup(app, state, *ids, webhook_secret)

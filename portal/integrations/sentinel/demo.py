"""The demo's Sentinel connection: signed in to the emulator's two customer tenants, linked to their clients.

Emulator state lives in memory, so every demo start signs each tenant in again (tokens minted by
the emulator's identity platform for the tenant's MSP administrator), points the connection at
this run's emulator address, and subscribes each workspace's Logic App to socdesk's webhook.
"Sign in with Microsoft" works too: the emulator accepts the demo's redirect address, and every
fixture user's password is the published demo one.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.base import utcnow
from portal.domain.clients.models import Client
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.tickets.models import Priority, TicketType
from portal.integrations.oauth import TokenSet, store_tokens
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.logicapp import LogicApp
from portal.integrations.sentinel.emulator.state import SentinelState
from portal.integrations.sentinel.manifest import DEFAULT_API_VERSION, MANIFEST, arm_scope, workspace_scope
from portal.integrations.sentinel.webhook import SECRET_HEADERS

CONNECTION = "Microsoft Sentinel (demo)"


async def _mappings(session: AsyncSession) -> dict[str, object]:
    # "Alert" has no fields required on close, so closures made in Sentinel always apply.
    ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
    ticket_type = ticket_type or await session.scalar(select(TicketType.id).order_by(TicketType.name).limit(1))
    by_rank = {priority.rank: priority.id for priority in (await session.scalars(select(Priority))).all()}
    fallback = by_rank[max(by_rank)] if by_rank else None
    ranks = {"High": 2, "Medium": 3, "Low": 4, "Informational": 4}
    return {
        "ticket_type": str(ticket_type),
        "default_classification": "FalsePositive",
        "default_reason": "InaccurateData",
        **{f"priority_{severity}": str(by_rank.get(rank, fallback)) for severity, rank in ranks.items()},
        "match_owner": True,
        "custom_fields": [],
    }


def _tokens(state: SentinelState, tenant: fixtures.DemoTenant, url: str) -> TokenSet:
    answer = state.identity.issue_user_tokens(
        fixtures.DEMO_CLIENT_ID, tenant.admin_upn, [arm_scope("public"), "offline_access", "openid", "profile"], url
    )
    return TokenSet(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token"),
        expires_at=utcnow() + timedelta(seconds=int(answer.get("expires_in", 3600))),
        scope=str(answer.get("scope", "")),
        claims={
            "tid": tenant.tenant_id,
            "name": f"MSP admin ({tenant.display_name})",
            "preferred_username": tenant.admin_upn,
        },
    )


async def ensure_demo_connection(
    session: AsyncSession, box: SecretBox, settings: Settings, url: str, state: SentinelState
) -> None:
    """Created once; pointed at this run's emulator, signed in and subscribed on every start."""
    public = settings.public_url.rstrip("/")
    state.identity.register_client(
        fixtures.DEMO_CLIENT_ID, fixtures.DEMO_CLIENT_SECRET,
        [*fixtures.DEMO_REDIRECT_URIS, f"{public}/authcallback"], name=fixtures.DEMO_APP_NAME,
    )  # fmt: skip
    connection = await session.scalar(select(Connection).where(Connection.name == CONNECTION))
    if connection is None:
        connection = Connection(
            vendor=MANIFEST.vendor,
            name=CONNECTION,
            mappings=await _mappings(session),
            schedules={**MANIFEST.default_schedules(), "incidents": {"enabled": True, "minutes": 60}},
        )
        session.add(connection)
        await session.flush()
    connection.config = {
        **connection.config,
        "client_id": fixtures.DEMO_CLIENT_ID,
        "cloud": "public",
        "login_url": url,
        "arm_url": url,
        "api_version": connection.config.get("api_version", DEFAULT_API_VERSION),
        "page_size": connection.config.get("page_size", 50),
    }
    stored = box.open(connection.secrets_ciphertext)
    webhook_secret = stored.get("webhook_secret") or secrets.token_urlsafe(32)
    connection.secrets_ciphertext = box.seal(
        {**stored, "client_secret": fixtures.DEMO_CLIENT_SECRET, "webhook_secret": webhook_secret}
    )
    if connection.webhook_secret_set_at is None:
        connection.webhook_secret_set_at = connection.created_at
    for tenant in fixtures.TENANTS:
        await store_tokens(session, box, connection, _tokens(state, tenant, url), tenant.tenant_id)
    if connection.status != ConnectionStatus.DISABLED:
        connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""

    clients = {client.name: client for client in (await session.scalars(select(Client))).all()}
    existing = (await session.scalars(select(ClientLink).where(ClientLink.connection_id == connection.id))).all()
    for link in existing:  # links made before remote scopes were whole workspace paths
        link.remote_scope = workspace_scope(
            str(link.settings.get("subscription_id") or ""), str(link.settings.get("resource_group") or ""),
            str(link.settings.get("workspace_name") or ""),
        )  # fmt: skip
    linked = {link.client_id for link in existing}
    for tenant in fixtures.TENANTS:
        client = clients.get(tenant.client_name)
        if client is not None and client.id not in linked:
            session.add(
                ClientLink(
                    connection_id=connection.id,
                    client_id=client.id,
                    remote_scope=workspace_scope(tenant.subscription_id, tenant.resource_group, tenant.workspace),
                    remote_name=tenant.display_name,
                    settings={
                        "tenant_id": tenant.tenant_id,
                        "subscription_id": tenant.subscription_id,
                        "resource_group": tenant.resource_group,
                        "workspace_name": tenant.workspace,
                    },
                )
            )
        # The automation rule's playbook: POST the incident to socdesk's webhook, with the secret.
        state.logic_apps.apps[tenant.workspace.lower()] = LogicApp(
            url=f"{public}/hooks/{connection.id}", headers={SECRET_HEADERS[0]: webhook_secret}
        )


async def demo_activity(state: SentinelState, rng: random.Random) -> None:
    """A customer's SOC at work: a new incident now and then, or a comment; the Logic App pushes it."""
    fixtures.demo_activity_step(state, rng)
    await state.logic_apps.flush()

"""The demo's two SentinelOne connections, one per emulated console, mapped and ready to sync.

``usea1`` has an account per customer (account matching) and ``euce1`` one account with a site
per customer (site matching); each fixture account or site named like a demo client is mapped
to it, and one of each console is left unmapped, so the Customers tab has something to list.
"""

from __future__ import annotations

import random
import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.tickets.models import TicketType
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES, raise_demo_alert, raise_demo_threat
from portal.integrations.sentinelone.emulator.state import S1State
from portal.integrations.sentinelone.manifest import MANIFEST

CONNECTIONS = {"sentinelone": ("usea1", "SentinelOne US (demo)"), "sentinelone-eu": ("euce1", "SentinelOne EU (demo)")}


async def _id(session: AsyncSession, statement: Select[uuid.UUID]) -> str:
    found = await session.scalar(statement)
    return str(found) if found else ""


async def _mappings(session: AsyncSession, matching: str) -> dict[str, object]:
    server = await _id(session, select(AssetType.id).where(AssetType.name == "Server"))
    laptop = await _id(session, select(AssetType.id).where(AssetType.name == "Laptop"))
    rules = [
        {"rule": "Servers", "field": "machineType", "operator": "equals", "value": "server", "asset_type": server},
        {"rule": "Laptops", "field": "machineType", "operator": "equals", "value": "laptop", "asset_type": laptop},
    ]
    return {
        "matching_method": matching,
        # "Alert" has no fields required on close, so resolutions made in SentinelOne always apply.
        "ticket_type": await _id(session, select(TicketType.id).where(TicketType.name == "Alert")),
        "default_asset_type": await _id(session, select(AssetType.id).where(AssetType.name == "Workstation")),
        "default_asset_group": await _id(session, select(AssetGroup.id).where(AssetGroup.name == "Endpoints")),
        "type_method": "rules",
        "type_rules": [rule for rule in rules if rule["asset_type"]],
        "asset_match_field": "device_uuid",
        "new_asset_status": "active",
        "deactivate_deleted": True,
    }


async def ensure_demo_connection(session: AsyncSession, box: SecretBox, emulator_vendor: str, url: str) -> None:
    """The connection to that emulated console: created once, pointed at this run's address every start."""
    key, name = CONNECTIONS[emulator_vendor]
    fixture = CONSOLES[key]
    connection = await session.scalar(select(Connection).where(Connection.name == name))
    if connection is None:
        connection = Connection(
            vendor=MANIFEST.vendor,
            name=name,
            mappings=await _mappings(session, fixture.matching),
            schedules={
                **MANIFEST.default_schedules(),
                "threats": {"enabled": True, "minutes": 2},
                "alerts": {"enabled": True, "minutes": 2},
            },
        )
        session.add(connection)
        await session.flush()
    connection.config = {**connection.config, "console_url": url, "page_size": 100, "alert_lookback_days": 3}
    connection.secrets_ciphertext = box.seal(
        {**box.open(connection.secrets_ciphertext), "api_token": fixture.token.token}
    )
    if connection.status != ConnectionStatus.DISABLED:
        connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""

    clients = {client.name: client.id for client in (await session.scalars(select(Client))).all()}
    linked = set(
        (await session.scalars(select(ClientLink.remote_scope).where(ClientLink.connection_id == connection.id))).all()
    )
    for account in fixture.accounts:
        scopes = [(account.id, account.name, "account")] if fixture.matching == "account" else []
        scopes += [(site.id, site.name, "site") for site in account.sites] if fixture.matching == "site" else []
        for remote_id, remote_name, kind in scopes:
            if remote_id in linked or remote_name not in clients:
                continue
            session.add(
                ClientLink(
                    connection_id=connection.id,
                    client_id=clients[remote_name],
                    remote_scope=remote_id,
                    remote_name=remote_name,
                    settings={"s1_id": remote_id, "kind": kind},
                )
            )
        if fixture.matching == "account" and account.name in clients:
            # Sites named like one of the client's sites file their endpoints and threats there.
            for site in account.sites:
                local = await session.scalar(
                    select(Site.id).where(
                        Site.client_id == clients[account.name], func.lower(Site.name) == site.name.lower()
                    )
                )
                if local is not None and site.id not in linked:
                    session.add(
                        ClientLink(
                            connection_id=connection.id,
                            client_id=clients[account.name],
                            site_id=local,
                            remote_scope=site.id,
                            remote_name=site.name,
                            settings={"s1_id": site.id, "kind": "site"},
                        )
                    )


def demo_activity(state: S1State, rng: random.Random) -> None:
    """What a console's endpoints do while the demo is open: a threat now and then, sometimes an alert."""
    raise_demo_threat(state, rng)
    if rng.random() < 0.4:
        raise_demo_alert(state, rng)

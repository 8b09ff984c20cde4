"""Sentinel pages in a real browser: the mappings (mandatory ones first, the classification pair refused,
then saved) and a ticket's Sentinel panel with the incident's alerts and entities read from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.connector import build_runtime
from portal.integrations.oauth import TokenSet
from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.state import SentinelState
from portal.integrations.sentinel.manifest import workspace_scope
from tests.conftest import TEST_PASSWORD
from tests.integrations.sentinel.world import ARM_SCOPE, default_mappings
from tests.serving import served

pytestmark = pytest.mark.browser
NORTHWIND = fixtures.TENANTS[0]


@pytest.fixture
def microsoft() -> Iterator[tuple[SentinelState, str]]:
    app, state = create_emulator(SentinelState())
    with served(app, what="the Sentinel emulator") as url:
        yield state, url


async def _sign_in(page: Any, live_server: str, user: User) -> None:
    await page.goto(f"{live_server}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")


async def _connection(settings: Settings, sessionmaker, state: SentinelState, url: str, *, mapped: bool) -> Connection:
    box = SecretBox.from_settings(settings)
    answer = state.identity.issue_user_tokens(
        fixtures.DEMO_CLIENT_ID, NORTHWIND.admin_upn, [ARM_SCOPE, "offline_access"], url
    )
    tokens = TokenSet(
        answer["access_token"],
        answer.get("refresh_token"),
        utcnow() + timedelta(hours=1),
        "",
        {"tid": NORTHWIND.tenant_id},
    )
    async with session_scope(sessionmaker) as session:
        connection = Connection(
            vendor="sentinel", name="Sentinel (browser)", status="connected",
            config={"client_id": fixtures.DEMO_CLIENT_ID, "cloud": "public", "login_url": url, "arm_url": url},
            mappings=await default_mappings(session) if mapped else {},
            secrets_ciphertext=box.seal(
                {"client_secret": fixtures.DEMO_CLIENT_SECRET, "oauth": {NORTHWIND.tenant_id: tokens.to_json()}}
            ),
        )  # fmt: skip
        session.add(connection)
    return connection


async def test_mappings_refuse_a_disallowed_default_pair_then_save(
    settings: Settings, sessionmaker, live_server: str, browser_page: Any, browser_problems: list[str], make_user,
    microsoft: tuple[SentinelState, str],
) -> None:  # fmt: skip
    state, url = microsoft
    admin = await make_user(Role.ADMIN)
    connection = await _connection(settings, sessionmaker, state, url, mapped=False)
    page = browser_page
    await _sign_in(page, live_server, admin)
    await page.goto(f"{live_server}/integrations/connections/{connection.id}/mappings")
    warning = await page.locator("[data-testid=mappings-warning]").inner_text()
    for label in ("Ticket type for Sentinel incidents", "Default closure classification", "Priority for High severity"):
        assert label in warning
    await page.select_option("#mapping-ticket_type", label="Alert")
    await page.select_option("#mapping-default_classification", "TruePositive")
    await page.select_option("#mapping-default_reason", "InaccurateData")
    for severity in ("High", "Medium", "Low", "Informational"):
        await page.select_option(f"#mapping-priority_{severity}", index=1)
    await page.click("[data-testid=save-mappings]")
    error = page.locator("#mapping-default_reason-error")
    await error.wait_for()
    assert "SuspiciousActivity" in await error.inner_text()
    await page.select_option("#mapping-default_reason", "SuspiciousActivity")
    await page.click("[data-testid=save-mappings]")
    await page.locator("#flashes", has_text="saved").wait_for()
    assert await page.locator("[data-testid=mappings-warning]").count() == 0
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        assert (stored.mappings["default_classification"], stored.mappings["default_reason"]) == (
            "TruePositive", "SuspiciousActivity",
        )  # fmt: skip
    assert browser_problems == []


async def test_the_ticket_shows_the_incident_s_alerts_and_entities(
    settings: Settings, sessionmaker, live_server: str, browser_page: Any, browser_problems: list[str], make_user,
    microsoft: tuple[SentinelState, str],
) -> None:  # fmt: skip
    state, url = microsoft
    analyst = await make_user(Role.ANALYST)
    connection = await _connection(settings, sessionmaker, state, url, mapped=True)
    workspace = state.workspace(NORTHWIND.workspace)
    incident = next(i for i in workspace.incidents.values() if i.alerts and i.entities)
    async with session_scope(sessionmaker) as session:
        client = Client(name=NORTHWIND.client_name)
        client.sites = [Site(name="HQ", is_main=True)]
        session.add(client)
        await session.flush()
        link = ClientLink(
            connection_id=connection.id, client_id=client.id,
            remote_scope=workspace_scope(NORTHWIND.subscription_id, NORTHWIND.resource_group, NORTHWIND.workspace),
            settings={"tenant_id": NORTHWIND.tenant_id, "subscription_id": NORTHWIND.subscription_id,
                      "resource_group": NORTHWIND.resource_group, "workspace_name": NORTHWIND.workspace},
        )  # fmt: skip
        session.add(link)
    async with httpx.AsyncClient() as http:
        step = await engine.sync_item(
            build_runtime(settings, sessionmaker, http), connection.id, link.id, "incidents", incident.name
        )
    assert step.outcome == "finished", step.message
    async with sessionmaker() as session:
        ticket_id = await session.scalar(
            select(ExternalLink.local_id).where(ExternalLink.remote_id.endswith(incident.name))
        )
    page = browser_page
    await _sign_in(page, live_server, analyst)
    await page.goto(f"{live_server}/tickets/{ticket_id}")
    alerts = page.locator("[data-testid=sentinel-alerts]")
    await alerts.wait_for()
    first_alert = incident.alerts[0]["properties"]["alertDisplayName"]
    assert first_alert in await alerts.inner_text()
    entities = await page.locator("[data-testid=sentinel-entities]").inner_text()
    assert incident.entities[0]["properties"]["friendlyName"] in entities
    assert await page.get_attribute("[data-testid=sentinel-incident-link]", "href") == incident_url(incident, workspace)
    assert browser_problems == []


def incident_url(incident: Any, workspace: Any) -> str:
    return str(incident.to_json(workspace)["properties"]["incidentUrl"])

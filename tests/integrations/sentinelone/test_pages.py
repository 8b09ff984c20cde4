"""The SentinelOne pages in the web app: the Customers tab with its imports, Test connection, the request log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.app import create_app
from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.assets.models import AssetType
from portal.domain.clients.models import Client
from portal.domain.integrations.models import ClientLink, Connection
from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.state import S1State
from tests.conftest import csrf_token, sign_in
from tests.integrations.sentinelone.conftest import FIXTURE, make_world

HTMX = {"HX-Request": "true"}


@dataclass
class Pages:
    client: AsyncTestClient[Litestar]
    state: S1State
    connection_id: uuid.UUID
    token: str
    sessionmaker: Any

    @property
    def base(self) -> str:
        return f"/integrations/connections/{self.connection_id}"

    async def post(self, path: str, **data: str) -> httpx.Response:
        """Post a form and follow its redirect back to the tab (which shows the outcome)."""
        response = await self.client.post(
            f"{self.base}{path}", data={"_csrf_token": self.token, **data}, follow_redirects=False
        )
        assert response.status_code == 303, response.text[:500]
        return await self.client.get(response.headers["location"])

    async def links(self) -> list[ClientLink]:
        async with session_scope(self.sessionmaker) as session:
            found = await session.scalars(select(ClientLink).where(ClientLink.connection_id == self.connection_id))
            return list(found.all())


@pytest.fixture
async def site(settings, sessionmaker, make_user) -> AsyncIterator[Pages]:
    emulator_app, state = create_emulator(console="usea1")
    transport = httpx.ASGITransport(app=emulator_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport) as http:
        world = await make_world(settings, sessionmaker, state, http)
    admin = await make_user(Role.ADMIN)
    app = create_app(settings)
    app.state.http_transport = transport  # the app's vendor calls reach the emulator
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, admin.email)
        token = await csrf_token(client, "/profile")
        yield Pages(client, state, world.connection_id, token, sessionmaker)


async def test_the_customers_tab_lists_what_sentinelone_has_and_imports_it(site: Pages) -> None:
    setup = await site.client.get(site.base)
    assert f'href="{site.base}/customers"' in setup.text  # the vendor's tab is in the tab bar
    assert "Service users" in setup.text  # how to make a service user's token
    assert 'data-testid="setup-help"' in setup.text

    tab = await site.client.get(f"{site.base}/customers")
    assert tab.status_code == 200
    assert 'data-testid="no-mappings"' in tab.text
    for account in FIXTURE.accounts:
        assert f'data-remote="{account.id}"' in tab.text  # listed as not mapped
    assert 'data-testid="held-back"' in tab.text  # and, with no default site, said to be held back
    partial = await site.client.get(f"{site.base}/customers", headers=HTMX)
    assert partial.text.lstrip().startswith('<div id="connection-tab"')

    refused = await site.post("/customers/import-sites")
    assert "Import customers first" in refused.text

    page = await site.post("/customers/import-customers")
    assert "Imported customers: 3 clients created" in page.text
    assert page.text.count('data-testid="mapping-row"') == 3

    page = await site.post("/customers/import-sites")
    sites = sum(len(account.sites) for account in FIXTURE.accounts)
    assert page.text.count('data-testid="mapping-row"') == 3 + sites
    assert 'data-testid="all-mapped"' in page.text


async def test_the_matching_method_and_a_hand_made_mapping(site: Pages, sessionmaker) -> None:
    page = await site.post("/customers/method", matching_method="site")
    assert "Matching method saved." in page.text
    assert 'value="site" checked' in page.text
    bad = await site.post("/customers/method", matching_method="planet")
    assert "Choose one of the listed values" in bad.text

    async with session_scope(sessionmaker) as session:
        client = Client(name="Seattle people")
        session.add(client)
        await session.flush()
        client_id = client.id
    seattle = FIXTURE.site("Seattle HQ")
    page = await site.post(
        "/customers/map", kind="site", remote_id=seattle.id, remote_name=seattle.name, client_id=str(client_id)
    )
    assert [(link.remote_scope, link.settings["kind"]) for link in await site.links()] == [(seattle.id, "site")]
    assert "Seattle HQ mapped to Seattle people." in page.text
    missing = await site.post("/customers/map", kind="site", remote_id=seattle.id, remote_name="x")
    assert "Choose a client." in missing.text


async def test_a_refused_token_shows_on_the_customers_tab_and_keeps_the_mappings(site: Pages) -> None:
    await site.post("/customers/import-customers")
    for user in site.state.users.values():
        user.revoked = True
    page = await site.client.get(f"{site.base}/customers")
    assert 'data-testid="remote-error"' in page.text
    assert "refused the API token" in page.text
    assert page.text.count('data-testid="mapping-row"') == 3
    again = await site.post("/customers/import-customers")
    assert "SentinelOne could not be read" in again.text


async def test_test_connection_and_the_outbound_requests_tab_show_sentinelone_calls(site: Pages) -> None:
    check = await site.client.post(f"{site.base}/test", data={"_csrf_token": site.token}, headers=HTMX)
    assert "Connection works: Signed in to SentinelOne as Morgan Admin" in check.text
    assert "the token expires" in check.text
    requests = await site.client.get(f"{site.base}/requests")
    assert "/web/api/v2.1/user" in requests.text
    assert "/web/api/v2.1/users/api-token-details" in requests.text
    assert FIXTURE.token.token not in requests.text  # the token is never logged
    setup = await site.client.get(site.base)
    assert 'data-testid="credential-expiry"' in setup.text
    assert "Expires " in setup.text  # the fixture token has 5 days left: the warning badge
    health = await site.client.get("/sync-health")
    assert 'data-testid="credential-help"' in health.text
    assert "Service users" in health.text


async def test_the_customers_tab_is_for_administrators_only(site: Pages, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    await site.client.get("/logout")
    await sign_in(site.client, analyst.email)
    assert (await site.client.get(f"{site.base}/customers")).status_code in (403, 404)


async def test_the_mappings_tab_saves_every_sentinelone_option(site: Pages, sessionmaker) -> None:
    tab = await site.client.get(f"{site.base}/mappings")
    assert tab.status_code == 200
    for label in ("Asset matching field", "Asset field mappings", "Asset type rules", "Deactivate assets deleted"):
        assert label in tab.text
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, site.connection_id)
        assert connection is not None
        stored = dict(connection.mappings)
    server = await _asset_type(sessionmaker, "Server")
    form = {
        "_csrf_token": site.token,
        "matching_method": "account",
        "ticket_type": stored["ticket_type"],
        "default_asset_type": stored["default_asset_type"],
        "asset_match_field": "serial",
        "keep_asset_site": "on",
        "dont_create_assets": "on",
        "new_asset_status": "inactive",
        "type_method": "rules",
        "field_mappings.0.s1_field": "osName",
        "field_mappings.0.asset_field": "Operating system",
        "type_rules.0.rule": "Servers",
        "type_rules.0.field": "machineType",
        "type_rules.0.operator": "equals",
        "type_rules.0.value": "server",
        "type_rules.0.asset_type": server,
        "verdict_BenignPositive": "true_positive",
    }
    saved = await site.client.post(f"{site.base}/mappings", data=form, follow_redirects=False)
    assert saved.status_code == 303
    async with session_scope(sessionmaker) as session:
        connection = await session.get(Connection, site.connection_id)
        assert connection is not None
        mappings = connection.mappings
    assert (mappings["asset_match_field"], mappings["keep_asset_site"], mappings["dont_create_assets"]) == (
        "serial",
        True,
        True,
    )
    assert mappings["deactivate_deleted"] is False
    assert mappings["field_mappings"] == [{"s1_field": "osName", "asset_field": "Operating system"}]
    assert mappings["type_rules"][0]["asset_type"] == server
    assert mappings["verdict_BenignPositive"] == "true_positive"
    assert mappings["verdict_TruePositive"] == "true_positive"  # the default, unchanged

    refused = await site.client.post(
        f"{site.base}/mappings", data=form | {"type_rules.0.operator": "sounds_like"}, follow_redirects=False
    )
    assert refused.status_code == 422
    assert "choose one of the listed values for Match" in refused.text


async def _asset_type(sessionmaker: Any, name: str) -> str:
    async with session_scope(sessionmaker) as session:
        found = await session.scalar(select(AssetType.id).where(AssetType.name == name))
        assert found is not None
        return str(found)


async def test_a_client_linked_on_the_clients_tab_maps_its_account_id(site: Pages, sessionmaker) -> None:
    async with session_scope(sessionmaker) as session:
        client = Client(name="Contoso by hand")
        session.add(client)
        await session.flush()
        client_id = client.id
    account = FIXTURE.account("Contoso Dental Group")
    form = {"_csrf_token": site.token, "client_id": str(client_id), "s1_id": account.id, "kind": "account"}
    saved = await site.client.post(f"{site.base}/clients", data=form, follow_redirects=False)
    assert saved.status_code == 303
    [link] = await site.links()
    assert (link.remote_scope, link.settings["kind"]) == (account.id, "account")
    tab = await site.client.get(f"{site.base}/customers")
    assert f'data-testid="mapping-row" data-remote="{account.id}"' in tab.text

"""Customers and sites: matching method, Import customers / Import sites, renames, unmapped ones listed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.clients.models import Client, Site
from portal.domain.errors import ValidationError
from portal.domain.integrations.models import ClientLink, Connection
from portal.integrations.sentinelone import customers
from tests.integrations.sentinelone.conftest import FIXTURE, S1World

ADMIN = Scope.system("test admin")


async def _import(s1: S1World, what: str) -> customers.ImportResult:
    api = await s1.api()
    async with session_scope(s1.sessionmaker) as session:
        connection = await session.get(Connection, s1.connection_id)
        assert connection is not None
        if what == "sites":
            return await customers.import_sites(session, ADMIN, api, connection)
        return await customers.import_customers(session, ADMIN, api, connection)


async def _links(s1: S1World) -> dict[str, tuple[str, str | None, str]]:
    """remote id -> (client name, site name or None, kind)"""
    async with session_scope(s1.sessionmaker) as session:
        rows = await session.execute(
            select(ClientLink.remote_scope, Client.name, Site.name, ClientLink.settings)
            .join(Client, Client.id == ClientLink.client_id)
            .outerjoin(Site, Site.id == ClientLink.site_id)
            .where(ClientLink.connection_id == s1.connection_id)
        )
        return {remote: (client, site, settings["kind"]) for remote, client, site, settings in rows.all()}


async def _table(s1: S1World) -> customers.MappingTable:
    api = await s1.api()
    async with session_scope(s1.sessionmaker) as session:
        connection = await session.get(Connection, s1.connection_id)
        assert connection is not None
        return await customers.mapping_table(session, ADMIN, api, connection)


async def test_import_customers_makes_a_client_per_account_and_maps_it(s1: S1World) -> None:
    result = await _import(s1, "customers")
    assert (result.created, result.linked, result.renamed, result.problems) == (3, 0, 0, [])
    links = await _links(s1)
    assert {links[account.id][0] for account in FIXTURE.accounts} == {account.name for account in FIXTURE.accounts}
    assert {kind for _, _, kind in links.values()} == {"account"}


async def test_import_customers_maps_an_existing_client_of_the_same_name(s1: S1World) -> None:
    await s1.client_named("northwind traders")
    result = await _import(s1, "customers")
    assert (result.created, result.linked) == (2, 1)
    async with session_scope(s1.sessionmaker) as session:
        named = select(func.count()).select_from(Client).where(Client.name.ilike("northwind%"))
        assert await session.scalar(named) == 1
    link = (await _links(s1))[s1.account_id("Northwind Traders")]
    assert link[2] == "account"


async def test_re_importing_renames_mapped_clients_and_adds_nothing(s1: S1World) -> None:
    await _import(s1, "customers")
    s1.state.accounts[s1.account_id("Contoso Dental Group")]["name"] = "Contoso Dental Partners"
    result = await _import(s1, "customers")
    assert (result.created, result.linked, result.renamed) == (0, 0, 1)
    links = await _links(s1)
    assert links[s1.account_id("Contoso Dental Group")][0] == "Contoso Dental Partners"
    assert len(links) == 3


async def test_sites_come_after_customers(s1: S1World) -> None:
    with pytest.raises(ValidationError) as refused:
        await _import(s1, "sites")
    assert "Import customers first" in refused.value.fields["import"]
    await _import(s1, "customers")
    result = await _import(s1, "sites")
    sites = [site for account in FIXTURE.accounts for site in account.sites]
    assert (result.created, result.problems) == (len(sites), [])
    links = await _links(s1)
    for account in FIXTURE.accounts:
        for site in account.sites:
            assert links[site.id] == (account.name, site.name, "site")
    again = await _import(s1, "sites")
    assert (again.created, again.linked) == (0, 0)


async def test_site_matching_makes_a_client_per_site(s1: S1World) -> None:
    await s1.mappings(matching_method="site")
    result = await _import(s1, "customers")
    sites = [site for account in FIXTURE.accounts for site in account.sites]
    assert result.created == len(sites)
    links = await _links(s1)
    assert links[s1.site_id("Seattle HQ")] == ("Seattle HQ", None, "site")
    with pytest.raises(ValidationError) as refused:
        await _import(s1, "sites")
    assert "every SentinelOne site is a client" in refused.value.fields["import"]


async def test_unmapped_accounts_and_sites_are_listed(s1: S1World) -> None:
    table = await _table(s1)
    listed = {(item.scope.kind, item.scope.id) for item in table.unmapped}
    assert {("account", account.id) for account in FIXTURE.accounts} <= listed
    client_id, _ = await s1.client_named("Northwind")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    table = await _table(s1)
    notes = {(item.scope.kind, item.scope.id): item.note for item in table.unmapped}
    assert ("account", s1.account_id("Northwind Traders")) not in notes
    assert ("account", s1.account_id("Halvorsen Bakery")) in notes
    assert "covered by its account" in notes[("site", s1.site_id("Seattle HQ"))]
    assert [link.client.name for link in table.links] == ["Northwind"]


async def test_an_unreachable_console_still_shows_the_mappings(s1: S1World) -> None:
    client_id, _ = await s1.client_named("Northwind")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    await s1.set_token("wrong")
    table = await _table(s1)
    assert "refused the API token" in table.remote_error
    assert len(table.links) == 1

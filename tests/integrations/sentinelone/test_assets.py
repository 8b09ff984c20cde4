"""Endpoints as assets: every option of the asset import, each toggled both ways, against the emulator."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from portal.db.engine import session_scope
from portal.domain.assets.models import Asset, AssetGroup, AssetType
from portal.domain.clients.models import Site
from portal.domain.links.models import ExternalLink
from portal.domain.sync import engine
from portal.domain.sync.models import SyncState, SyncTrigger
from portal.integrations.sentinelone.agents import AgentsHandler
from tests.integrations.sentinelone.conftest import S1World


async def _map_all_accounts(s1: S1World) -> dict[str, uuid.UUID]:
    ids = {}
    for name in ("Northwind Traders", "Contoso Dental Group", "Halvorsen Bakery"):
        client_id, _ = await s1.client_named(name)
        await s1.link(client_id, s1.account_id(name))
        ids[name] = client_id
    return ids


def _agents(s1: S1World, account: str | None = None) -> list[dict[str, Any]]:
    return sorted(
        (agent for agent in s1.state.agents.values() if account is None or agent["accountName"] == account),
        key=lambda agent: str(agent["id"]),
    )


async def _type_names(s1: S1World) -> dict[uuid.UUID, str]:
    async with session_scope(s1.sessionmaker) as session:
        return {row.id: row.name for row in (await session.scalars(select(AssetType))).all()}


async def test_each_endpoint_becomes_an_asset_in_its_client_with_the_default_fields(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    steps = await s1.run("agents")
    assert steps[-1].outcome == "finished"
    assets = await s1.assets()
    assert len(assets) == len(s1.state.agents)
    agent = _agents(s1, "Contoso Dental Group")[0]
    asset = await s1.asset_of(str(agent["id"]))
    assert asset is not None
    assert asset.client_id == clients["Contoso Dental Group"]
    assert (asset.name, asset.hostname, asset.device_uuid, asset.serial) == (
        agent["computerName"],
        agent["computerName"],
        agent["uuid"],
        agent["serialNumber"],
    )
    await s1.run("agents")
    assert len(await s1.assets()) == len(s1.state.agents)  # idempotent


async def test_unmatched_endpoints_go_to_the_default_site_or_are_held_back(s1: S1World) -> None:
    client_id, _ = await s1.client_named("Northwind")
    await s1.link(client_id, s1.account_id("Northwind Traders"))
    await s1.run("agents")
    northwind = len(_agents(s1, "Northwind Traders"))
    assert len(await s1.assets()) == northwind  # the rest: no link covers them, no default site
    _, sites = await s1.client_named("Triage", "Unsorted")
    await s1.mappings(default_site=str(sites["Unsorted"]))
    await s1.run("agents")
    assets = await s1.assets()
    assert len(assets) == len(s1.state.agents)
    assert len([asset for asset in assets if asset.site_id == sites["Unsorted"]]) == len(s1.state.agents) - northwind


async def test_the_matching_field_decides_which_existing_asset_an_endpoint_is(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    agent = _agents(s1, "Northwind Traders")[0]
    async with session_scope(s1.sessionmaker) as session:
        asset_type = await session.scalar(select(AssetType).where(AssetType.name == "Laptop"))
        assert asset_type is not None
        client_id = clients["Northwind Traders"]
        site_id = await session.scalar(select(Site.id).where(Site.client_id == client_id))
        existing = Asset(
            client_id=client_id, site_id=site_id, asset_type_id=asset_type.id, name="Old name",
            hostname=str(agent["computerName"]),
        )  # fmt: skip
        session.add(existing)
        await session.flush()
        existing_id = existing.id
    await s1.run("agents")  # device UUID (the default): the hand-made asset has none, so a new one is made
    assert len(await s1.assets()) == len(s1.state.agents) + 1
    await s1.mappings(asset_match_field="hostname")
    async with session_scope(s1.sessionmaker) as session:
        linked = await s1.asset_of(str(agent["id"]))
        assert linked is not None
        await session.delete(await session.get(Asset, linked.id))
    await s1.run("agents")
    matched = await s1.asset_of(str(agent["id"]))
    assert matched is not None
    assert matched.id == existing_id
    assert (matched.name, matched.device_uuid) == (agent["computerName"], agent["uuid"])


async def test_an_endpoint_that_moves_site_moves_its_asset_unless_kept(s1: S1World) -> None:
    clients = await _map_all_accounts(s1)
    seattle, portland = s1.site_id("Seattle HQ"), s1.site_id("Portland Warehouse")
    client_id = clients["Northwind Traders"]
    async with session_scope(s1.sessionmaker) as session:
        session.add_all([Site(client_id=client_id, name="Seattle"), Site(client_id=client_id, name="Portland")])
        await session.flush()
        named = {s.name: s.id for s in (await session.scalars(select(Site).where(Site.client_id == client_id))).all()}
    await s1.link(client_id, seattle, kind="site", site_id=named["Seattle"])
    await s1.link(client_id, portland, kind="site", site_id=named["Portland"])
    agent = next(a for a in _agents(s1, "Northwind Traders") if a["siteId"] == seattle)
    await s1.run("agents")
    asset = await s1.asset_of(str(agent["id"]))
    assert asset is not None
    assert asset.site_id == named["Seattle"]
    await s1.mappings(keep_asset_site=True)
    s1.state.update_agent(str(agent["id"]), {"siteId": portland})
    await s1.run("agents")
    kept = await s1.asset_of(str(agent["id"]))
    assert kept is not None
    assert kept.site_id == named["Seattle"]
    await s1.mappings(keep_asset_site=False)
    await s1.run("agents")
    moved = await s1.asset_of(str(agent["id"]))
    assert moved is not None
    assert moved.site_id == named["Portland"]


async def test_field_mappings_fill_asset_and_custom_fields(s1: S1World) -> None:
    await _map_all_accounts(s1)
    rows = [
        {"s1_field": "osName", "asset_field": "Operating system"},
        {"s1_field": "networkInterfaces.0.inet.0", "asset_field": "IP address"},
        {"s1_field": "lastLoggedInUserName", "asset_field": "name"},  # overrides computerName -> name
    ]
    await s1.mappings(field_mappings=rows)
    await s1.run("agents")
    agent = next(a for a in _agents(s1) if a["lastLoggedInUserName"])
    asset = await s1.asset_of(str(agent["id"]))
    assert asset is not None
    assert asset.fields == {
        "Operating system": agent["osName"],
        "IP address": agent["networkInterfaces"][0]["inet"][0],
    }
    assert (asset.name, asset.hostname) == (agent["lastLoggedInUserName"], agent["computerName"])
    first_os = agent["osName"]
    await s1.mappings(field_mappings=[])
    s1.state.update_agent(str(agent["id"]), {"osName": "Windows 12"})
    await s1.run("agents")
    again = await s1.asset_of(str(agent["id"]))
    assert again is not None
    assert again.name == agent["computerName"]  # back to the default mapping
    assert again.fields["Operating system"] == first_os  # no longer mapped: no longer updated


async def test_one_type_for_all_assets(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("agents")
    names = await _type_names(s1)
    assert {names[asset.asset_type_id] for asset in await s1.assets()} == {"Workstation"}


async def test_a_field_names_the_type_and_missing_types_are_created_in_the_group(s1: S1World) -> None:
    await _map_all_accounts(s1)
    async with session_scope(s1.sessionmaker) as session:
        network = await session.scalar(select(AssetGroup).where(AssetGroup.name == "Network"))
        assert network is not None
        group_id = network.id
    await s1.mappings(type_method="field", type_field="machineType", default_asset_group=str(group_id))
    await s1.run("agents")
    names = await _type_names(s1)
    for asset in await s1.assets():
        agent = next(a for a in s1.state.agents.values() if a["uuid"] == asset.device_uuid)
        assert names[asset.asset_type_id] == agent["machineType"]
    async with session_scope(s1.sessionmaker) as session:
        laptop = await session.scalar(select(AssetType).where(AssetType.name == "laptop"))
        assert laptop is not None
        assert laptop.group_id == group_id


async def test_type_rules_pick_the_first_match_else_the_default(s1: S1World) -> None:
    await _map_all_accounts(s1)
    async with session_scope(s1.sessionmaker) as session:
        server = await session.scalar(select(AssetType.id).where(AssetType.name == "Server"))
        laptop = await session.scalar(select(AssetType.id).where(AssetType.name == "Laptop"))
    rules = [
        {"rule": "Servers", "field": "machineType", "operator": "equals", "value": "SERVER", "asset_type": str(server)},
        {"rule": "Macs", "field": "osType", "operator": "equals", "value": "macos", "asset_type": str(laptop)},
        {
            "rule": "Models",
            "field": "modelName",
            "operator": "contains",
            "value": "ThinkPad",
            "asset_type": str(laptop),
        },
    ]
    await s1.mappings(type_method="rules", type_rules=rules)
    await s1.run("agents")
    names = await _type_names(s1)
    for asset in await s1.assets():
        agent = next(a for a in s1.state.agents.values() if a["uuid"] == asset.device_uuid)
        if agent["machineType"] == "server":
            expected = "Server"
        elif agent["osType"] == "macos" or "ThinkPad" in agent["modelName"]:
            expected = "Laptop"
        else:
            expected = "Workstation"  # the default type
        assert names[asset.asset_type_id] == expected, agent["computerName"]


async def test_a_rule_can_let_a_field_name_the_type(s1: S1World) -> None:
    await _map_all_accounts(s1)
    rules = [{"rule": "By OS", "field": "osType", "operator": "names_type", "value": "-", "asset_type": ""}]
    await s1.mappings(type_method="rules", type_rules=rules)
    await s1.run("agents")
    names = await _type_names(s1)
    assert {names[asset.asset_type_id] for asset in await s1.assets()} == {
        str(agent["osType"]) for agent in s1.state.agents.values()
    }


async def test_dont_create_new_assets_only_updates(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.mappings(dont_create_assets=True)
    await s1.run("agents")
    assert await s1.assets() == []
    await s1.mappings(dont_create_assets=False)
    await s1.run("agents")
    assert len(await s1.assets()) == len(s1.state.agents)


async def test_the_status_of_new_assets(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.mappings(new_asset_status="inactive")
    await s1.run("agents")
    assert {asset.status for asset in await s1.assets()} == {"inactive"}


async def test_endpoints_deleted_in_sentinelone_are_deactivated_on_scheduled_runs_only(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("agents")
    gone = _agents(s1)[0]
    s1.state.remove_agent(str(gone["id"]))
    await s1.run("agents")  # the option is off
    asset = await s1.asset_of(str(gone["id"]))
    assert asset is not None
    assert asset.status == "active"
    await s1.mappings(deactivate_deleted=True)
    await s1.run("agents", trigger=SyncTrigger.MANUAL)  # a hand-started run never deactivates
    asset = await s1.asset_of(str(gone["id"]))
    assert asset is not None
    assert asset.status == "active"
    await s1.run("agents")  # scheduled
    asset = await s1.asset_of(str(gone["id"]))
    assert asset is not None
    assert asset.status == "inactive"
    retired = {str(a["uuid"]) for a in s1.state.agents.values() if a["isDecommissioned"]}
    assert retired  # the fixture decommissioned one endpoint last week: it is still listed, and retired
    for other in await s1.assets():
        if other.id != asset.id:
            assert other.status == ("inactive" if other.device_uuid in retired else "active"), other.name


async def test_decommissioned_endpoints_stay_active_while_the_option_is_off(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("agents")
    assert {asset.status for asset in await s1.assets()} == {"active"}


async def test_a_threat_ticket_is_linked_to_its_endpoints_asset(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("agents")
    await s1.run("threats")
    threat_id = s1.open_threats()[0]
    ticket = await s1.ticket_of("threat", threat_id)
    asset = await s1.asset_of(s1.state.threats[threat_id].agent_id)
    assert ticket is not None
    assert asset is not None
    assert ticket.asset_id == asset.id


async def test_re_syncing_one_endpoint_updates_its_asset(s1: S1World) -> None:
    await _map_all_accounts(s1)
    await s1.run("agents")
    agent = _agents(s1)[0]
    s1.state.update_agent(str(agent["id"]), {"computerName": "RENAMED-01"})
    step = await engine.sync_item(s1.runtime, s1.connection_id, None, "agents", str(agent["id"]))
    assert step.outcome == "finished"
    asset = await s1.asset_of(str(agent["id"]))
    assert asset is not None
    assert asset.name == "RENAMED-01"
    skipped = await engine.sync_item(s1.runtime, s1.connection_id, None, "agents", "deleted-endpoints")
    assert skipped.message == "deleted-endpoints was not found at the source."


async def _asset_snapshot(s1: S1World) -> dict[str, tuple[Any, ...]]:
    """Every endpoint's asset as a person sees it, keyed by the agent id (ids and times aside)."""
    async with session_scope(s1.sessionmaker) as session:
        rows = await session.execute(
            select(ExternalLink.remote_id, Asset)
            .join(Asset, Asset.id == ExternalLink.local_id)
            .where(ExternalLink.connection_id == s1.connection_id, ExternalLink.local_type == "asset")
        )
        return {
            remote_id: (
                asset.client_id,
                asset.site_id,
                asset.asset_type_id,
                asset.name,
                asset.status,
                asset.serial,
                asset.hostname,
                asset.device_uuid,
                asset.fields,
            )
            for remote_id, asset in rows
        }


async def test_the_page_path_and_the_per_item_path_make_the_same_assets(
    s1: S1World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _map_all_accounts(s1)
    await s1.mappings(field_mappings=[{"s1_field": "osName", "asset_field": "Operating system"}])
    assert (await s1.run("agents"))[-1].outcome == "finished"
    set_based = await _asset_snapshot(s1)
    assert len(set_based) == len(s1.state.agents)

    async with session_scope(s1.sessionmaker) as session:  # start again from nothing
        await session.execute(delete(ExternalLink).where(ExternalLink.local_type == "asset"))
        await session.execute(delete(Asset))
        await session.execute(update(SyncState).values(watermark=None, page_token=None))

    refused: list[int] = []
    apply_page = AgentsHandler.apply_page

    async def pages_of_one_only(self: AgentsHandler, session: Any, target: Any, items: Any) -> Any:
        if len(items) > 1:
            refused.append(len(items))
            raise RuntimeError("the page's multi-row write failed")
        return await apply_page(self, session, target, items)

    monkeypatch.setattr(AgentsHandler, "apply_page", pages_of_one_only)
    assert (await s1.run("agents"))[-1].outcome == "finished"
    assert refused  # the set-based write was tried, failed, and the per-item path took over
    assert await _asset_snapshot(s1) == set_based

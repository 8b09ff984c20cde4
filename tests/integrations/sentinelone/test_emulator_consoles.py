"""The demo's two consoles: their fixtures, a real port, ``socdesk emulate sentinelone`` and the demo helpers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from portal.integrations.emulation.catalog import EMULATORS
from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES, UNMAPPED, raise_demo_alert, raise_demo_threat
from portal.integrations.sentinelone.emulator.state import S1State, parse_iso
from portal.runtime.demo_data import CLIENTS
from tests.serving import served, served_by_cli

API = "/web/api/v2.1"
FROZEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def frozen(console: str) -> S1State:
    state = S1State(console)
    state.clock.set(FROZEN)
    state.reset()
    return state


def test_both_consoles_are_in_the_catalog() -> None:
    assert EMULATORS["sentinelone"]()[1].console == "usea1"
    assert EMULATORS["sentinelone-eu"]()[1].console == "euce1"


def test_an_unknown_console_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no demo console 'apac1' \\(known: usea1, euce1\\)"):
        S1State("apac1")
    assert S1State(None).agents == {}


def test_a_frozen_console_seeds_the_same_data_every_time() -> None:
    one, two = frozen("usea1"), frozen("usea1")
    assert one.agents == two.agents
    assert one.sites == two.sites
    assert [t.info for t in one.threats.values()] == [t.info for t in two.threats.values()]
    assert list(one.users) == list(two.users)


def test_the_consoles_have_their_own_ids_names_and_tokens() -> None:
    us, eu = frozen("usea1"), frozen("euce1")
    assert not set(us.accounts) & set(eu.accounts)
    assert not set(us.agents) & set(eu.agents)
    assert us.user_by_token(CONSOLES["euce1"].token.token) is None
    assert eu.user_by_token(CONSOLES["euce1"].token.token) is not None


def test_fixtures_follow_the_brief() -> None:
    client_names = {name for name, _, _ in CLIENTS}
    client_sites = {site for _, _, sites in CLIENTS for site in sites}
    for key, fixture in CONSOLES.items():
        state = frozen(key)
        assert 2 <= len(fixture.accounts) <= 3
        for account in fixture.accounts:
            assert 2 <= len(account.sites) <= 4
            for site in account.sites:
                agents = [agent for agent in state.agents.values() if agent["siteId"] == site.id]
                assert 5 <= len(agents) <= 15, site.name
        assert len(state.threats) >= 3
        assert len(state.alerts) >= 2
        newest = max(parse_iso(t.info["createdAt"]) for t in state.threats.values())
        oldest = min(parse_iso(t.info["createdAt"]) for t in state.threats.values())
        assert FROZEN - timedelta(days=5) < oldest < newest <= FROZEN
        named = (
            {account.name for account in fixture.accounts}
            if fixture.matching == "account"
            else {site.name for account in fixture.accounts for site in account.sites}
        )
        known = client_names if fixture.matching == "account" else client_names | client_sites
        assert named - known == {UNMAPPED[key]}  # exactly one matches no demo client
    us, eu = CONSOLES["usea1"].token, CONSOLES["euce1"].token
    assert (us.kind, eu.kind) == ("console", "service")
    assert us.expires_in_days < 7 < eu.expires_in_days


def test_the_demo_helpers_raise_a_new_open_threat_and_alert_now() -> None:
    state = frozen("euce1")
    state.clock.advance(300)
    threat = raise_demo_threat(state, random.Random(1))
    assert threat.info["incidentStatus"] == "unresolved"
    assert parse_iso(threat.info["createdAt"]) == FROZEN + timedelta(seconds=300)
    assert not state.agents[threat.agent_id]["isDecommissioned"]
    assert state.agents[threat.agent_id]["activeThreats"] >= 1
    alert = raise_demo_alert(state, random.Random(2))
    assert alert.info["incidentStatus"] == "Unresolved"


def test_the_console_answers_over_a_real_port() -> None:
    app, state = create_emulator(console="euce1")
    token = CONSOLES["euce1"].token
    with served(app, what="the SentinelOne emulator") as url:
        assert httpx.get(f"{url}{API}/sites").status_code == 401
        headers = {"Authorization": f"ApiToken {token.token}"}
        sites = httpx.get(f"{url}{API}/sites", params={"limit": 100}, headers=headers).json()["data"]["sites"]
        assert [site["name"] for site in sites][:2] == ["Woodgrove Credit Union", "Litware Engineering"]
        user = httpx.get(f"{url}{API}/user", headers=headers).json()["data"]
        assert (user["fullName"], user["scope"], user["userType"]) == (token.user, "account", "service")
        agent_id = sorted(state.agents, key=int)[0]
        raised = httpx.post(f"{url}/_emulator/threats", json={"agentId": agent_id, "threatName": "x.exe"})
        assert raised.status_code == 201
        threat_id = raised.json()["data"]["id"]
        listed = httpx.get(f"{url}{API}/threats", params={"ids": threat_id}, headers=headers).json()["data"]
        assert [threat["threatInfo"]["threatName"] for threat in listed] == ["x.exe"]
        logged = httpx.get(f"{url}/_emulator/requests", params={"path_prefix": API}).json()["value"]
        assert [entry["auth"] for entry in logged] == ["", "apitoken", "apitoken", "apitoken"]


def test_socdesk_emulate_sentinelone_serves_the_us_console() -> None:
    with served_by_cli("emulate", "sentinelone", probe=f"{API}/accounts") as base:
        refused = httpx.get(f"{base}{API}/accounts")
        assert refused.json()["errors"][0]["code"] == 4010010
        headers = {"Authorization": f"ApiToken {CONSOLES['usea1'].token.token}"}
        accounts = httpx.get(f"{base}{API}/accounts", headers=headers).json()["data"]
        assert [account["name"] for account in accounts] == [a.name for a in CONSOLES["usea1"].accounts]

"""The emulator answers in the shapes SentinelOne publishes (shared/reference/examples/sentinelone).

Every field of a published record must be in the emulator's record with the same JSON type (a
null in the example says nothing about the type). The few exceptions are listed with why.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES
from portal.integrations.sentinelone.emulator.state import S1State

# shared/ sits beside the checkout (as in CI): <checkout>/../shared
EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "reference" / "examples" / "sentinelone"
API = "/web/api/v2.1"

# Fields whose published type is an artefact of the XSOAR fixture, not of the API:
NOT_COMPARED = {
    # "True" strings: the fixture went through Python's str(); the API and the reference send booleans.
    "firewallEnabled",
    "isUpToDate",
    # true in the fixture; a decommission time (or null) in the API.
    "agentRealtimeInfo.agentDecommissionedAt",
}
# Fields the emulator may leave null where the example has a value (the API does too).
NULLABLE = {"threatInfo.cloudFilesHashVerdict"}  # no cloud verdict for a merely suspicious file


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def mismatches(published: Any, ours: Any, path: str = "") -> list[str]:
    """Where ``ours`` lacks a field of ``published`` or gives it another type."""
    name = path.lstrip(".")
    if published is None or name in NOT_COMPARED or name.split(".")[-1] in NOT_COMPARED:
        return []
    if ours is None:
        return [] if name in NULLABLE else [f"{name}: null, published {json_type(published)}"]
    if json_type(published) != json_type(ours):
        return [f"{name}: {json_type(ours)}, published {json_type(published)}"]
    if isinstance(published, dict):
        found = []
        for key, value in published.items():
            if key not in ours:
                found.append(f"{name}.{key}: missing".lstrip("."))
            else:
                found += mismatches(value, ours[key], f"{path}.{key}")
        return found
    if isinstance(published, list) and published and ours:
        return mismatches(published[0], ours[0], f"{path}[]")
    return []


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app, _ = create_emulator(S1State("usea1"))
    headers = {"Authorization": f"ApiToken {CONSOLES['usea1'].token.token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://usea1.s1.test",
        headers=headers,
    ) as client:
        yield client


async def data(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await http.get(f"{API}{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_threats_have_every_published_v2_1_field(http: httpx.AsyncClient) -> None:
    published = example("threats_list_v2_1.json")["data"]
    ours = await data(http, "/threats", limit=100)
    assert ours
    for threat in published:
        assert set(ours[0]) == set(threat)
        for record in ours:
            assert mismatches(threat, record) == []


async def test_threat_ids_and_values_are_what_clients_expect(http: httpx.AsyncClient) -> None:
    for threat in await data(http, "/threats", limit=100):
        info = threat["threatInfo"]
        assert threat["id"] == info["threatId"]
        assert threat["id"].isdigit()
        assert info["incidentStatus"] in ("unresolved", "in_progress", "resolved")
        assert info["analystVerdict"] in ("true_positive", "suspicious", "false_positive", "undefined")
        assert threat["agentRealtimeInfo"]["siteId"] == threat["agentDetectionInfo"]["siteId"]
        assert info["createdAt"].endswith("Z")


async def test_agents_have_every_published_field(http: httpx.AsyncClient) -> None:
    (published,) = example("agents_list_data_only.json")
    ours = await data(http, "/agents", limit=1000)
    assert set(published) <= set(ours[0])
    for record in ours:
        assert mismatches(published, record) == []


async def test_agents_carry_the_fields_asset_imports_read(http: httpx.AsyncClient) -> None:
    agents = await data(http, "/agents", limit=1000)
    for agent in agents:
        for key in ("computerName", "osName", "osType", "machineType", "serialNumber", "uuid", "agentVersion"):
            assert isinstance(agent[key], str)
            assert agent[key]
        assert agent["networkInterfaces"][0]["inet"]
    assert len({agent["uuid"] for agent in agents}) == len(agents)
    assert len({agent["serialNumber"] for agent in agents}) == len(agents)
    assert {agent["osType"] for agent in agents} >= {"windows", "linux"}
    assert {agent["machineType"] for agent in agents} >= {"laptop", "desktop", "server"}


async def test_service_users_match_the_published_page(http: httpx.AsyncClient) -> None:
    published = example("service_users_list_page1.json")
    created = await http.post(
        "/_emulator/tokens",
        json={
            "user": "Alert ingestion",
            "kind": "service",
            "scope": "site",
            "scopeIds": [CONSOLES["usea1"].site("Seattle HQ").id],
        },
    )
    assert created.status_code == 201
    used = await http.get(f"{API}/user", headers={"Authorization": f"ApiToken {created.json()['token']}"})
    assert used.status_code == 200  # a service user that has called the API has a lastActivation
    response = (await http.get(f"{API}/service-users")).json()
    assert set(response["pagination"]) == set(published["pagination"])
    assert mismatches(published["data"][0], response["data"][0]) == []


async def test_the_envelope_matches_the_published_activities_page(http: httpx.AsyncClient) -> None:
    published = example("activities_list.json")
    ours = (await http.get(f"{API}/agents", params={"limit": 2})).json()
    assert set(published) <= set(ours)
    assert set(ours["pagination"]) == set(published["pagination"])


async def test_alerts_have_the_fields_the_reference_lists(http: httpx.AsyncClient) -> None:
    # No v2.1 cloud-detection example is published; these are the reference's fields (section 1.8).
    fields = {
        "alertInfo": {"alertId", "analystVerdict", "incidentStatus", "createdAt", "updatedAt", "reportedAt", "source"},
        "ruleInfo": {"id", "name", "severity", "queryType", "s1ql", "scopeLevel", "treatAsThreat"},
        "agentRealtimeInfo": {"id", "name", "uuid", "os", "machineType", "isActive", "infected"},
        "agentDetectionInfo": {"uuid", "name", "siteId", "osFamily", "osName", "version", "machineType"},
        "sourceProcessInfo": {"name", "filePath", "commandline", "fileHashSha1", "pid", "storyline", "user"},
    }
    for alert in await data(http, "/cloud-detection/alerts", limit=100):
        for part, keys in fields.items():
            assert keys <= set(alert[part]), part
        assert {"sourceParentProcessInfo", "targetProcessInfo", "containerInfo", "kubernetesInfo"} <= set(alert)
        assert "accountId" not in alert["agentDetectionInfo"]  # alerts map to a client through their site


async def test_the_comparison_notices_a_missing_or_retyped_field(http: httpx.AsyncClient) -> None:
    (published, *_) = example("threats_list_v2_1.json")["data"]
    (ours,) = await data(http, "/threats", limit=1)
    del ours["threatInfo"]["threatName"]
    ours["agentRealtimeInfo"]["agentIsActive"] = "true"
    assert mismatches(published, ours) == [
        "agentRealtimeInfo.agentIsActive: str, published boolean",
        "threatInfo.threatName: missing",
    ]

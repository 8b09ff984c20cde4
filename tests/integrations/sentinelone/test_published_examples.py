"""The payloads SentinelOne's API is documented to send (shared/reference/examples/sentinelone), parsed unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.integrations.errors import BadPayload
from portal.integrations.http import OutboundEntry, VendorHttp
from portal.integrations.sentinelone.client import SentinelOneClient, read_list
from portal.integrations.sentinelone.records import RecordError, read_agent, read_alert, read_threat

EXAMPLES = Path("/work/shared/reference/examples/sentinelone")
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="the published examples are not on this machine")


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


class Recorder:
    def __init__(self) -> None:
        self.entries: list[OutboundEntry] = []

    async def record(self, entry: OutboundEntry) -> None:
        self.entries.append(entry)


def test_the_published_threat_list_parses_with_the_nested_v2_1_fields() -> None:
    page = read_list(example("threats_list_v2_1.json"), "a threat list")
    assert page.next_cursor is None  # the example has no pagination object: one page
    threats = [read_threat(raw) for raw in page.items]
    assert [threat.id for threat in threats] == [
        "715718962991148224",
        "715723437013282014",
        "715723444638526700",
        "715723450678324472",
    ]
    first = threats[0]
    assert first.updated_at == datetime(2020, 4, 2, 14, 52, 28, 528753, tzinfo=UTC)  # threatInfo.updatedAt
    assert first.created_at == datetime(2019, 9, 15, 12, 5, 49, 95889, tzinfo=UTC)
    assert (first.status, first.verdict, first.severity) == ("resolved", "undefined", "High")
    assert (first.site_id, first.account_id, first.agent_id) == (
        "475482421366727779",
        "433241117337583618",
        "657613730168123595",
    )
    assert first.agent_uuid == "f431b0a1a8744d2a8a92fc88fa3c13bc"
    assert first.title == "SentinelOne threat: Unconfirmed 123490.crdownload on EC2AMAZ-AJ0KANC"
    assert ("SHA1", "3395856ce81f2b7382dee72602f798b642f14140") in first.facts


def test_the_published_agent_parses() -> None:
    agent = read_agent(example("agents_list_data_only.json")[0])
    assert (agent.id, agent.uuid, agent.computer_name) == (
        "657613730168123595",
        "f431b0a1a8744d2a8a92fc88fa3c13bc",
        "EC2AMAZ-AJ0KANC",
    )
    assert (agent.site_id, agent.account_id) == ("475482421366727779", "433241117337583618")
    assert agent.updated_at == datetime(2021, 1, 11, 19, 33, 25, 482177, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "cursor"),
    [
        ("activities_list.json", None),  # nextCursor null
        ("service_users_list_page1.json", "1234"),
        ("service_users_list_page2_last.json", None),  # nextCursor "" also ends the list
    ],
)
def test_cursor_paging_envelopes(name: str, cursor: str | None) -> None:
    page = read_list(example(name), "a list")
    assert page.next_cursor == cursor
    assert page.items


def test_an_answer_without_a_data_list_is_a_bad_payload_not_an_empty_page() -> None:
    with pytest.raises(BadPayload):
        read_list({"errors": None}, "a threat list")
    with pytest.raises(BadPayload):
        read_list({"data": [1, 2]}, "a threat list")


def test_the_sites_answer_has_its_list_under_data_sites() -> None:
    body = {
        "data": {"allSites": {"totalLicenses": 1}, "sites": [{"id": "225494730938493804", "name": "Default site"}]},
        "pagination": {"nextCursor": None, "totalItems": 1},
    }
    assert [site["id"] for site in read_list(body, "a site list").items] == ["225494730938493804"]


def test_a_threat_without_its_creation_time_is_refused_by_name() -> None:
    raw = example("threats_list_v2_1.json")["data"][0]
    del raw["threatInfo"]["createdAt"]
    with pytest.raises(RecordError, match=r"threatInfo\.createdAt is missing"):
        read_threat(raw)


def test_alert_values_in_title_case_are_normalised() -> None:
    raw = {
        "alertInfo": {
            "alertId": "1700000000000000001",
            "analystVerdict": "True Positive",
            "incidentStatus": "In Progress",
            "createdAt": "2024-05-01T10:00:00.000000Z",
            "updatedAt": "2024-05-01T11:00:00Z",
        },
        "ruleInfo": {"name": "Suspicious PowerShell", "severity": "High"},
        "agentRealtimeInfo": {"id": "1", "name": "WS-001", "uuid": "u1"},
        "agentDetectionInfo": {"siteId": "225494730938493804"},
    }
    alert = read_alert(raw, "42")
    assert (alert.status, alert.verdict, alert.severity) == ("in_progress", "true_positive", "High")
    assert (alert.site_id, alert.account_id, alert.agent_uuid) == ("225494730938493804", "42", "u1")


async def test_the_client_sends_the_api_token_and_filters_and_reads_the_published_page() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=example("threats_list_v2_1.json"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        vendor_http = VendorHttp(
            http,
            "https://usea1-acme.sentinelone.net",
            recorder=Recorder(),
            credentials=_Token("tok-123"),
        )
        page = await SentinelOneClient(vendor_http).threats(datetime(2024, 1, 1, tzinfo=UTC), None, 100)
    assert len(page.items) == 4
    request = seen[0]
    assert request.url.path == "/web/api/v2.1/threats"
    assert request.headers["Authorization"] == "ApiToken tok-123"
    assert request.url.params["updatedAt__gt"] == "2024-01-01T00:00:00.000000Z"
    assert (request.url.params["limit"], request.url.params["sortBy"]) == ("100", "updatedAt")


class _Token:
    def __init__(self, token: str) -> None:
        self.token = token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"ApiToken {self.token}"}

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> list[str]:
        return [self.token]

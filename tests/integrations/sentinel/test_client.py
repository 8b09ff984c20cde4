"""The ARM client's calls as Microsoft documents them, against a mock ARM that checks what it is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.integrations.errors import BadPayload, Conflict, Forbidden, RateLimited
from portal.integrations.sentinel.client import MAX_CONFLICT_RETRIES
from tests.integrations.sentinel.support import ARM, WORKSPACE, example, mock_client

INCIDENT = "73e01a99-5cd7-4139-a149-9f2736ff2ab5"
PUBLISHED = example("sentinel/incidents_get.json")["responses"]["200"]["body"]


def query(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(str(request.url)).query).items()}


async def test_list_filters_on_last_modified_and_follows_next_link_exactly() -> None:
    next_link = f"{ARM}/subscriptions/s/incidents?api-version=2025-06-01&$skipToken=abc%3D%3D"

    def handler(request: httpx.Request) -> httpx.Response:
        if "$skipToken" in str(request.url):
            return httpx.Response(200, json={"value": [PUBLISHED]})
        return httpx.Response(200, json={"value": [PUBLISHED], "nextLink": next_link})

    client, seen, http = mock_client(handler)
    async with http:
        first = await client.list_incidents(WORKSPACE, modified_since=datetime(2025, 5, 1, 10, 0, tzinfo=UTC), top=2000)
        second = await client.list_incidents(WORKSPACE, next_link=first.next_link)
    params = query(seen[0])
    assert seen[0].url.path.endswith(
        "/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace"
        "/providers/Microsoft.SecurityInsights/incidents"
    )
    assert params["$filter"] == "properties/lastModifiedTimeUtc ge 2025-05-01T10:00:00.000000Z"
    assert params["$orderby"] == "properties/lastModifiedTimeUtc asc"
    assert params["$top"] == "1000"  # Sentinel's maximum
    assert params["api-version"] == "2025-06-01"
    assert str(seen[1].url) == next_link  # nothing added, api-version not repeated
    assert first.next_link == next_link
    assert second.next_link is None


async def test_a_next_link_to_another_host_never_gets_the_token() -> None:
    client, seen, http = mock_client(
        lambda request: httpx.Response(200, json={"value": [], "nextLink": "https://evil.example/steal"})
    )
    async with http:
        with pytest.raises(BadPayload, match="another host"):
            await client.list_incidents(WORKSPACE)
    assert len(seen) == 1


async def test_a_list_without_value_is_a_bad_payload_not_an_empty_page() -> None:
    client, _, http = mock_client(lambda request: httpx.Response(200, json={"items": []}))
    async with http:
        with pytest.raises(BadPayload):
            await client.list_incidents(WORKSPACE)


async def test_update_puts_the_whole_incident_with_its_etag_and_retries_a_conflict() -> None:
    etags = iter(['"e1"', '"e2"'])
    state: dict[str, Any] = {"etag": next(etags), "puts": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={**PUBLISHED, "etag": state["etag"]})
        state["puts"] += 1
        body = json.loads(request.content)
        if state["puts"] == 1:
            state["etag"] = next(etags)  # someone else wrote in between
            return httpx.Response(
                409, json={"error": {"code": "Conflict", "message": "Newer version of resource exists"}}
            )
        assert body["etag"] == '"e2"'
        return httpx.Response(200, json={**PUBLISHED, "properties": {**PUBLISHED["properties"], **body["properties"]}})

    def close(properties: dict[str, object]) -> dict[str, object]:
        return {**properties, "status": "Closed", "classification": "TruePositive"}

    client, seen, http = mock_client(handler)
    async with http:
        await client.update_incident(WORKSPACE, INCIDENT, close)
    puts = [json.loads(request.content) for request in seen if request.method == "PUT"]
    assert [request.method for request in seen] == ["GET", "PUT", "GET", "PUT"]
    assert puts[0]["etag"] == '"e1"'
    # A full replace: the unchanged required fields and the owner and labels are sent along.
    assert puts[1]["properties"]["title"] == "My incident"
    assert puts[1]["properties"]["severity"] == "High"
    assert puts[1]["properties"]["owner"]["objectId"] == "2046feea-040d-4a46-9e2b-91c2941bfa70"
    assert "incidentNumber" not in puts[1]["properties"]  # read-only fields are not written back


async def test_update_gives_up_after_repeated_conflicts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=PUBLISHED)
        return httpx.Response(409, json={"error": {"code": "Conflict", "message": "Newer version"}})

    client, seen, http = mock_client(handler)
    async with http:
        with pytest.raises(Conflict, match="Conflict: Newer version"):
            await client.update_incident(WORKSPACE, INCIDENT, lambda p: {**p, "severity": "Low"})
    assert sum(request.method == "PUT" for request in seen) == MAX_CONFLICT_RETRIES + 1


async def test_update_writes_nothing_when_the_incident_already_says_it() -> None:
    client, seen, http = mock_client(lambda request: httpx.Response(200, json=PUBLISHED))
    async with http:
        await client.update_incident(WORKSPACE, INCIDENT, lambda properties: None)
    assert [request.method for request in seen] == ["GET"]


async def test_comment_goes_under_the_client_chosen_id() -> None:
    answer = example("sentinel/incident_comments_create_or_update.json")["responses"]["201"]["body"]
    client, seen, http = mock_client(lambda request: httpx.Response(201, json=answer))
    async with http:
        await client.put_comment(WORKSPACE, INCIDENT, "5f1b0c8e-0000-4000-8000-000000000001", "Checked the host")
    assert seen[0].method == "PUT"
    assert seen[0].url.path.endswith(f"/incidents/{INCIDENT}/comments/5f1b0c8e-0000-4000-8000-000000000001")
    assert json.loads(seen[0].content) == {"properties": {"message": "Checked the host"}}


async def test_alerts_and_entities_are_posts_without_a_body() -> None:
    alerts = example("sentinel/incidents_list_alerts.json")["responses"]["200"]["body"]
    client, seen, http = mock_client(lambda request: httpx.Response(200, json=alerts))
    async with http:
        await client.list_alerts(WORKSPACE, INCIDENT)
    assert (seen[0].method, seen[0].content) == ("POST", b"")


async def test_arm_errors_keep_microsoft_s_code_and_words() -> None:
    message = "The client 'a@b' with object id 'x' does not have authorization to perform action 'read'."
    client, _, http = mock_client(
        lambda request: httpx.Response(403, json={"error": {"code": "AuthorizationFailed", "message": message}})
    )
    async with http:
        with pytest.raises(Forbidden) as caught:
            await client.get_incident(WORKSPACE, INCIDENT)
    assert caught.value.describe() == f"AuthorizationFailed: {message} (forbidden)"


async def test_throttling_is_retried_after_retry_after_then_reported() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(
                429, headers={"Retry-After": "1"},
                json={"error": {"code": "SubscriptionRequestsThrottled", "message": "try again after '1' seconds"}},
            )  # fmt: skip
        return httpx.Response(200, json=PUBLISHED)

    client, _, http = mock_client(handler)
    async with http:
        assert (await client.get_incident(WORKSPACE, INCIDENT))["name"] == INCIDENT
    client, _, http = mock_client(
        lambda request: httpx.Response(429, headers={"Retry-After": "60"}, json={"error": {"code": "Throttled"}})
    )
    async with http:
        with pytest.raises(RateLimited) as caught:
            await client.get_incident(WORKSPACE, INCIDENT)
    assert caught.value.retry_after == 60

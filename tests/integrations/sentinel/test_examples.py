"""Microsoft's own example payloads (examples/sentinel, examples/azure-arm) go through the real client
and the mapping unchanged: each answer is served by a mock ARM for the call that returns it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from portal.integrations.errors import BadPayload
from portal.integrations.sentinel import mapping
from portal.integrations.sentinel.client import SentinelClient
from tests.integrations.sentinel.support import WORKSPACE, example, example_files, mock_client


def serve(body: Any, status: int = 200) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    return handler


def body_of(name: str, status: str = "200") -> Any:
    return example(name)["responses"][status].get("body")


async def _call(name: str, client: SentinelClient) -> list[Any]:
    """The client call that returns this example's answer, and the records the mapping reads from it."""
    incident = "73e01a99-5cd7-4139-a149-9f2736ff2ab5"
    if name.endswith("incidents_list.json"):
        page = await client.list_incidents(WORKSPACE)
        return [mapping.read_incident(raw) for raw in page.incidents]
    if name.endswith("incidents_get.json"):
        return [mapping.read_incident(await client.get_incident(WORKSPACE, incident))]
    if name.endswith("incidents_create_or_update.json"):
        written = await client.put_incident(WORKSPACE, incident, example(name)["parameters"]["incident"])
        return [mapping.read_incident(written)]
    if name.endswith("incident_comments_list.json"):
        return mapping.read_comments(await client.list_comments(WORKSPACE, incident))
    if name.endswith("incident_comments_get.json"):
        return [mapping.read_comment(body_of(name))]
    if name.endswith("incident_comments_create_or_update.json"):
        return [mapping.read_comment(await client.put_comment(WORKSPACE, incident, "4bb36b7b", "Some message"))]
    if name.endswith("incidents_list_alerts.json"):
        return [mapping.read_alert(raw) for raw in await client.list_alerts(WORKSPACE, incident)]
    if name.endswith("incidents_list_entities.json"):
        return [mapping.read_entity(raw) for raw in await client.list_entities(WORKSPACE, incident)]
    if name.endswith("log_analytics_workspaces_list_by_subscription.json"):
        return [mapping.read_workspace(raw) for raw in await client.list_workspaces("sub")]
    raise AssertionError(f"no call for {name}")


READ_BY_CALL = [
    name
    for name in example_files("sentinel") + example_files("azure-arm")
    if not name.endswith("_delete.json") and not name.endswith("subscriptions_list.json")
]


@pytest.mark.parametrize("name", READ_BY_CALL)
async def test_every_published_answer_reads_through_the_client(name: str) -> None:
    for status in example(name)["responses"]:
        client, _, http = mock_client(serve(body_of(name, status), int(status)))
        async with http:
            records = await _call(name, client)
        assert records, f"{name} {status} gave no records"


def test_every_published_example_is_covered() -> None:
    everything = set(example_files("sentinel") + example_files("azure-arm"))
    deletes = {name for name in everything if name.endswith("_delete.json")}
    # socdesk never deletes incidents or comments; the delete examples' answers have no body to read.
    assert all(not response for name in deletes for response in example(name)["responses"].values())
    assert everything == set(READ_BY_CALL) | deletes | {"azure-arm/subscriptions_list.json"}


def test_published_incident_fields() -> None:
    incident = mapping.read_incident(body_of("sentinel/incidents_get.json"))
    assert (incident.number, incident.severity, incident.status) == (3177, "High", "Closed")
    assert (incident.classification, incident.classification_reason) == ("FalsePositive", "InaccurateData")
    assert incident.etag == '"0300bf09-0000-0000-0000-5c37296e0000"'
    assert incident.owner.email == "john.doe@contoso.com"
    assert str(incident.url).startswith("https://portal.azure.com/#asset/")
    assert mapping.property_value(incident, "properties.additionalData.tactics") == "InitialAccess, Persistence"


def test_published_comment_alert_and_entity_fields() -> None:
    comment = mapping.read_comment(body_of("sentinel/incident_comments_get.json"))
    assert (comment.name, comment.message, comment.author) == (
        "4bb36b7b-26ff-4d1c-9cbe-0d8ab3da0014", "Some message", "john doe",
    )  # fmt: skip
    alert = mapping.read_alert(body_of("sentinel/incidents_list_alerts.json")["value"][0])
    assert (alert.display_name, alert.severity, alert.product) == ("myAlert", "Low", "Azure Security Center")
    entity = mapping.read_entity(body_of("sentinel/incidents_list_entities.json")["entities"][0])
    assert (entity.kind, entity.friendly_name) == ("Account", "administrator")
    assert ("ntDomain", "domain") in entity.details


def test_published_workspace_ids_in_mixed_case() -> None:
    listed = body_of("azure-arm/log_analytics_workspaces_list_by_subscription.json")["value"][0]
    workspace = mapping.read_workspace(listed)
    assert (workspace.name, workspace.resource_group) == ("AzTest2170", "oiautorest6685")
    assert workspace.customer_id == "bc089d7b-485c-4aff-a71e-c00f362d8d2f"


async def test_published_subscription_list_and_its_placeholder_next_link() -> None:
    body = body_of("azure-arm/subscriptions_list.json")
    subscriptions = [mapping.read_subscription(raw) for raw in body["value"]]
    assert [item.display_name for item in subscriptions] == ["Example Subscription", "Example Subscription2"]
    assert subscriptions[0].tenant_id == "31c75423-32d6-4322-88b7-c478bdde4858"
    # The example's nextLink is the placeholder "...": not an address on the ARM host, so the client says
    # so instead of sending its bearer token there or pretending the list ended.
    client, seen, http = mock_client(serve(body))
    async with http:
        with pytest.raises(BadPayload, match="nextLink"):
            await client.list_subscriptions()
    assert len(seen) == 1


def test_html_comments_become_text() -> None:
    assert mapping.plain_text("<p>Isolated the host.</p><p>User &amp; manager told</p>") == (
        "Isolated the host.\nUser & manager told"
    )
    assert mapping.plain_text("a < b is plain text") == "a < b is plain text"
    assert mapping.plain_text("line<br/>next") == "line\nnext"


def test_comment_count_spares_a_call() -> None:
    incident = mapping.read_incident(body_of("sentinel/incidents_get.json"))
    assert mapping.comment_count(incident) == 3
    without = body_of("sentinel/incidents_get.json") | {}
    without = {**without, "properties": {**without["properties"], "additionalData": {}}}
    assert mapping.comment_count(mapping.read_incident(without)) is None

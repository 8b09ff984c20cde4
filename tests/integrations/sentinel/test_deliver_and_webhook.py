"""Delivering ticket changes to an incident (against a mock ARM holding one incident), and reading webhooks."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from portal.integrations.base import ConnectionView, OutboundChange
from portal.integrations.errors import InvalidRequest
from portal.integrations.http import VendorHttp
from portal.integrations.sentinel.api import SentinelApi
from portal.integrations.sentinel.client import describe_arm_error
from portal.integrations.sentinel.mapping import Workspace
from portal.integrations.sentinel.vendor import SentinelVendor
from tests.integrations.sentinel.support import ARM, Bearer, Recorder, connection_view, example, no_sleep

PUBLISHED = example("sentinel/incidents_get.json")["responses"]["200"]["body"]
WORKSPACE = Workspace("tenant-a", "sub-1", "rg-siem", "sentinel-ws")
NAME = "73e01a99-5cd7-4139-a149-9f2736ff2ab5"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
NO_SESSION = cast(AsyncSession, None)  # Sentinel's deliveries touch no database rows


class FakeArm:
    """One workspace's incidents with ARM's PUT semantics: full replace, a new etag each write, 409 on a stale one."""

    def __init__(self) -> None:
        self.incidents: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.writes = 0

    def add(self, name: str, **properties: Any) -> None:
        raw = copy.deepcopy(PUBLISHED)
        raw["name"] = name
        raw["properties"].update(
            {"status": "Active", "classification": None, "classificationReason": None, **properties}
        )
        self.incidents[name] = raw

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.split("/")
        name = parts[parts.index("incidents") + 1]
        if "comments" in parts:
            comment_id = parts[-1]
            created = comment_id not in self.comments
            self.comments[comment_id] = json.loads(request.content)
            return httpx.Response(201 if created else 200, json={"name": comment_id, "properties": {}})
        if request.method == "GET":
            if name not in self.incidents:
                return httpx.Response(404, json={"error": {"code": "NotFound", "message": "Incident not found"}})
            return httpx.Response(200, json=self.incidents[name])
        body = json.loads(request.content)
        current = self.incidents.get(name)
        if current is not None and body.get("etag") not in (None, current["etag"]):
            return httpx.Response(409, json={"error": {"code": "Conflict", "message": "Newer version exists"}})
        self.writes += 1
        raw = copy.deepcopy(current or PUBLISHED)
        raw["name"] = name
        raw["etag"] = f'"etag-{self.writes}"'
        raw["properties"] = {
            **{k: raw["properties"][k] for k in ("incidentNumber", "incidentUrl")},
            **body["properties"],
        }
        self.incidents[name] = raw
        return httpx.Response(200 if current else 201, json=raw)


def api_for(arm: FakeArm, mappings: dict[str, Any] | None = None) -> tuple[SentinelApi, httpx.AsyncClient]:
    view = connection_view()
    view = ConnectionView(view.id, view.vendor, view.name, view.config, mappings or {}, view.secrets)
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(arm.handler))
    http = VendorHttp(
        http_client, ARM, recorder=Recorder(), credentials=Bearer(), describe_error=describe_arm_error, sleep=no_sleep
    )
    return SentinelApi(http=http, connection=view), http_client


def change(operation: str, payload: dict[str, Any], name: str = NAME) -> OutboundChange:
    return OutboundChange(
        id=uuid.uuid4(), operation=operation, remote_type="incident",
        remote_id=WORKSPACE.incident_remote_id(name), payload=payload, idempotency_key=uuid.uuid4(), ticket_id=None,
    )  # fmt: skip


async def test_a_note_becomes_a_comment_under_the_outbox_key_and_redelivery_rewrites_it() -> None:
    arm = FakeArm()
    arm.add(NAME)
    api, http = api_for(arm)
    note = change("comment", {"body": "Isolated the host", "author": "alice@msp.example"})
    async with http:
        first = await SentinelVendor().deliver(api, NO_SESSION, note)
        await SentinelVendor().deliver(api, NO_SESSION, note)
    assert first.produced_remote_id == str(note.idempotency_key)
    assert list(arm.comments) == [str(note.idempotency_key)]
    assert arm.comments[str(note.idempotency_key)]["properties"]["message"] == (
        "Isolated the host\n\n— alice@msp.example (socdesk)"
    )


async def test_closing_sends_the_ticket_s_pair_or_the_connection_default() -> None:
    arm = FakeArm()
    arm.add("a")
    arm.add("b")
    api, http = api_for(arm, {"default_classification": "FalsePositive", "default_reason": "IncorrectAlertLogic"})
    async with http:
        await SentinelVendor().deliver(
            api,
            NO_SESSION,
            change("close", {"classification": "TruePositive", "reason": "SuspiciousActivity", "note": "Done"}, "a"),
        )
        await SentinelVendor().deliver(api, NO_SESSION, change("close", {"classification": None, "note": ""}, "b"))
    a, b = arm.incidents["a"]["properties"], arm.incidents["b"]["properties"]
    assert (a["status"], a["classification"], a["classificationReason"], a["classificationComment"]) == (
        "Closed", "TruePositive", "SuspiciousActivity", "Done",
    )  # fmt: skip
    assert (b["status"], b["classification"], b["classificationReason"]) == (
        "Closed",
        "FalsePositive",
        "IncorrectAlertLogic",
    )
    assert a["title"] == "My incident"  # the full object went back, not just the changed fields


async def test_close_retries_on_a_stale_etag() -> None:
    arm = FakeArm()
    arm.add(NAME)
    original = arm.handler
    raced = {"done": False}

    def racing(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and not raced["done"]:
            raced["done"] = True
            arm.incidents[NAME]["etag"] = '"someone-else"'  # an analyst saved in between our GET and PUT
        return original(request)

    arm.handler = racing  # type: ignore[method-assign]
    api, http = api_for(arm)
    async with http:
        await SentinelVendor().deliver(
            api, NO_SESSION, change("close", {"classification": "Undetermined", "reason": None, "note": "x"})
        )
    assert [r.method for r in arm.requests] == ["GET", "PUT", "GET", "PUT"]
    assert arm.incidents[NAME]["properties"]["classification"] == "Undetermined"
    assert "classificationReason" not in arm.incidents[NAME]["properties"]


async def test_reopen_and_priority() -> None:
    arm = FakeArm()
    arm.add(NAME, status="Closed", classification="TruePositive", classificationReason="SuspiciousActivity")
    low = str(uuid.uuid4())
    api, http = api_for(arm, {"priority_Low": low, "priority_Informational": low})
    async with http:
        await SentinelVendor().deliver(api, NO_SESSION, change("reopen", {"note": ""}))
        await SentinelVendor().deliver(api, NO_SESSION, change("priority", {"priority_id": low}))
        writes = arm.writes
        await SentinelVendor().deliver(api, NO_SESSION, change("priority", {"priority_id": str(uuid.uuid4())}))
    properties = arm.incidents[NAME]["properties"]
    assert properties["status"] == "Active"
    assert "classification" not in properties
    assert properties["severity"] == "Low"
    assert arm.writes == writes  # a priority that maps to no severity tells Sentinel nothing


async def test_send_to_sentinel_creates_the_incident_once() -> None:
    arm = FakeArm()
    api, http = api_for(arm)
    create = change(
        "create", {"title": "Suspicious VPN login", "description": "Seen by the client", "severity": "High"}, "new-1"
    )
    async with http:
        await SentinelVendor().deliver(api, NO_SESSION, create)
        await SentinelVendor().deliver(api, NO_SESSION, create)
    assert arm.writes == 1
    assert arm.incidents["new-1"]["properties"]["title"] == "Suspicious VPN login"
    assert arm.incidents["new-1"]["properties"]["status"] == "New"


async def test_a_change_for_something_else_is_refused() -> None:
    arm = FakeArm()
    api, http = api_for(arm)
    async with http:
        with pytest.raises(InvalidRequest):
            await SentinelVendor().deliver(api, NO_SESSION, change("comment", {"body": ""}))


# -- webhooks ----------------------------------------------------------------------------------------


def trigger(event_id: str = "7d4c0000-0000-4000-8000-000000000001", kind: str = "Update") -> bytes:
    incident = copy.deepcopy(PUBLISHED)
    incident["id"] = incident["id"].replace("/incidents/", "/Incidents/")
    return json.dumps(
        {
            "eventUniqueId": event_id,
            "objectSchemaType": "Incident",
            "objectEventType": kind,
            "workspaceInfo": {
                "SubscriptionId": "d0cfe6b2",
                "ResourceGroupName": "myRg",
                "WorkspaceName": "myWorkspace",
            },
            "workspaceId": "8d300aff-0000-4000-8000-000000000000",
            "object": incident,
        }
    ).encode()


def read(body: bytes, secret: str | None = "whsec-sentinel-test") -> Any:  # noqa: S107
    headers = {"X-Portal-Signature": secret} if secret is not None else {}
    return SentinelVendor().read_webhook(connection_view(), headers, body, NOW)


def test_a_trigger_body_names_the_incident_and_its_workspace() -> None:
    reading = read(trigger())
    assert reading.valid
    assert reading.delivery_id == "event:7d4c0000-0000-4000-8000-000000000001"
    assert [(w.entity, w.remote_id, w.remote_scope) for w in reading.work] == [
        ("incidents", NAME, "d0cfe6b2/myrg/myworkspace")
    ]


def test_a_redelivery_has_the_same_delivery_id() -> None:
    assert read(trigger()).delivery_id == read(trigger()).delivery_id


@pytest.mark.parametrize(
    ("secret", "detail"),
    [(None, "header"), ("wrong-secret", "does not match"), ("", "header")],
)
def test_a_wrong_or_missing_secret_is_refused(secret: str | None, detail: str) -> None:
    reading = read(trigger(), secret)
    assert not reading.valid
    assert detail in reading.detail
    assert not reading.work


@pytest.mark.parametrize(
    ("body", "detail"),
    [(b"{not json", "not JSON"), (b"[]", "not a JSON object"), (b"{}", "names no incident")],
)
def test_a_malformed_body_is_refused_with_the_reason(body: bytes, detail: str) -> None:
    reading = read(body)
    assert not reading.valid
    assert detail in reading.detail

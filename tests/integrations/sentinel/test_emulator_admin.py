"""The Sentinel emulator's analyst and administrator routes, its Logic App, its fixtures, and the
whole emulator served on a real port (sign-in, ARM and a Logic App delivery to a served receiver)."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from litestar import Litestar, Request, post

from portal.integrations.sentinel.emulator import fixtures
from portal.integrations.sentinel.emulator.app import create_emulator
from portal.integrations.sentinel.emulator.state import SentinelState
from tests.integrations.sentinel.emulator_support import (
    API,
    ARM_SCOPE,
    FROZEN,
    NORTHWIND,
    REDIRECT,
    WOODGROVE,
    Microsoft,
    asgi,
    ms_fixture,  # noqa: F401  (the "ms" fixture)
    pkce,
    workspace_path,
)
from tests.serving import served

ADMIN = f"/_emulator/workspaces/{NORTHWIND.workspace}"
SECRET = "hook-secret-0123456789"
TRIGGER_KEYS = {"eventUniqueId", "objectSchemaType", "objectEventType", "workspaceInfo", "workspaceId", "object"}


class Receiver:
    """socdesk's side of the Logic App's HTTP action: records what arrives, fails when told to."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()

        @post("/hooks/sentinel", status_code=202)
        async def hook(request: Request[Any, Any, Any]) -> dict[str, bool]:
            with self.lock:
                self.received.append((dict(request.headers), await request.json()))
                failing = self.fail_next > 0
                self.fail_next -= 1 if failing else 0
            if failing:
                raise RuntimeError("receiver down")
            return {"accepted": True}

        self.app = Litestar(route_handlers=[hook])


async def configure(ms: Microsoft, url: str, **options: Any) -> None:
    body = {"url": url, "headers": {"X-Portal-Signature": SECRET}, "retrySeconds": 0} | options
    response = await ms.http.put(f"{ADMIN}/logic-app", json=body)
    assert response.status_code == 200, response.text


def assert_trigger_payload(payload: dict[str, Any], event: str, incident_name: str) -> None:
    assert set(payload) == TRIGGER_KEYS
    assert payload["objectSchemaType"] == "Incident"
    assert payload["objectEventType"] == event
    assert payload["workspaceInfo"] == {
        "SubscriptionId": NORTHWIND.subscription_id,
        "ResourceGroupName": NORTHWIND.resource_group,
        "WorkspaceName": NORTHWIND.workspace,
    }
    assert payload["workspaceId"] == fixtures._id("workspace", NORTHWIND.key)
    incident = payload["object"]
    assert incident["name"] == incident_name
    assert incident["type"] == "Microsoft.SecurityInsights/Incidents"
    assert incident["id"].endswith(f"/providers/Microsoft.SecurityInsights/Incidents/{incident_name}")
    assert {"title", "severity", "status", "incidentNumber", "lastModifiedTimeUtc", "alerts", "relatedEntities"} <= set(
        incident["properties"]
    )


# -- the analyst --------------------------------------------------------------------------------


async def test_an_analyst_raises_changes_closes_and_reopens_an_incident(ms: Microsoft) -> None:
    created = await ms.http.post(
        f"{ADMIN}/incidents",
        json={
            "title": "Suspicious sign-in",
            "severity": "High",
            "owner": NORTHWIND.analyst_upn,
            "tactics": ["InitialAccess"],
            "alerts": [
                {"alertDisplayName": "Sign-in from TOR", "productName": "Azure Active Directory Identity Protection"}
            ],
            "entities": [{"kind": "Account", "properties": {"accountName": "lee.gu", "friendlyName": "lee.gu"}}],
        },
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    name = incident["name"]
    assert incident["properties"]["incidentNumber"] == 21
    assert incident["properties"]["status"] == "New"
    assert incident["properties"]["owner"]["userPrincipalName"] == NORTHWIND.analyst_upn
    assert incident["properties"]["additionalData"]["alertsCount"] == 1
    assert incident["properties"]["additionalData"]["alertProductNames"] == [
        "Azure Active Directory Identity Protection"
    ]

    changed = (await ms.http.patch(f"{ADMIN}/incidents/{name}", json={"status": "Active", "severity": "Low"})).json()
    assert (changed["properties"]["status"], changed["properties"]["severity"]) == ("Active", "Low")
    assert changed["properties"]["title"] == "Suspicious sign-in"  # untouched
    assert changed["etag"] != incident["etag"]

    refused = await ms.http.post(f"{ADMIN}/incidents/{name}/close", json={"classification": "BenignPositive"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "classification 'BenignPositive' must have classificationReason."
    closed = await ms.http.post(
        f"{ADMIN}/incidents/{name}/close",
        json={"classification": "TruePositive", "classificationReason": "SuspiciousActivity",
              "classificationComment": "Confirmed"},
    )  # fmt: skip
    assert closed.json()["properties"]["status"] == "Closed"
    reopened = (await ms.http.post(f"{ADMIN}/incidents/{name}/reopen", json={})).json()
    assert reopened["properties"]["status"] == "Active"
    assert "classification" not in reopened["properties"]

    comment = await ms.http.post(
        f"{ADMIN}/incidents/{name}/comments", json={"message": "Looking into it", "author": NORTHWIND.analyst_upn}
    )
    assert comment.status_code == 201
    assert comment.json()["properties"]["author"]["name"] == "Megan Bowen"

    # What ARM shows is what the analyst did.
    arm = await ms.http.get(
        f"{workspace_path(NORTHWIND)}/incidents/{name}/comments", params=API, headers=ms.bearer(NORTHWIND.admin_upn)
    )
    assert [c["properties"]["message"] for c in arm.json()["value"]] == ["Looking into it"]
    state = (await ms.http.get(f"{ADMIN}/incidents/{name}")).json()
    assert [c["properties"]["message"] for c in state["comments"]] == ["Looking into it"]
    assert state["entities"][0]["kind"] == "Account"
    assert state["properties"]["additionalData"]["commentsCount"] == 1


async def test_entities_added_later_show_on_the_incident(ms: Microsoft) -> None:
    name = fixtures.incident_name(NORTHWIND.key, 5)
    before = (await ms.http.get(f"{ADMIN}/incidents/{name}")).json()
    added = await ms.http.post(
        f"{ADMIN}/incidents/{name}/entities",
        json={"kind": "Host", "properties": {"hostName": "h", "friendlyName": "h"}},
    )
    assert added.status_code == 201
    after = (await ms.http.get(f"{ADMIN}/incidents/{name}")).json()
    assert len(after["entities"]) == len(before["entities"]) + 1
    assert after["properties"]["lastModifiedTimeUtc"] > before["properties"]["lastModifiedTimeUtc"]


async def test_unknown_fields_and_workspaces_are_refused(ms: Microsoft) -> None:
    unknown = await ms.http.post(f"{ADMIN}/incidents", json={"title": "t", "severity": "Low", "colour": "red"})
    assert unknown.status_code == 400
    assert (await ms.http.get("/_emulator/workspaces/nope/incidents")).status_code == 404


async def test_tenants_users_subscriptions_workspaces_and_roles_can_be_made(ms: Microsoft) -> None:
    tenant = (
        await ms.http.post("/_emulator/tenants", json={"displayName": "Tailspin", "domain": "tailspin.test"})
    ).json()
    user = await ms.http.post(
        f"/_emulator/tenants/{tenant['id']}/users",
        json={"userPrincipalName": "ana@tailspin.test", "displayName": "Ana", "password": "pw-123456789"},
    )
    assert user.status_code == 201
    subscription = (
        await ms.http.post("/_emulator/subscriptions", json={"tenantId": tenant["id"], "displayName": "Tailspin prod"})
    ).json()
    workspace = await ms.http.post(
        "/_emulator/workspaces",
        json={"subscriptionId": subscription["subscriptionId"], "resourceGroup": "rg", "name": "law-tailspin"},
    )
    assert workspace.status_code == 201
    role = await ms.http.put(
        "/_emulator/workspaces/law-tailspin/roles/ana@tailspin.test", json={"role": "Microsoft Sentinel Reader"}
    )
    assert role.json()["role"] == "Microsoft Sentinel Reader"
    tokens = (
        await ms.http.post(
            "/_emulator/tokens",
            json={"clientId": fixtures.DEMO_CLIENT_ID, "user": "ana@tailspin.test", "scope": ARM_SCOPE},
        )
    ).json()
    listed = await ms.http.get(
        "/subscriptions",
        params={"api-version": "2022-12-01"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert [s["displayName"] for s in listed.json()["value"]] == ["Tailspin prod"]


async def test_reset_brings_the_seeded_data_back(ms: Microsoft) -> None:
    await ms.http.post(f"{ADMIN}/incidents", json={"title": "extra", "severity": "Low"})
    assert (await ms.http.post("/_emulator/reset")).json() == {"reset": True}
    assert len((await ms.http.get(f"{ADMIN}/incidents")).json()["value"]) == fixtures.INCIDENTS_PER_WORKSPACE


# -- fixtures -----------------------------------------------------------------------------------


async def test_the_fixtures_are_the_same_under_a_frozen_clock(ms: Microsoft) -> None:
    other = SentinelState()
    other.clock.set(FROZEN)
    other.reset()
    app, _ = create_emulator(other)
    async with httpx.AsyncClient(transport=asgi(app), base_url="http://other.test") as http:
        theirs = (await http.get(f"{ADMIN}/incidents")).json()["value"]
    ours = (await ms.http.get(f"{ADMIN}/incidents")).json()["value"]

    def stable(incidents: list[dict[str, Any]]) -> list[Any]:
        # Everything but the etags (fresh GUIDs on every write).
        return [
            ({k: v for k, v in i.items() if k not in ("etag", "comments")}, [c["properties"] for c in i["comments"]])
            for i in incidents
        ]

    assert stable(ours) == stable(theirs)
    assert len(ours) == 20
    statuses = {i["properties"]["status"] for i in ours}
    assert statuses == {"New", "Active", "Closed"}
    created = [i["properties"]["createdTimeUtc"] for i in ours]
    assert min(created) >= (FROZEN - timedelta(days=10, hours=6)).strftime("%Y-%m-%dT%H:%M:%S")
    assert any(i["comments"] for i in ours)
    assert all(i["alerts"] and i["entities"] for i in ours)


async def test_demo_activity_raises_incidents_or_comments(ms: Microsoft) -> None:
    before = sum(len(w.incidents) for w in ms.state.workspaces.values())
    comments_before = sum(len(i.comments) for w in ms.state.workspaces.values() for i in w.incidents.values())
    rng = random.Random(7)
    touched = [fixtures.demo_activity_step(ms.state, rng) for _ in range(10)]
    after = sum(len(w.incidents) for w in ms.state.workspaces.values())
    comments_after = sum(len(i.comments) for w in ms.state.workspaces.values() for i in w.incidents.values())
    assert (after - before) + (comments_after - comments_before) == 10
    assert all(incident.modified >= incident.created for incident in touched)


# -- the Logic App ------------------------------------------------------------------------------


async def test_the_logic_app_posts_the_trigger_payload_and_redelivers_it_unchanged(ms: Microsoft) -> None:
    receiver = Receiver()
    ms.state.logic_apps.transport = asgi(receiver.app)
    await configure(ms, "http://socdesk.test/hooks/sentinel")
    created = (await ms.http.post(f"{ADMIN}/incidents", json={"title": "Hooked", "severity": "Medium"})).json()
    await ms.http.post("/_emulator/logic-apps/flush")  # the background flush may not have run yet
    headers, payload = receiver.received[0]
    assert headers["x-portal-signature"] == SECRET
    assert_trigger_payload(payload, "Create", created["name"])

    await ms.http.post(
        f"{ADMIN}/incidents/{created['name']}/comments", json={"message": "m", "author": NORTHWIND.analyst_upn}
    )
    await ms.http.post("/_emulator/logic-apps/flush")
    assert receiver.received[-1][1]["objectEventType"] == "Update"

    again = (await ms.http.post(f"{ADMIN}/logic-app/redeliver", json={"times": 3})).json()
    assert again["queued"] == 3
    ids = [payload["eventUniqueId"] for _, payload in receiver.received]
    assert len(ids) == 5
    assert ids[2:] == [ids[1]] * 3
    deliveries = (await ms.http.get("/_emulator/logic-apps/deliveries")).json()["value"]
    assert [d["status"] for d in deliveries] == [202] * 5


async def test_an_automation_rule_on_create_only_and_api_changes_excluded(ms: Microsoft) -> None:
    receiver = Receiver()
    ms.state.logic_apps.transport = asgi(receiver.app)
    await configure(ms, "http://socdesk.test/hooks/sentinel", events=["Create"], includeApiChanges=False)
    name = fixtures.incident_name(NORTHWIND.key, 2)
    await ms.http.patch(f"{ADMIN}/incidents/{name}", json={"severity": "Low"})
    put = await ms.http.put(
        f"{workspace_path(NORTHWIND)}/incidents/9d3e1b7a-0f0e-4c1a-9d7b-333333333333",
        params=API,
        json={"properties": {"title": "From the API", "severity": "Low", "status": "New"}},
        headers=ms.bearer(NORTHWIND.admin_upn),
    )
    assert put.status_code == 201
    await ms.http.post(f"{ADMIN}/incidents", json={"title": "From the portal", "severity": "Low"})
    await ms.http.post("/_emulator/logic-apps/flush")
    assert [(p["objectEventType"], p["object"]["properties"]["title"]) for _, p in receiver.received] == [
        ("Create", "From the portal")
    ]


async def test_a_failed_delivery_is_retried_like_a_logic_app(ms: Microsoft) -> None:
    receiver = Receiver()
    receiver.fail_next = 2
    ms.state.logic_apps.transport = httpx.ASGITransport(app=receiver.app, raise_app_exceptions=False)  # type: ignore[arg-type]
    await configure(ms, "http://socdesk.test/hooks/sentinel", retries=4)
    await ms.http.post(f"{ADMIN}/incidents", json={"title": "Retry me", "severity": "Low"})
    await ms.http.post("/_emulator/logic-apps/flush")
    sent = (await ms.http.get("/_emulator/logic-apps/deliveries")).json()["value"]
    assert [(d["status"], d["attempts"]) for d in sent] == [(202, 3)]
    assert len({p["eventUniqueId"] for _, p in receiver.received}) == 1
    assert len(receiver.received) == 3


# -- the whole emulator on a real port -------------------------------------------------------


async def _wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_served_sign_in_arm_and_logic_app_delivery() -> None:
    receiver = Receiver()
    app, state = create_emulator()
    with served(receiver.app, what="the receiver") as hooks, served(app, what="the Sentinel emulator") as base:
        async with httpx.AsyncClient(base_url=base) as http:
            verifier, challenge = pkce()
            params = {
                "client_id": fixtures.DEMO_CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT,
                "scope": f"openid profile offline_access {ARM_SCOPE}", "state": "s1", "nonce": "n1",
                "code_challenge": challenge, "code_challenge_method": "S256",
            }  # fmt: skip
            page = await http.get(f"/{WOODGROVE.tenant_id}/oauth2/v2.0/authorize", params=params)
            match = re.search(r"name='request' value='([^']+)'", page.text)
            assert match
            form = {"request": match.group(1), "step": "signin", "login": WOODGROVE.admin_upn,
                    "passwd": fixtures.DEMO_PASSWORD}  # fmt: skip
            consent = await http.post(f"/{WOODGROVE.tenant_id}/oauth2/v2.0/authorize", data=form)
            assert "Permissions requested" in consent.text
            answer = await http.post(
                f"/{WOODGROVE.tenant_id}/oauth2/v2.0/authorize",
                data={"request": match.group(1), "step": "consent", "decision": "accept"},
            )
            code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
            token = await http.post(
                f"/{WOODGROVE.tenant_id}/oauth2/v2.0/token",
                data={"client_id": fixtures.DEMO_CLIENT_ID, "client_secret": fixtures.DEMO_CLIENT_SECRET,
                      "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                      "code_verifier": verifier, "scope": f"{ARM_SCOPE} offline_access"},
            )  # fmt: skip
            assert token.status_code == 200, token.text
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            incidents = await http.get(
                f"{workspace_path(WOODGROVE)}/incidents", params=API | {"$top": 5}, headers=bearer
            )
            assert incidents.status_code == 200
            assert incidents.json()["nextLink"].startswith(f"{base}{workspace_path(WOODGROVE)}/incidents?")

            admin = f"/_emulator/workspaces/{WOODGROVE.workspace}"
            await http.put(f"{admin}/logic-app", json={"url": f"{hooks}/hooks/sentinel",
                                                       "headers": {"X-Portal-Signature": SECRET}})  # fmt: skip
            created = (
                await http.post(f"{admin}/incidents", json={"title": "Over the wire", "severity": "High"})
            ).json()
            # The emulator delivers on its own, after answering.
            await _wait_for(lambda: bool(receiver.received))
    headers, payload = receiver.received[0]
    assert headers["x-portal-signature"] == SECRET
    assert payload["objectEventType"] == "Create"
    assert payload["object"]["name"] == created["name"]
    assert payload["workspaceInfo"]["WorkspaceName"] == WOODGROVE.workspace
    assert state.logic_apps.deliveries[0].status == 202


async def test_a_dropped_run_loses_the_delivery_and_a_delayed_one_arrives_late(ms: Microsoft) -> None:
    receiver = Receiver()
    ms.state.logic_apps.transport = asgi(receiver.app)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    ms.state.logic_apps.sleep = sleep
    await configure(ms, "http://socdesk.test/hooks/sentinel", dropNext=1, delaySeconds=30)
    await ms.http.post(f"{ADMIN}/incidents", json={"title": "Lost", "severity": "Low"})
    await ms.http.post(f"{ADMIN}/incidents", json={"title": "Late", "severity": "Low"})
    await ms.http.post("/_emulator/logic-apps/flush")
    assert [p["object"]["properties"]["title"] for _, p in receiver.received] == ["Late"]
    assert waits == [30]
    deliveries = (await ms.http.get("/_emulator/logic-apps/deliveries")).json()["value"]
    assert [(d["status"], d["error"]) for d in deliveries] == [(None, "dropped"), (202, "")]
    bad = await ms.http.put(f"{ADMIN}/logic-app", json={"url": "http://x.test", "retries": "many"})
    assert bad.status_code == 400

"""The SentinelOne emulator's Management API, called directly over HTTP as any S1 client would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from portal.integrations.sentinelone.emulator.app import create_emulator
from portal.integrations.sentinelone.emulator.fixtures import CONSOLES
from portal.integrations.sentinelone.emulator.state import S1State, parse_iso

API = "/web/api/v2.1"
BASE = "http://usea1.s1.test"
FROZEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
US = CONSOLES["usea1"]
AUTH_FAILED = {"errors": [{"code": 4010010, "detail": None, "title": "Authentication Failed"}]}


@dataclass
class Console:
    state: S1State
    http: httpx.AsyncClient

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"ApiToken {token or US.token.token}"}

    async def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        return await self.http.get(f"{API}{path}", params=params, headers=self.headers(token))

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        return await self.http.post(f"{API}{path}", json=body, headers=self.headers(token))

    async def data(self, path: str, token: str | None = None, **params: Any) -> Any:
        response = await self.get(path, token, **params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a listing, following nextCursor with the same filters."""
        pages = []
        query = dict(params)
        for _ in range(100):
            response = await self.get(path, **query)
            assert response.status_code == 200, response.text
            pages.append(response.json())
            cursor = response.json()["pagination"]["nextCursor"]
            if cursor is None:
                return pages
            query = {**params, "cursor": cursor}
        raise AssertionError("the listing never ended")

    async def token(self, **options: Any) -> dict[str, Any]:
        response = await self.http.post("/_emulator/tokens", json={"user": "Test User", **options})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    state = S1State("usea1")
    state.clock.set(FROZEN)
    state.reset()  # seed again at the frozen time: the same data in every test
    app, state = create_emulator(state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:  # type: ignore[arg-type]
        yield Console(state, http)


def an_error(response: httpx.Response, status: int, code: int, title: str) -> str | None:
    """The S1 error body's detail, after checking the status, code and title."""
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert (error["code"], error["title"]) == (code, title)
    detail: str | None = error["detail"]
    return detail


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"ApiToken {US.token.token}x"},
        {"Authorization": f"Bearer {US.token.token}"},
        {"Authorization": f"Token {US.token.token}"},
        {"Authorization": "ApiToken "},
    ],
    ids=["missing", "wrong", "bearer-scheme", "session-scheme", "empty"],
)
async def test_a_missing_or_wrong_token_is_refused_with_s1s_body(console: Console, headers: dict[str, str]) -> None:
    response = await console.http.get(f"{API}/agents", headers=headers)
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


async def test_a_token_stops_working_the_moment_it_expires(console: Console) -> None:
    console.state.clock.set(FROZEN + timedelta(days=US.token.expires_in_days) - timedelta(seconds=1))
    assert (await console.get("/agents")).status_code == 200
    console.state.clock.advance(1)
    response = await console.get("/agents")
    assert response.status_code == 401
    assert response.json() == AUTH_FAILED


async def test_admin_expire_revoke_and_regenerate_a_token(console: Console) -> None:
    user_id = US.token.user_id
    assert (await console.http.post(f"/_emulator/tokens/{user_id}/expire")).json()["valid"] is False
    assert (await console.get("/sites")).status_code == 401
    regenerated = (await console.http.post(f"/_emulator/tokens/{user_id}/regenerate", json={})).json()
    assert regenerated["valid"] is True
    assert (await console.get("/sites")).status_code == 401  # the old token is gone
    assert (await console.get("/sites", token=regenerated["token"])).status_code == 200
    await console.http.post(f"/_emulator/tokens/{user_id}/revoke")
    assert (await console.get("/sites", token=regenerated["token"])).json() == AUTH_FAILED


# -- envelope and paging ---------------------------------------------------------------------


async def test_a_list_comes_in_the_data_pagination_errors_envelope(console: Console) -> None:
    body = (await console.get("/agents", limit=3)).json()
    assert set(body) == {"data", "pagination", "errors"}
    assert body["errors"] is None
    assert set(body["pagination"]) == {"nextCursor", "totalItems"}
    assert body["pagination"]["totalItems"] == len(console.state.agents)
    assert len(body["data"]) == 3
    assert isinstance(body["pagination"]["nextCursor"], str)


async def test_the_default_page_is_ten_records(console: Console) -> None:
    assert len(await console.data("/agents")) == 10


async def test_cursor_paging_visits_every_record_once_in_order(console: Console) -> None:
    pages = await console.pages("/agents", limit=7)
    ids = [agent["id"] for page in pages for agent in page["data"]]
    assert len(pages) == -(-len(console.state.agents) // 7)
    assert ids == sorted(console.state.agents, key=int)
    assert {page["pagination"]["totalItems"] for page in pages} == {len(console.state.agents)}
    assert pages[-1]["pagination"]["nextCursor"] is None


async def test_cursor_paging_sorted_by_update_time_descending(console: Console) -> None:
    pages = await console.pages("/agents", limit=4, sortBy="updatedAt", sortOrder="desc")
    times = [agent["updatedAt"] for page in pages for agent in page["data"]]
    assert len(times) == len(console.state.agents)
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("limit", ["1001", "0", "ten"])
async def test_a_limit_outside_1_to_1000_is_a_400(console: Console, limit: str) -> None:
    detail = an_error(await console.get("/threats", limit=limit), 400, 4000010, "Validation Error")
    assert detail == "limit: Must be between 1 and 1000."


async def test_a_limit_of_1000_is_one_page(console: Console) -> None:
    body = (await console.get("/agents", limit=1000)).json()
    assert len(body["data"]) == len(console.state.agents)
    assert body["pagination"]["nextCursor"] is None


async def test_skip_offsets_the_page_and_stops_at_1000(console: Console) -> None:
    everything = [agent["id"] for agent in await console.data("/agents", limit=1000)]
    skipped = [agent["id"] for agent in await console.data("/agents", limit=5, skip=5)]
    assert skipped == everything[5:10]
    an_error(await console.get("/agents", skip=1001), 400, 4000010, "Validation Error")


async def test_a_cursor_belongs_to_its_filters(console: Console) -> None:
    site = US.site("Main Clinic").id
    first = (await console.get("/agents", limit=2, siteIds=site)).json()
    cursor = first["pagination"]["nextCursor"]
    again = await console.get("/agents", limit=2, siteIds=site, cursor=cursor)
    assert again.status_code == 200
    assert {agent["siteId"] for agent in again.json()["data"]} == {site}
    detail = an_error(await console.get("/agents", limit=2, cursor=cursor), 400, 4000010, "Validation Error")
    assert detail is not None
    assert detail.startswith("cursor:")
    an_error(await console.get("/agents", cursor="not-a-cursor"), 400, 4000010, "Validation Error")


async def test_count_only_and_skip_count(console: Console) -> None:
    counted = (await console.get("/threats", countOnly="true")).json()
    assert counted["data"] == []
    assert counted["pagination"]["totalItems"] == len(console.state.threats)
    uncounted = (await console.get("/threats", skipCount="true")).json()
    assert uncounted["pagination"]["totalItems"] is None
    assert len(uncounted["data"]) == len(console.state.threats)


async def test_an_unknown_query_parameter_is_a_400_naming_it(console: Console) -> None:
    detail = an_error(await console.get("/threats", incidentStatus="resolved"), 400, 4000010, "Validation Error")
    assert detail == "incidentStatus: Unknown field."


# -- accounts and sites ----------------------------------------------------------------------


async def test_accounts_list_with_their_site_and_agent_counts(console: Console) -> None:
    accounts = await console.data("/accounts", limit=100)
    assert [account["name"] for account in accounts] == [account.name for account in US.accounts]
    northwind = accounts[0]
    assert northwind["id"] == US.account("Northwind Traders").id
    assert northwind["numberOfSites"] == 2
    expected = [a for a in console.state.agents.values() if a["accountId"] == northwind["id"]]
    assert northwind["activeAgents"] == sum(1 for a in expected if not a["isDecommissioned"])
    single = await console.data(f"/accounts/{northwind['id']}")
    assert single == northwind


async def test_sites_data_is_an_object_with_all_sites_and_sites(console: Console) -> None:
    body = (await console.get("/sites", limit=100)).json()
    assert set(body["data"]) == {"allSites", "sites"}
    assert set(body["data"]["allSites"]) == {"totalLicenses", "activeLicenses"}
    sites = body["data"]["sites"]
    assert [site["name"] for site in sites] == [site.name for account in US.accounts for site in account.sites]
    assert body["pagination"]["totalItems"] == len(sites)
    assert {"id", "name", "accountId", "accountName", "state", "siteType", "isDefault"} <= set(sites[0])


async def test_sites_filter_by_account_and_page(console: Console) -> None:
    contoso = US.account("Contoso Dental Group")
    pages = await console.pages("/sites", limit=2, accountIds=contoso.id)
    assert [site["name"] for page in pages for site in page["data"]["sites"]] == [s.name for s in contoso.sites]
    assert len(pages) == 2


async def test_an_unknown_site_is_a_404_or_a_400_in_a_filter(console: Console) -> None:
    detail = an_error(await console.get("/sites/1234"), 404, 4040010, "Not Found")
    assert detail == "There is no site 1234."
    detail = an_error(await console.get("/agents", siteIds="1234"), 400, 4000010, "Validation Error")
    assert detail == "siteIds: 1234 not found."
    an_error(await console.get("/agents", siteIds="main-clinic"), 400, 4000010, "Validation Error")


# -- agents ----------------------------------------------------------------------------------


async def test_agents_filter_by_site_account_and_decommissioned(console: Console) -> None:
    seattle = US.site("Seattle HQ").id
    by_site = await console.data("/agents", limit=100, siteIds=seattle)
    assert by_site
    assert {agent["siteId"] for agent in by_site} == {seattle}
    assert {agent["siteName"] for agent in by_site} == {"Seattle HQ"}
    northwind = US.account("Northwind Traders").id
    by_account = await console.data("/agents", limit=100, accountIds=northwind)
    expected = {a["id"] for a in console.state.agents.values() if a["accountId"] == northwind}
    assert {agent["id"] for agent in by_account} == expected
    retired = await console.data("/agents", isDecommissioned="true", limit=100)
    assert [agent["isDecommissioned"] for agent in retired] == [True]
    assert len(await console.data("/agents", isDecommissioned="false", limit=100)) == len(console.state.agents) - 1


async def test_agents_updated_after_a_time(console: Console) -> None:
    since = FROZEN.isoformat().replace("+00:00", "Z")
    assert await console.data("/agents", updatedAt__gt=since) == []
    agent_id = sorted(console.state.agents, key=int)[7]
    console.state.clock.advance(60)
    changed = await console.http.patch(f"/_emulator/agents/{agent_id}", json={"lastLoggedInUserName": "mallory"})
    assert changed.status_code == 200
    (updated,) = await console.data("/agents", updatedAt__gt=since)
    assert updated["id"] == agent_id
    assert updated["lastLoggedInUserName"] == "mallory"
    assert parse_iso(updated["updatedAt"]) == FROZEN + timedelta(seconds=60)
    epoch_ms = str(int(FROZEN.timestamp() * 1000))
    assert [a["id"] for a in await console.data("/agents", updatedAt__gt=epoch_ms)] == [agent_id]


async def test_admin_adds_moves_decommissions_and_removes_an_agent(console: Console) -> None:
    eastside = US.site("Eastside Clinic").id
    created = await console.http.post(
        "/_emulator/agents",
        json={"siteId": eastside, "computerName": "CDG-NEW001", "osType": "macos", "machineType": "laptop"},
    )
    assert created.status_code == 201
    agent = created.json()["data"]
    assert (agent["siteName"], agent["accountName"], agent["isActive"]) == (
        "Eastside Clinic",
        "Contoso Dental Group",
        True,
    )
    northgate = US.site("Northgate Clinic").id
    moved = (await console.http.patch(f"/_emulator/agents/{agent['id']}", json={"siteId": northgate})).json()["data"]
    assert moved["siteName"] == "Northgate Clinic"
    retired = (await console.http.delete(f"/_emulator/agents/{agent['id']}")).json()["data"]
    assert (retired["isDecommissioned"], retired["isActive"]) == (True, False)
    assert [a["id"] for a in await console.data("/agents", computerName="CDG-NEW001")] == [agent["id"]]
    assert (await console.http.get(f"/_emulator/agents/{agent['id']}")).json()["data"]["isDecommissioned"] is True
    removed = await console.http.delete(f"/_emulator/agents/{agent['id']}", params={"mode": "remove"})
    assert removed.status_code == 200
    assert (await console.http.get(f"/_emulator/agents/{agent['id']}")).status_code == 404
    assert await console.data("/agents", computerName="CDG-NEW001") == []


async def test_admin_refuses_unknown_agent_fields(console: Console) -> None:
    response = await console.http.post("/_emulator/agents", json={"siteId": US.site("Seattle HQ").id, "hostname": "x"})
    assert an_error(response, 400, 4000010, "Validation Error") == "hostname: not agent fields."


# -- threats ---------------------------------------------------------------------------------


async def raise_threat(console: Console, **details: Any) -> dict[str, Any]:
    agent_id = details.pop("agentId", sorted(console.state.agents, key=int)[0])
    response = await console.http.post("/_emulator/threats", json={"agentId": agent_id, **details})
    assert response.status_code == 201, response.text
    threat: dict[str, Any] = response.json()["data"]
    return threat


async def test_threats_updated_after_a_time_in_update_order(console: Console) -> None:
    since = FROZEN.isoformat()
    assert await console.data("/threats", updatedAt__gt=since) == []
    first, second = sorted(console.state.threats, key=int)[:2]
    console.state.clock.advance(30)
    await console.http.patch(f"/_emulator/threats/{second}", json={"incidentStatus": "in_progress"})
    console.state.clock.advance(30)
    await console.http.patch(f"/_emulator/threats/{first}", json={"analystVerdict": "suspicious"})
    changed = await console.data("/threats", updatedAt__gt=since, sortBy="updatedAt", sortOrder="asc")
    assert [threat["id"] for threat in changed] == [second, first]
    assert changed[0]["threatInfo"]["incidentStatus"] == "in_progress"
    assert changed[1]["threatInfo"]["analystVerdictDescription"] == "Suspicious"


async def test_threats_created_after_and_by_status(console: Console) -> None:
    new = await raise_threat(console, threatName="evil.exe")
    created = await console.data("/threats", createdAt__gt=(FROZEN - timedelta(seconds=1)).isoformat())
    assert [threat["id"] for threat in created] == [new["id"]]
    unresolved = await console.data("/threats", incidentStatuses="unresolved", limit=100)
    expected = {t.id for t in console.state.threats.values() if t.info["incidentStatus"] == "unresolved"}
    assert {threat["id"] for threat in unresolved} == expected
    not_resolved = await console.data("/threats", resolved="false", limit=100)
    assert {threat["id"] for threat in not_resolved} == {
        t.id for t in console.state.threats.values() if t.info["incidentStatus"] != "resolved"
    }
    detail = an_error(await console.get("/threats", incidentStatuses="open"), 400, 4000010, "Validation Error")
    assert detail is not None
    assert detail.startswith("incidentStatuses: open")


async def test_threats_filter_by_site_and_account(console: Console) -> None:
    agent = next(a for a in console.state.agents.values() if a["siteName"] == "Portland Warehouse")
    threat = await raise_threat(console, agentId=agent["id"])
    by_site = await console.data("/threats", siteIds=agent["siteId"], limit=100)
    assert threat["id"] in {t["id"] for t in by_site}
    assert {t["agentRealtimeInfo"]["siteId"] for t in by_site} == {agent["siteId"]}
    by_account = await console.data("/threats", accountIds=US.account("Halvorsen Bakery").id, limit=100)
    assert threat["id"] not in {t["id"] for t in by_account}


async def test_incident_status_and_verdict_updates_report_affected(console: Console) -> None:
    one, two = (await raise_threat(console))["id"], (await raise_threat(console))["id"]
    console.state.clock.advance(120)
    body = {"filter": {"ids": [one, two], "tenant": True}, "data": {"incidentStatus": "resolved"}}
    assert (await console.post("/threats/incident", body)).json() == {"data": {"affected": 2}}
    verdict = {"filter": {"ids": [one]}, "data": {"analystVerdict": "true_positive"}}
    assert (await console.post("/threats/analyst-verdict", verdict)).json() == {"data": {"affected": 1}}
    stored = (await console.http.get(f"/_emulator/threats/{one}")).json()["data"]["threatInfo"]
    assert (stored["incidentStatus"], stored["incidentStatusDescription"]) == ("resolved", "Resolved")
    assert (stored["analystVerdict"], stored["analystVerdictDescription"]) == ("true_positive", "True positive")
    assert parse_iso(stored["updatedAt"]) == FROZEN + timedelta(seconds=120)
    console.state.clock.advance(60)
    assert (await console.post("/threats/incident", body)).json() == {"data": {"affected": 2}}
    again = (await console.http.get(f"/_emulator/threats/{one}")).json()["data"]["threatInfo"]
    assert again["updatedAt"] == stored["updatedAt"]  # nothing changed, nothing to poll again


async def test_an_external_ticket_id_is_stored_on_the_threat(console: Console) -> None:
    threat = (await raise_threat(console))["id"]
    body = {"filter": {"ids": [threat]}, "data": {"externalTicketId": "SD-1042"}}
    assert (await console.post("/threats/external-ticket-id", body)).json() == {"data": {"affected": 1}}
    (listed,) = await console.data("/threats", ids=threat)
    assert (listed["threatInfo"]["externalTicketId"], listed["threatInfo"]["externalTicketExists"]) == ("SD-1042", True)
    wrong = {"filter": {"ids": [threat]}, "data": {"externalTicketId": 1042}}
    an_error(await console.post("/threats/external-ticket-id", wrong), 400, 4000010, "Validation Error")


async def test_threat_writes_are_validated(console: Console) -> None:
    threat = (await raise_threat(console))["id"]
    bad_status = {"filter": {"ids": [threat]}, "data": {"incidentStatus": "closed"}}
    an_error(await console.post("/threats/incident", bad_status), 400, 4000010, "Validation Error")
    no_filter = {"filter": {}, "data": {"incidentStatus": "resolved"}}
    an_error(await console.post("/threats/incident", no_filter), 400, 4000010, "Validation Error")
    an_error(await console.post("/threats/incident", {"data": {}}), 400, 4000010, "Validation Error")
    unknown = {"filter": {"ids": ["1"]}, "data": {"incidentStatus": "resolved"}}
    assert (await console.post("/threats/incident", unknown)).json() == {"data": {"affected": 0}}


async def test_threat_notes_are_added_listed_edited_and_deleted(console: Console) -> None:
    threat = (await raise_threat(console))["id"]
    added = await console.post("/threats/notes", {"filter": {"ids": [threat]}, "data": {"text": "[socdesk] Isolated."}})
    assert added.json() == {"data": {"affected": 1}}
    (note,) = await console.data(f"/threats/{threat}/notes")
    assert set(note) == {"id", "text", "creator", "creatorId", "createdAt", "updatedAt", "edited"}
    assert (note["text"], note["creator"], note["creatorId"], note["edited"]) == (
        "[socdesk] Isolated.",
        US.token.user,
        US.token.user_id,
        False,
    )
    path = f"{API}/threats/{threat}/notes/{note['id']}"
    edited = await console.http.put(path, json={"data": {"text": "Isolated and reimaged."}}, headers=console.headers())
    assert edited.json()["data"]["edited"] is True
    state_view = (await console.http.get(f"/_emulator/threats/{threat}")).json()
    assert [n["text"] for n in state_view["notes"]] == ["Isolated and reimaged."]
    assert (await console.http.delete(path, headers=console.headers())).json() == {"data": {"affected": 1}}
    assert await console.data(f"/threats/{threat}/notes") == []


async def test_notes_page_like_any_list(console: Console) -> None:
    threat = (await raise_threat(console))["id"]
    for number in range(5):
        console.state.clock.advance(1)
        await console.http.post(f"/_emulator/threats/{threat}/notes", json={"text": f"note {number}", "by": "Sam"})
    pages = await console.pages(f"/threats/{threat}/notes", limit=2)
    assert [note["text"] for page in pages for note in page["data"]] == [f"note {n}" for n in range(5)]
    assert {note["creator"] for page in pages for note in page["data"]} == {"Sam"}


async def test_a_note_for_an_unknown_threat_is_a_404(console: Console) -> None:
    an_error(await console.get("/threats/42/notes"), 404, 4040010, "Not Found")


# -- cloud-detection alerts ------------------------------------------------------------------


async def test_alerts_print_title_case_and_filter_uppercase(console: Console) -> None:
    alerts = await console.data("/cloud-detection/alerts", limit=100)
    assert len(alerts) == len(console.state.alerts)
    assert {alert["alertInfo"]["incidentStatus"] for alert in alerts} == {"Unresolved", "Resolved"}
    unresolved = await console.data("/cloud-detection/alerts", incidentStatus="UNRESOLVED", limit=100)
    assert {alert["alertInfo"]["incidentStatus"] for alert in unresolved} == {"Unresolved"}
    assert len(unresolved) == len(alerts) - 1
    an_error(
        await console.get("/cloud-detection/alerts", incidentStatus="unresolved"), 400, 4000010, "Validation Error"
    )
    first = alerts[0]
    assert first["alertInfo"]["alertId"]
    assert first["ruleInfo"]["severity"] in ("Low", "Medium", "High", "Critical")
    assert first["agentDetectionInfo"]["siteId"] in console.state.sites


async def test_alert_writes_take_lowercase_and_report_affected(console: Console) -> None:
    agent_id = sorted(console.state.agents, key=int)[2]
    raised = await console.http.post("/_emulator/alerts", json={"agentId": agent_id, "severity": "Critical"})
    alert_id = raised.json()["data"]["alertInfo"]["alertId"]
    console.state.clock.advance(10)
    status = {"filter": {"ids": [alert_id]}, "data": {"incidentStatus": "in_progress"}}
    assert (await console.post("/cloud-detection/alerts/incident", status)).json() == {"data": {"affected": 1}}
    verdict = {"filter": {"ids": [alert_id]}, "data": {"analystVerdict": "false_positive"}}
    assert (await console.post("/cloud-detection/alerts/analyst-verdict", verdict)).json() == {"data": {"affected": 1}}
    info = (await console.http.get(f"/_emulator/alerts/{alert_id}")).json()["data"]["alertInfo"]
    assert (info["incidentStatus"], info["analystVerdict"]) == ("In Progress", "False Positive")
    assert parse_iso(info["updatedAt"]) == FROZEN + timedelta(seconds=10)
    changed = await console.data("/cloud-detection/alerts", updatedAt__gt=FROZEN.isoformat())
    assert [alert["alertInfo"]["alertId"] for alert in changed] == [alert_id]
    upper = {"filter": {"ids": [alert_id]}, "data": {"incidentStatus": "RESOLVED"}}
    an_error(await console.post("/cloud-detection/alerts/incident", upper), 400, 4000010, "Validation Error")


async def test_alerts_filter_by_site(console: Console) -> None:
    site = next(iter(console.state.alerts.values())).detection["siteId"]
    alerts = await console.data("/cloud-detection/alerts", siteIds=site, limit=100)
    assert alerts
    assert {alert["agentDetectionInfo"]["siteId"] for alert in alerts} == {site}


# -- users, tokens and scope -----------------------------------------------------------------


async def test_token_details_show_the_expiry(console: Console) -> None:
    body = {"data": {"apiToken": US.token.token}}
    details = (await console.post("/users/api-token-details", body)).json()["data"]
    assert set(details) == {"createdAt", "expiresAt"}
    assert parse_iso(details["expiresAt"]) == FROZEN + timedelta(days=US.token.expires_in_days)
    bad = {"data": {"apiToken": "nope"}}
    an_error(await console.post("/users/api-token-details", bad), 400, 4000010, "Validation Error")


async def test_a_token_that_cannot_introspect_is_refused_but_user_still_answers(console: Console) -> None:
    created = await console.token(kind="service", introspectable=False, expiresInDays=90)
    body = {"data": {"apiToken": created["token"]}}
    an_error(
        await console.post("/users/api-token-details", body, created["token"]), 403, 4030010, "Insufficient permissions"
    )
    user = await console.data("/user", created["token"])
    assert user["userType"] == "service"
    assert parse_iso(user["apiToken"]["expiresAt"]) == FROZEN + timedelta(days=90)


async def test_user_names_the_tokens_user_and_scope(console: Console) -> None:
    user = await console.data("/user")
    assert (user["fullName"], user["scope"], user["userType"], user["lowestRole"]) == (
        "Morgan Admin",
        "global",
        "console",
        "Admin",
    )
    contoso = US.account("Contoso Dental Group")
    scoped = await console.token(scope="account", scopeIds=[contoso.id], kind="service", role="SOC")
    user = await console.data("/user", scoped["token"])
    assert user["scope"] == "account"
    assert [(role["id"], role["name"], role["roleName"]) for role in user["scopeRoles"]] == [
        (contoso.id, contoso.name, "SOC")
    ]


async def test_an_account_scope_token_sees_only_its_accounts(console: Console) -> None:
    contoso = US.account("Contoso Dental Group")
    token = (await console.token(scope="account", scopeIds=[contoso.id]))["token"]
    assert [a["name"] for a in await console.data("/accounts", token)] == ["Contoso Dental Group"]
    sites = (await console.data("/sites", token, limit=100))["sites"]
    assert {site["accountId"] for site in sites} == {contoso.id}
    agents = await console.data("/agents", token, limit=100)
    assert {agent["accountId"] for agent in agents} == {contoso.id}
    other = US.site("Seattle HQ").id
    an_error(await console.get("/agents", token, siteIds=other), 400, 4000010, "Validation Error")
    an_error(await console.get(f"/sites/{other}", token), 404, 4040010, "Not Found")


async def test_a_site_scope_token_gets_403_on_accounts(console: Console) -> None:
    site = US.site("Main Clinic")
    token = (await console.token(scope="site", scopeIds=[site.id]))["token"]
    detail = an_error(await console.get("/accounts", token), 403, 4030010, "Insufficient permissions")
    assert detail is not None
    assert "Accounts.view" in detail
    assert [s["name"] for s in (await console.data("/sites", token))["sites"]] == ["Main Clinic"]


async def test_a_viewer_cannot_change_threats_or_add_notes(console: Console) -> None:
    threat = (await raise_threat(console))["id"]
    body = {"filter": {"ids": [threat]}, "data": {"incidentStatus": "resolved"}}
    detail = an_error(
        await console.post("/threats/incident", body, US.viewer.token), 403, 4030010, "Insufficient permissions"
    )
    assert detail is not None
    assert "Threats.updateIncidentStatus" in detail
    note = {"filter": {"ids": [threat]}, "data": {"text": "x"}}
    an_error(await console.post("/threats/notes", note, US.viewer.token), 403, 4030010, "Insufficient permissions")
    assert console.state.threat(threat).info["incidentStatus"] == "unresolved"
    assert len(await console.data("/threats", US.viewer.token, limit=100)) == len(console.state.threats)


async def test_a_token_without_custom_alerts_view_gets_403_on_alerts(console: Console) -> None:
    token = (await console.token(permissions=["Threats.view", "Endpoints.view"]))["token"]
    an_error(await console.get("/cloud-detection/alerts", token), 403, 4030010, "Insufficient permissions")
    assert (await console.get("/threats", token)).status_code == 200


async def test_service_users_list_in_the_published_shape(console: Console) -> None:
    created = await console.token(kind="service", scope="site", scopeIds=[US.site("Main Clinic").id])
    users = await console.data("/service-users")
    assert [user["id"] for user in users] == [created["userId"]]
    assert users[0]["scopeRoles"][0]["name"] == "Main Clinic"
    assert users[0]["apiToken"]["expiresAt"] == created["expiresAt"]


async def test_the_connectivity_check_answers_any_valid_token(console: Console) -> None:
    assert await console.data("/activities/types", US.viewer.token)
    assert (await console.http.get(f"{API}/activities/types")).json() == AUTH_FAILED


# -- faults ----------------------------------------------------------------------------------


async def test_a_429_storm_with_retry_after_then_recovery(console: Console) -> None:
    added = await console.http.post("/_emulator/faults", json={"kind": "rate_limit", "count": 3, "retry_after": 7})
    assert added.status_code == 201
    for _ in range(3):
        response = await console.get("/threats")
        an_error(response, 429, 4290010, "Too Many Requests")
        assert response.headers["Retry-After"] == "7"
    assert (await console.get("/threats")).status_code == 200


async def test_a_throttle_answers_429_per_token_until_the_window_passes(console: Console) -> None:
    await console.http.post("/_emulator/throttle", json={"requests": 5, "per_seconds": 1})
    statuses = [(await console.get("/agents")).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = await console.get("/agents")
    an_error(refused, 429, 4290010, "Too Many Requests")
    assert refused.headers["Retry-After"] == "1"
    assert (await console.get("/agents", US.viewer.token)).status_code == 200  # its own budget
    console.state.clock.advance(1)
    assert (await console.get("/agents")).status_code == 200
    await console.http.post("/_emulator/reset")
    assert console.state.control.throttle is None


async def test_a_server_error_has_s1s_500_body(console: Console) -> None:
    await console.http.post("/_emulator/faults", json={"kind": "server_error", "status": 500})
    an_error(await console.get("/agents"), 500, 5000010, "Internal server error")
    assert (await console.http.get("/_emulator/console")).status_code == 200  # admin routes are never spoilt


async def test_a_malformed_record_inside_a_real_page(console: Console) -> None:
    broken = {"id": None, "threatInfo": None}
    await console.http.post("/_emulator/faults", json={"kind": "malformed_item", "index": 1, "body": broken})
    page = await console.data("/threats", limit=3)
    assert page[1] == broken
    assert [threat["id"] for threat in (page[0], page[2])] == sorted(console.state.threats, key=int)[0:3:2]
    assert page[0]["threatInfo"]["threatId"] == page[0]["id"]
    assert len(await console.data("/threats", limit=3)) == 3  # used up


async def test_a_malformed_site_inside_the_sites_object(console: Console) -> None:
    await console.http.post("/_emulator/faults", json={"kind": "malformed_item", "path_prefix": f"{API}/sites"})
    sites = (await console.data("/sites", limit=3))["sites"]
    assert sites[0] == {}
    assert sites[1]["name"] == "Portland Warehouse"


async def test_a_threat_link_lands_on_its_console_page(console: Console) -> None:
    threat = await raise_threat(console, threatName="<b>evil</b>.exe")
    await console.http.post(f"/_emulator/threats/{threat['id']}/notes", json={"text": "Isolated", "by": "Sam"})
    page = await console.http.get(f"/incidents/threats/{threat['id']}/overview")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;evil&lt;/b&gt;.exe" in page.text
    assert "<strong>Sam</strong>: Isolated" in page.text
    assert "Status: Unresolved" in page.text
    assert (await console.http.get("/incidents/threats/1/overview")).status_code == 404
    assert US.name in (await console.http.get("/")).text

"""The emulated Azure Resource Manager and Sentinel incidents API, called as a Microsoft client would."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from portal.integrations.sentinel.emulator import fixtures
from tests.integrations.sentinel.emulator_support import (
    API,
    BASE,
    FROZEN,
    LA_SCOPE,
    NORTHWIND,
    WOODGROVE,
    Microsoft,
    example_body,
    keys_of,
    ms_fixture,  # noqa: F401  (the "ms" fixture)
    workspace_path,
)

WS = workspace_path(NORTHWIND)
INCIDENTS = WS + "/incidents"
FIRST = fixtures.incident_name(NORTHWIND.key, 1)
SEVEN_DIGITS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")


def admin(ms: Microsoft) -> dict[str, str]:
    return ms.bearer(NORTHWIND.admin_upn)


async def get(ms: Microsoft, path: str, params: dict[str, Any] | None = None) -> Any:
    response = await ms.http.get(path, params=API | (params or {}), headers=admin(ms))
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: Any, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    error: dict[str, str] = body["error"]
    return error


async def all_pages(ms: Microsoft, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    headers = admin(ms)
    response = await ms.http.get(INCIDENTS, params=API | params, headers=headers)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        if not body.get("nextLink"):
            return pages
        link = body["nextLink"]
        assert link.startswith(BASE + INCIDENTS + "?")
        assert "api-version=2025-06-01" in link
        assert "%24skipToken=" in link
        response = await ms.http.get(link, headers=headers)  # exactly as given


# -- shapes ------------------------------------------------------------------------------------


async def test_an_incident_has_the_published_fields(ms: Microsoft) -> None:
    published = example_body("sentinel/incidents_get.json")
    ours = await get(ms, f"{INCIDENTS}/{FIRST}")
    assert set(ours) == set(published)
    closed = published["properties"]
    assert set(closed) <= set(ours["properties"])  # the seeded incident 1 is closed too
    assert keys_of(ours["properties"]["owner"]) >= keys_of(closed["owner"])
    assert keys_of(ours["properties"]["additionalData"]) >= keys_of(closed["additionalData"])
    assert ours["type"] == published["type"]
    assert ours["name"] == FIRST
    assert ours["id"] == f"{WS}/incidents/{FIRST}"
    assert re.fullmatch(r'"[0-9a-f-]{36}"', ours["etag"])
    assert ours["properties"]["incidentUrl"].endswith(f"/Incident{WS}/incidents/{FIRST}")
    assert SEVEN_DIGITS.match(ours["properties"]["lastModifiedTimeUtc"])
    assert ours["properties"]["providerIncidentId"] == str(ours["properties"]["incidentNumber"])


async def test_an_unassigned_incident_has_a_null_owner(ms: Microsoft) -> None:
    unassigned = fixtures.incident_name(NORTHWIND.key, 3)  # index 2: neither closed nor assigned
    owner = (await get(ms, f"{INCIDENTS}/{unassigned}"))["properties"]["owner"]
    assert owner == {"objectId": None, "email": None, "assignedTo": None, "userPrincipalName": None}


async def test_subscriptions_and_workspaces_lists_have_the_published_shapes(ms: Microsoft) -> None:
    published = example_body("azure-arm/subscriptions_list.json")["value"][0]
    subscriptions = (await get(ms, "/subscriptions", {"api-version": "2022-12-01"}))["value"]
    assert [s["subscriptionId"] for s in subscriptions] == [NORTHWIND.subscription_id]
    assert set(subscriptions[0]) == set(published)
    assert subscriptions[0]["tenantId"] == NORTHWIND.tenant_id
    workspaces_published = example_body("azure-arm/log_analytics_workspaces_list_by_subscription.json")["value"][0]
    path = f"/subscriptions/{NORTHWIND.subscription_id}/providers/Microsoft.OperationalInsights/workspaces"
    workspaces = (await get(ms, path, {"api-version": "2023-09-01"}))["value"]
    assert set(workspaces[0]) == set(workspaces_published)
    assert set(workspaces[0]["properties"]) >= set(workspaces_published["properties"])
    assert workspaces[0]["name"] == NORTHWIND.workspace
    # ARM's ids come in mixed case; the resource group is the segment after resourcegroups/.
    assert f"/resourcegroups/{NORTHWIND.resource_group}/" in workspaces[0]["id"]


async def test_paths_match_case_insensitively_as_arm_does(ms: Microsoft) -> None:
    lower = INCIDENTS.replace("resourceGroups", "resourcegroups").replace(
        "Microsoft.SecurityInsights", "microsoft.securityinsights"
    )
    body = await get(ms, lower, {"$top": 1})
    assert len(body["value"]) == 1


async def test_alerts_and_entities_are_posts_with_the_published_shapes(ms: Microsoft) -> None:
    alerts = await ms.http.post(f"{INCIDENTS}/{FIRST}/alerts", params=API, headers=admin(ms))
    assert alerts.status_code == 200
    published = example_body("sentinel/incidents_list_alerts.json")["value"][0]
    alert = alerts.json()["value"][0]
    assert set(alert) == set(published)
    assert set(alert["properties"]) >= set(published["properties"])
    assert alert["kind"] == "SecurityAlert"
    assert alert["properties"]["resourceIdentifiers"][0]["workspaceId"] == fixtures._id("workspace", NORTHWIND.key)
    entities = await ms.http.post(f"{INCIDENTS}/{FIRST}/entities", params=API, headers=admin(ms))
    body = entities.json()
    published_entities = example_body("sentinel/incidents_list_entities.json")
    assert set(body) == set(published_entities)
    assert set(body["entities"][0]) == set(published_entities["entities"][0])
    assert sum(item["count"] for item in body["metaData"]) == len(body["entities"])
    assert all(entity["properties"]["friendlyName"] for entity in body["entities"])
    assert (await ms.http.get(f"{INCIDENTS}/{FIRST}/alerts", params=API, headers=admin(ms))).status_code == 405


# -- lists ---------------------------------------------------------------------------------------


async def test_filter_orderby_top_and_next_link_walk_every_incident_once(ms: Microsoft) -> None:
    since = (FROZEN - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pages = await all_pages(
        ms,
        {
            "$filter": f"properties/lastModifiedTimeUtc ge {since}",
            "$orderby": "properties/lastModifiedTimeUtc asc",
            "$top": 7,
        },
    )
    assert [len(page) for page in pages] == [7, 7, 6]
    incidents = [incident for page in pages for incident in page]
    assert len({incident["name"] for incident in incidents}) == 20
    times = [incident["properties"]["lastModifiedTimeUtc"] for incident in incidents]
    assert times == sorted(times)


async def test_the_default_page_is_50_and_the_default_order_newest_created_first(ms: Microsoft) -> None:
    workspace = ms.state.workspace(NORTHWIND.workspace)
    for index in range(40):
        ms.state.create_incident(workspace, {"title": f"Extra {index}", "severity": "Low", "status": "New"})
    first = await get(ms, INCIDENTS)
    assert len(first["value"]) == 50
    assert first["nextLink"]
    created = [incident["properties"]["createdTimeUtc"] for incident in first["value"]]
    assert created == sorted(created, reverse=True)


async def test_filter_takes_and_or_strings_numbers_and_gt(ms: Microsoft) -> None:
    closed = await get(ms, INCIDENTS, {"$filter": "properties/status eq 'Closed'", "$top": 100})
    assert {i["properties"]["status"] for i in closed["value"]} == {"Closed"}
    assert len(closed["value"]) == 4
    later = await get(ms, INCIDENTS, {"$filter": "properties/incidentNumber gt 17 or properties/incidentNumber eq 1"})
    assert sorted(i["properties"]["incidentNumber"] for i in later["value"]) == [1, 18, 19, 20]
    both = await get(
        ms, INCIDENTS, {"$filter": "(properties/status eq 'Closed') and not (properties/severity eq 'High')"}
    )
    assert all(i["properties"]["severity"] != "High" for i in both["value"])


async def test_a_cursor_truncated_to_microseconds_still_finds_the_incident_with_ge(ms: Microsoft) -> None:
    incident = await get(ms, f"{INCIDENTS}/{FIRST}")
    exact = incident["properties"]["lastModifiedTimeUtc"]
    truncated = exact[:-2] + "Z"  # 6 fractional digits, as Python prints them
    found = await get(ms, INCIDENTS, {"$filter": f"properties/lastModifiedTimeUtc ge {truncated}", "$top": 100})
    assert FIRST in {i["name"] for i in found["value"]}
    after = await get(ms, INCIDENTS, {"$filter": f"properties/lastModifiedTimeUtc gt {exact}", "$top": 100})
    assert FIRST not in {i["name"] for i in after["value"]}


async def test_an_incident_changed_while_paging_is_seen_again_not_lost(ms: Microsoft) -> None:
    params: dict[str, Any] = {"$orderby": "properties/lastModifiedTimeUtc asc", "$top": 5}
    first = (await ms.http.get(INCIDENTS, params=API | params, headers=admin(ms))).json()
    seen = first["value"][0]["name"]
    workspace = ms.state.workspace(NORTHWIND.workspace)
    ms.state.touch(workspace, ms.state.incident(workspace, seen), from_api=False)
    names = [i["name"] for i in first["value"]]
    link = first["nextLink"]
    while link:
        body = (await ms.http.get(link, headers=admin(ms))).json()
        names += [i["name"] for i in body["value"]]
        link = body.get("nextLink")
    assert len(set(names)) == 20
    assert names[-1] == seen


async def test_top_over_1000_and_a_broken_filter_are_400(ms: Microsoft) -> None:
    too_many = await ms.http.get(INCIDENTS, params=API | {"$top": 2000}, headers=admin(ms))
    assert_error(too_many, 400, "BadRequest")
    broken = await ms.http.get(INCIDENTS, params=API | {"$filter": "properties/status equals 'x'"}, headers=admin(ms))
    assert_error(broken, 400, "BadRequest")


# -- writes --------------------------------------------------------------------------------------


async def test_put_creates_then_replaces_with_etag_rules(ms: Microsoft) -> None:
    request = example_body("sentinel/incidents_create_or_update.json", "201")
    new_id = "5d3e1b7a-0f0e-4c1a-9d7b-111111111111"
    body = {"properties": {"title": "Created by socdesk", "severity": "Medium", "status": "New", "description": "d",
                           "labels": [{"labelName": "socdesk"}]}}  # fmt: skip
    created = await ms.http.put(f"{INCIDENTS}/{new_id}", params=API, json=body, headers=admin(ms))
    assert created.status_code == 201, created.text
    incident = created.json()
    assert set(incident) == set(request)
    assert incident["name"] == new_id
    assert incident["properties"]["incidentNumber"] == 21
    assert incident["properties"]["labels"] == [{"labelName": "socdesk", "labelType": "User"}]
    etag = incident["etag"]

    stale = {"etag": '"00000000-0000-0000-0000-000000000000"', "properties": body["properties"]}
    conflict = await ms.http.put(f"{INCIDENTS}/{new_id}", params=API, json=stale, headers=admin(ms))
    error = assert_error(conflict, 409, "Conflict")
    assert error["message"] == f"Newer version of resource '{new_id}' exists. Data was not saved"
    precondition = await ms.http.put(
        f"{INCIDENTS}/{new_id}", params=API, json=body, headers=admin(ms) | {"If-Match": '"stale"'}
    )
    assert_error(precondition, 412, "PreconditionFailed")

    # A full replace: what is not sent is gone (description, labels).
    replace = {"etag": etag, "properties": {"title": "Renamed", "severity": "High", "status": "Active"}}
    updated = await ms.http.put(f"{INCIDENTS}/{new_id}", params=API, json=replace, headers=admin(ms))
    assert updated.status_code == 200, updated.text
    properties = updated.json()["properties"]
    assert (properties["title"], properties["severity"], properties["description"]) == ("Renamed", "High", "")
    assert properties["labels"] == []
    assert updated.json()["etag"] != etag
    assert properties["lastModifiedTimeUtc"] > incident["properties"]["lastModifiedTimeUtc"]
    # No etag at all: last writer wins.
    again = await ms.http.put(f"{INCIDENTS}/{new_id}", params=API, json={"properties": replace["properties"]},
                              headers=admin(ms))  # fmt: skip
    assert again.status_code == 200


async def test_closing_needs_an_allowed_classification_pair(ms: Microsoft) -> None:
    current = await get(ms, f"{INCIDENTS}/{fixtures.incident_name(NORTHWIND.key, 2)}")
    base = {key: current["properties"][key] for key in ("title", "severity", "description")}
    url = f"{INCIDENTS}/{current['name']}"

    async def close(**fields: str) -> Any:
        body = {"properties": base | {"status": "Closed"} | fields}
        return await ms.http.put(url, params=API, json=body, headers=admin(ms))

    assert_error(await close(), 400, "BadRequest")
    benign = assert_error(await close(classification="BenignPositive"), 400, "BadRequest")
    assert benign["message"] == "classification 'BenignPositive' must have classificationReason."
    assert_error(await close(classification="TruePositive", classificationReason="InaccurateData"), 400, "BadRequest")
    assert_error(
        await close(classification="Undetermined", classificationReason="SuspiciousActivity"), 400, "BadRequest"
    )
    assert_error(await close(classification="Maybe"), 400, "BadRequest")
    done = await close(classification="TruePositive", classificationReason="SuspiciousActivity",
                       classificationComment="Closed from socdesk")  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["properties"]["classification"] == "TruePositive"
    assert (await close(classification="Undetermined")).status_code == 200
    # Reopened: the closure's classification goes.
    reopened = await ms.http.put(url, params=API, json={"properties": base | {"status": "Active"}}, headers=admin(ms))
    assert "classification" not in reopened.json()["properties"]


async def test_owner_is_filled_in_from_the_directory(ms: Microsoft) -> None:
    user = ms.state.directory.user(NORTHWIND.analyst_upn)
    url = f"{INCIDENTS}/{fixtures.incident_name(NORTHWIND.key, 3)}"
    body = {"properties": {"title": "t", "severity": "Low", "status": "Active", "owner": {"objectId": user.object_id}}}
    owner = (await ms.http.put(url, params=API, json=body, headers=admin(ms))).json()["properties"]["owner"]
    assert owner == {
        "objectId": user.object_id,
        "email": user.email,
        "assignedTo": "Megan Bowen",
        "userPrincipalName": NORTHWIND.analyst_upn,
        "ownerType": "User",
    }


async def test_comments_have_client_chosen_ids_and_the_caller_as_author(ms: Microsoft) -> None:
    published = example_body("sentinel/incident_comments_create_or_update.json", "201")
    before = await get(ms, f"{INCIDENTS}/{FIRST}")
    comment_id = "4bb36b7b-26ff-4d1c-9cbe-0d8ab3da0014"
    url = f"{INCIDENTS}/{FIRST}/comments/{comment_id}"
    created = await ms.http.put(url, params=API, json={"properties": {"message": "From socdesk"}}, headers=admin(ms))
    assert created.status_code == 201, created.text
    comment = created.json()
    assert set(comment) == set(published)
    assert set(comment["properties"]) == set(published["properties"])
    assert set(comment["properties"]["author"]) == set(published["properties"]["author"])
    assert comment["properties"]["author"]["userPrincipalName"] == NORTHWIND.admin_upn
    assert comment["id"] == f"{WS}/incidents/{FIRST}/comments/{comment_id}"
    again = await ms.http.put(url, params=API, json={"properties": {"message": "From socdesk"}}, headers=admin(ms))
    assert again.status_code == 200
    listed = await get(ms, f"{INCIDENTS}/{FIRST}/comments")
    assert set(listed) == set(example_body("sentinel/incident_comments_list.json"))
    assert comment_id in [c["name"] for c in listed["value"]]
    assert (await get(ms, url))["properties"]["message"] == "From socdesk"
    after = await get(ms, f"{INCIDENTS}/{FIRST}")
    assert after["properties"]["lastModifiedTimeUtc"] > before["properties"]["lastModifiedTimeUtc"]
    assert after["etag"] != before["etag"]
    assert (
        after["properties"]["additionalData"]["commentsCount"]
        == before["properties"]["additionalData"]["commentsCount"] + 1
    )
    missing = await ms.http.put(url, params=API, json={"properties": {}}, headers=admin(ms))
    assert_error(missing, 400, "BadRequest")
    too_long = await ms.http.put(url, params=API, json={"properties": {"message": "x" * 30_001}}, headers=admin(ms))
    assert_error(too_long, 400, "BadRequest")


# -- refusals ------------------------------------------------------------------------------------


async def test_api_version_is_required_and_checked(ms: Microsoft) -> None:
    missing = await ms.http.get(INCIDENTS, headers=admin(ms))
    error = assert_error(missing, 400, "MissingApiVersionParameter")
    assert error["message"] == "The api-version query parameter (?api-version=) is required for all requests."
    wrong = await ms.http.get(INCIDENTS, params={"api-version": "2099-01-01"}, headers=admin(ms))
    error = assert_error(wrong, 400, "InvalidApiVersionParameter")
    assert error["message"].startswith("The api-version '2099-01-01' is invalid. The supported versions are '")
    assert "2025-06-01" in error["message"]


async def test_tokens_are_checked_with_arm_codes_and_a_challenge(ms: Microsoft) -> None:
    missing = await ms.http.get(INCIDENTS, params=API)
    assert_error(missing, 401, "AuthenticationFailed")
    challenge = missing.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer authorization_uri="{BASE}/{NORTHWIND.tenant_id}", error="invalid_token"')
    assert_error(await ms.http.get(INCIDENTS, params=API, headers={"Authorization": "Bearer junk"}), 401,
                 "InvalidAuthenticationToken")  # fmt: skip
    log_analytics = await ms.http.get(INCIDENTS, params=API, headers=ms.bearer(NORTHWIND.admin_upn, LA_SCOPE))
    error = assert_error(log_analytics, 401, "InvalidAuthenticationToken")
    assert "wrong audience or resource 'https://api.loganalytics.io'" in error["message"]
    other_tenant = await ms.http.get(INCIDENTS, params=API, headers=ms.bearer(fixtures.MSP_USER))
    error = assert_error(other_tenant, 401, "InvalidAuthenticationTokenTenant")
    assert f"https://sts.windows.net/{NORTHWIND.tenant_id}/" in error["message"]
    headers = admin(ms)
    expired = await ms.http.post(f"/_emulator/users/{NORTHWIND.admin_upn}/expire-access-tokens")
    assert expired.json()["expired"] >= 1
    error = assert_error(await ms.http.get(INCIDENTS, params=API, headers=headers), 401, "ExpiredAuthenticationToken")
    assert error["message"].startswith("The access token expiry UTC time '11/20/2026")


async def test_a_reader_reads_but_cannot_write(ms: Microsoft) -> None:
    reader = ms.bearer(NORTHWIND.reader_upn)
    assert (await ms.http.get(INCIDENTS, params=API, headers=reader)).status_code == 200
    url = f"{INCIDENTS}/{FIRST}/comments/0b4ad0f5-1111-4c1a-9d7b-222222222222"
    refused = await ms.http.put(url, params=API, json={"properties": {"message": "no"}}, headers=reader)
    error = assert_error(refused, 403, "AuthorizationFailed")
    user = ms.state.directory.user(NORTHWIND.reader_upn)
    assert error["message"].startswith(
        f"The client '{NORTHWIND.reader_upn}' with object id '{user.object_id}' does not"
    )
    assert "'Microsoft.SecurityInsights/incidents/comments/write'" in error["message"]
    await ms.http.put(f"/_emulator/workspaces/{NORTHWIND.workspace}/roles/{NORTHWIND.reader_upn}", json={"role": None})
    assert_error(await ms.http.get(INCIDENTS, params=API, headers=reader), 403, "AuthorizationFailed")


async def test_unknown_workspace_resource_group_subscription_and_incident_are_404(ms: Microsoft) -> None:
    unknown_ws = INCIDENTS.replace(NORTHWIND.workspace, "law-nope")
    error = assert_error(await ms.http.get(unknown_ws, params=API, headers=admin(ms)), 404, "ResourceNotFound")
    assert "Microsoft.OperationalInsights/workspaces/law-nope" in error["message"]
    unknown_rg = INCIDENTS.replace(NORTHWIND.resource_group, "rg-nope")
    assert_error(await ms.http.get(unknown_rg, params=API, headers=admin(ms)), 404, "ResourceGroupNotFound")
    unknown_sub = INCIDENTS.replace(NORTHWIND.subscription_id, "00000000-0000-0000-0000-000000000000")
    assert_error(await ms.http.get(unknown_sub, params=API, headers=admin(ms)), 404, "SubscriptionNotFound")
    unknown = f"{INCIDENTS}/00000000-0000-0000-0000-000000000000"
    assert_error(await ms.http.get(unknown, params=API, headers=admin(ms)), 404, "NotFound")
    # The other customer's workspace under this customer's subscription does not exist here.
    crossed = INCIDENTS.replace(NORTHWIND.workspace, WOODGROVE.workspace)
    assert_error(await ms.http.get(crossed, params=API, headers=admin(ms)), 404, "ResourceNotFound")


async def test_the_token_bucket_answers_429_with_retry_after(ms: Microsoft) -> None:
    await ms.http.post("/_emulator/throttling", json={"readCapacity": 2, "readRefill": 0.5})
    headers = admin(ms)
    first = await ms.http.get(INCIDENTS, params=API, headers=headers)
    assert first.headers["x-ms-ratelimit-remaining-subscription-reads"] == "1"
    assert (await ms.http.get(INCIDENTS, params=API, headers=headers)).status_code == 200
    throttled = await ms.http.get(INCIDENTS, params=API, headers=headers)
    error = assert_error(throttled, 429, "SubscriptionRequestsThrottled")
    assert throttled.headers["retry-after"] == "2"
    assert "Please try again after '2' seconds" in error["message"]
    ms.state.clock.advance(2)
    assert (await ms.http.get(INCIDENTS, params=API, headers=headers)).status_code == 200
    # Writes have their own bucket.
    comment = f"{INCIDENTS}/{FIRST}/comments/5c6d7e8f-0000-4000-8000-000000000001"
    written = await ms.http.put(comment, params=API, json={"properties": {"message": "m"}}, headers=headers)
    assert written.status_code == 201
    assert written.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"


async def test_injected_faults_hit_arm_not_the_sign_in(ms: Microsoft) -> None:
    await ms.http.post("/_emulator/faults", json={"kind": "rate_limit", "count": 2, "retry_after": 3})
    storm = [await ms.http.get(INCIDENTS, params=API, headers=admin(ms)) for _ in range(3)]
    assert [r.status_code for r in storm] == [429, 429, 200]
    assert storm[0].headers["retry-after"] == "3"
    assert "error" in storm[0].json()
    await ms.http.post("/_emulator/faults", json={"kind": "server_error", "status": 503})
    assert (await ms.http.get(INCIDENTS, params=API, headers=admin(ms))).status_code == 503
    discovery = await ms.http.get(f"/{NORTHWIND.tenant_id}/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 200


async def test_next_link_keeps_the_query(ms: Microsoft) -> None:
    body = await get(ms, INCIDENTS, {"$top": 3, "$filter": "properties/severity ne 'Informational'"})
    query = parse_qs(urlsplit(body["nextLink"]).query)
    assert query["$top"] == ["3"]
    assert query["$filter"] == ["properties/severity ne 'Informational'"]
    assert query["api-version"] == ["2025-06-01"]


async def test_a_raced_write_gets_409_and_the_refetched_etag_wins(ms: Microsoft) -> None:
    url = f"{INCIDENTS}/{FIRST}"
    armed = await ms.http.post(f"/_emulator/workspaces/{NORTHWIND.workspace}/incidents/{FIRST}/race", json={"times": 1})
    assert armed.json() == {"incident": FIRST, "races": 1}
    read = await get(ms, url)
    body = {"etag": read["etag"], "properties": {"title": "Mine", "severity": "Low", "status": "Active"}}
    lost = await ms.http.put(url, params=API, json=body, headers=admin(ms))
    assert_error(lost, 409, "Conflict")
    fresh = await get(ms, url)
    assert fresh["etag"] != read["etag"]
    won = await ms.http.put(url, params=API, json=body | {"etag": fresh["etag"]}, headers=admin(ms))
    assert won.status_code == 200, won.text
    assert won.json()["properties"]["title"] == "Mine"


async def test_delete_answers_200_then_204_and_bookmarks_are_an_empty_post(ms: Microsoft) -> None:
    second = fixtures.incident_name(NORTHWIND.key, 2)
    comment = f"{INCIDENTS}/{second}/comments/{fixtures.comment_name(NORTHWIND.key, 2, 0)}"
    assert (await ms.http.delete(comment, params=API, headers=admin(ms))).status_code == 200
    assert (await ms.http.delete(comment, params=API, headers=admin(ms))).status_code == 204
    bookmarks = await ms.http.post(f"{INCIDENTS}/{FIRST}/bookmarks", params=API, headers=admin(ms))
    assert bookmarks.json() == {"value": []}
    responder = ms.bearer(NORTHWIND.analyst_upn)  # a Responder may not delete incidents
    assert_error(
        await ms.http.delete(f"{INCIDENTS}/{FIRST}", params=API, headers=responder), 403, "AuthorizationFailed"
    )
    await ms.http.put(
        f"/_emulator/workspaces/{NORTHWIND.workspace}/roles/{NORTHWIND.admin_upn}",
        json={"role": "Microsoft Sentinel Contributor"},
    )
    assert (await ms.http.delete(f"{INCIDENTS}/{FIRST}", params=API, headers=admin(ms))).status_code == 200
    assert (await ms.http.delete(f"{INCIDENTS}/{FIRST}", params=API, headers=admin(ms))).status_code == 204
    assert_error(await ms.http.get(f"{INCIDENTS}/{FIRST}", params=API, headers=admin(ms)), 404, "NotFound")

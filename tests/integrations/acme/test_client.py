"""The Acme client against the emulator, through VendorHttp: paging, retries, conflicts, bad payloads, the log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.integrations.acme.emulator.fixtures import case_id
from portal.integrations.errors import AuthExpired, BadPayload, Conflict, NotFound, RateLimited, Unavailable
from tests.integrations.acme.conftest import BASE, FROZEN

CASE = case_id("contoso", 1002)


async def test_list_tenants_and_me(acme) -> None:
    client = acme.api().client
    assert [tenant["id"] for tenant in await client.list_tenants()] == ["contoso", "fabrikam"]
    assert (await client.me())["user"] == "analyst@acme.test"


async def test_list_cases_pages_to_the_end(acme) -> None:
    client = acme.api().client
    seen, cursor = [], None
    while True:
        page = await client.list_cases("contoso", cursor=cursor, limit=3)
        seen += [case["id"] for case in page.cases]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 4
    urls = [entry.url for entry in acme.recorder.entries]
    assert urls[0] == f"{BASE}/api/v1/tenants/contoso/cases?limit=3"
    assert urls[1].startswith(f"{BASE}/api/v1/tenants/contoso/cases?cursor=")


async def test_modified_since_is_sent_in_utc_to_the_millisecond(acme) -> None:
    client = acme.api().client
    everything = (await client.list_cases("contoso")).cases
    boundary = everything[1]["modifiedAt"]
    since = datetime.fromisoformat(boundary).astimezone(ZoneInfo("Europe/Paris"))  # same instant, other zone
    page = await client.list_cases("contoso", modified_since=since)
    assert [case["id"] for case in page.cases] == [case["id"] for case in everything[1:]]
    assert acme.recorder.entries[-1].url.endswith(f"modifiedSince={boundary}")


async def test_every_call_is_recorded_without_the_token(acme) -> None:
    client = acme.api().client
    await client.list_tenants()
    await client.put_comment("contoso", CASE, "cmt-1", "Looking into it.", "ana@msp.example")
    await client.update_case("contoso", CASE, {"severity": "low"})
    with pytest.raises(NotFound):
        await client.get_case("contoso", "missing")
    entries = acme.recorder.entries
    assert [(entry.method, entry.status_code) for entry in entries] == [
        ("GET", 200),
        ("PUT", 201),
        ("GET", 200),
        ("PATCH", 200),
        ("GET", 404),
    ]
    assert entries[-1].error_kind == "not_found"
    assert entries[1].url == f"{BASE}/api/v1/tenants/contoso/cases/{CASE}/comments/cmt-1"
    assert "Looking into it." in entries[1].request_excerpt
    issued = acme.tokens.handed_out[0].issued
    tokens = [token[key] for token in issued for key in ("access_token", "refresh_token")]
    assert tokens
    text = json.dumps([entry.__dict__ for entry in entries], default=str)
    for token in tokens:
        assert token not in text
        assert token.split("_", 1)[1] not in text


async def test_update_case_fetches_the_etag_and_skips_what_is_already_so(acme) -> None:
    client = acme.api().client
    updated = await client.update_case("contoso", CASE, {"status": "active"})
    assert updated["status"] == "active"
    assert [entry.method for entry in acme.recorder.entries] == ["GET", "PATCH"]
    again = await client.update_case("contoso", CASE, {"status": "active"})
    assert again["etag"] == updated["etag"]
    assert [entry.method for entry in acme.recorder.entries] == ["GET", "PATCH", "GET"]  # no second PATCH


async def test_update_case_refetches_and_reapplies_after_a_stale_etag(acme) -> None:
    client = acme.api().client
    stale = (await client.get_case("contoso", CASE))["etag"]
    acme.state.update_case(acme.state.case(CASE), {"title": "Someone else renamed it"})  # the etag moves on
    updated = await client.update_case("contoso", CASE, {"severity": "low"}, etag=stale)
    assert updated["severity"] == "low"
    assert updated["title"] == "Someone else renamed it"  # re-applied on the current case, nothing lost
    assert [(e.method, e.status_code) for e in acme.recorder.entries[1:]] == [("PATCH", 412), ("GET", 200),
                                                                             ("PATCH", 200)]  # fmt: skip


async def test_update_case_retries_repeated_conflicts(acme) -> None:
    client = acme.api().client
    acme.state.faults.add("conflict", count=2)
    updated = await client.update_case("contoso", CASE, {"severity": "low"})
    assert updated["severity"] == "low"
    assert [(e.method, e.status_code) for e in acme.recorder.entries] == [
        ("GET", 200),
        ("PATCH", 412),
        ("GET", 200),
        ("PATCH", 412),
        ("GET", 200),
        ("PATCH", 200),
    ]


async def test_update_case_gives_up_after_three_retries(acme) -> None:
    client = acme.api().client
    acme.state.faults.add("conflict", count=10)
    with pytest.raises(Conflict):
        await client.update_case("contoso", CASE, {"severity": "low"})
    assert len([e for e in acme.recorder.entries if e.method == "PATCH"]) == 4
    assert acme.state.case(CASE).severity == "high"


async def test_comment_put_twice_writes_one_comment(acme) -> None:
    client = acme.api().client
    first = await client.put_comment("contoso", CASE, "key-1", "Hello", "ana@msp.example")
    second = await client.put_comment("contoso", CASE, "key-1", "Hello", "ana@msp.example")
    assert first == second
    comments = await client.list_comments("contoso", CASE)
    assert [comment["id"] for comment in comments].count("key-1") == 1


async def test_an_expired_token_is_refreshed_once(acme) -> None:
    api = acme.api()
    await api.client.list_tenants()
    acme.state.oauth.expire_access_tokens()
    assert len(await api.client.list_tenants()) == 2
    assert acme.tokens.handed_out[0].refreshes == 1
    assert [e.status_code for e in acme.recorder.entries] == [200, 401, 200]


async def test_an_expired_token_that_cannot_refresh_is_auth_expired(acme) -> None:
    api = acme.api()
    acme.tokens.handed_out[0].can_refresh = False
    acme.state.oauth.expire_access_tokens()
    with pytest.raises(AuthExpired):
        await api.client.me()


async def test_short_rate_limits_are_waited_out_long_ones_raised(acme) -> None:
    client = acme.api().client
    acme.state.faults.add("rate_limit", retry_after=1)
    assert len(await client.list_tenants()) == 2
    acme.state.faults.add("rate_limit", retry_after=120)
    with pytest.raises(RateLimited) as caught:
        await client.list_tenants()
    assert caught.value.retry_after == 120


async def test_an_empty_list_with_a_500_is_an_outage_not_an_empty_page(acme) -> None:
    client = acme.api().client
    acme.state.faults.add("empty_error", count=1)
    page = await client.list_cases("contoso")  # retried, then the real answer
    assert len(page.cases) == 4
    acme.state.faults.add("empty_error", count=3)
    with pytest.raises(Unavailable):
        await client.list_cases("contoso")


@pytest.mark.parametrize(
    "body",
    [{}, {"value": None}, {"value": {"id": "x"}}, {"value": ["not an object"]}, {"value": [], "nextCursor": 5}, []],
)
async def test_a_list_answer_without_a_value_list_is_a_bad_payload(acme, body) -> None:
    client = acme.api().client
    acme.state.faults.add("malformed", body=body)
    with pytest.raises(BadPayload):
        await client.list_cases("contoso")


async def test_a_case_that_is_not_an_object_is_a_bad_payload(acme) -> None:
    client = acme.api().client
    acme.state.faults.add("malformed", body=["x"])
    with pytest.raises(BadPayload):
        await client.get_case("contoso", CASE)


async def test_since_after_every_change_gives_an_empty_page(acme) -> None:
    page = await acme.api().client.list_cases("contoso", modified_since=FROZEN + timedelta(seconds=1))
    assert (page.cases, page.next_cursor) == ([], None)

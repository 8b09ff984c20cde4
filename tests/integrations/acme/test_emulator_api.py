"""The Acme emulator's API, called directly over HTTP as any Acme client would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, post

from portal.integrations.acme.emulator.app import create_emulator
from portal.integrations.acme.emulator.fixtures import case_id
from portal.integrations.acme.emulator.state import AcmeState
from tests.integrations.acme.conftest import BASE, FROZEN, asgi

CONTOSO = "/api/v1/tenants/contoso/cases"


async def _all_pages(acme, params: dict[str, str | int], tenant: str = "contoso") -> list[list[dict[str, Any]]]:
    headers = acme.bearer()
    pages = []
    query = dict(params)
    while True:
        response = await acme.http.get(f"/api/v1/tenants/{tenant}/cases", params=query, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json()["value"])
        cursor = response.json()["nextCursor"]
        if cursor is None:
            return pages
        query = {"cursor": cursor, "limit": params.get("limit", 100)}


async def test_seeded_data_is_deterministic_under_a_frozen_clock(acme) -> None:
    other = AcmeState()
    other.clock.set(FROZEN)
    other.reset()
    app, _ = create_emulator(other)
    headers = {"Authorization": f"Bearer {other.oauth.issue_tokens('x', ['cases.read'])['access_token']}"}
    async with httpx.AsyncClient(transport=asgi(app), base_url=BASE) as http:
        theirs = (await http.get(CONTOSO, headers=headers)).json()
    ours = (await acme.http.get(CONTOSO, headers=acme.bearer())).json()
    assert ours == theirs
    assert len(ours["value"]) == 4
    assert ours["value"][0]["id"] == case_id("contoso", 1001)
    tenants = (await acme.http.get("/api/v1/tenants", headers=acme.bearer())).json()
    assert tenants == {"value": [{"id": "contoso", "name": "Contoso Ltd"}, {"id": "fabrikam", "name": "Fabrikam Inc"}]}


async def test_me_names_the_user_tenants_and_scopes(acme) -> None:
    me = (await acme.http.get("/api/v1/me", headers=acme.bearer(["cases.read"]))).json()
    assert me["user"] == "analyst@acme.test"
    assert [tenant["id"] for tenant in me["tenants"]] == ["contoso", "fabrikam"]
    assert me["scopes"] == ["cases.read"]


async def test_pages_are_ordered_by_modified_time_then_id_with_an_opaque_cursor(acme) -> None:
    # Three cases changed at the very same moment: ties are broken by id, none is lost or repeated.
    tied = FROZEN - timedelta(hours=1)
    for title in ("tie a", "tie b", "tie c"):
        acme.state.create_case("contoso", title=title, created_at=tied, modified_at=tied)
    pages = await _all_pages(acme, {"limit": 2})
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    cases = [case for page in pages for case in page]
    keys = [(case["modifiedAt"], case["id"]) for case in cases]
    assert keys == sorted(keys)
    assert len({case["id"] for case in cases}) == 7


async def test_a_case_changed_while_paging_is_seen_again_not_lost(acme) -> None:
    headers = acme.bearer()
    first = (await acme.http.get(CONTOSO, params={"limit": 2}, headers=headers)).json()
    already_seen = first["value"][0]["id"]
    acme.state.update_case(acme.state.case(already_seen), {"severity": "low"}, modified_at=FROZEN)
    rest = (await acme.http.get(CONTOSO, params={"cursor": first["nextCursor"], "limit": 10}, headers=headers)).json()
    assert rest["value"][-1]["id"] == already_seen  # it moved to the end of the order
    assert rest["nextCursor"] is None


async def test_modified_since_is_inclusive(acme) -> None:
    cases = (await acme.http.get(CONTOSO, headers=acme.bearer())).json()["value"]
    boundary = cases[2]["modifiedAt"]
    since = (await acme.http.get(CONTOSO, params={"modifiedSince": boundary}, headers=acme.bearer())).json()["value"]
    assert [case["id"] for case in since] == [case["id"] for case in cases[2:]]
    # The same instant written with an offset means the same thing.
    offset = cases[2]["modifiedAt"].replace("Z", "+00:00")
    again = (await acme.http.get(CONTOSO, params={"modifiedSince": offset}, headers=acme.bearer())).json()["value"]
    assert [case["id"] for case in again] == [case["id"] for case in since]


async def test_a_late_indexed_case_has_its_old_modified_time(acme) -> None:
    late = FROZEN - timedelta(hours=30)
    response = await acme.http.post(
        "/_emulator/cases", json={"tenant": "contoso", "title": "Indexed late", "modifiedAt": late.isoformat()}
    )
    assert response.status_code == 201, response.text
    assert response.json()["modifiedAt"] == "2026-11-19T06:00:00.000Z"
    newer = await acme.http.get(
        CONTOSO, params={"modifiedSince": (late + timedelta(seconds=1)).isoformat()}, headers=acme.bearer()
    )
    assert "Indexed late" not in [case["title"] for case in newer.json()["value"]]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "501"}, "InvalidValue"),
        ({"limit": "0"}, "InvalidValue"),
        ({"modifiedSince": "2026-11-20T10:00:00"}, "InvalidValue"),  # no zone
        ({"modifiedSince": "yesterday"}, "InvalidValue"),
        ({"cursor": "not-a-cursor"}, "InvalidCursor"),
    ],
)
async def test_bad_list_parameters_are_refused(acme, params, code) -> None:
    response = await acme.http.get(CONTOSO, params=params, headers=acme.bearer())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_unknown_tenant_and_case_are_404(acme) -> None:
    assert (await acme.http.get("/api/v1/tenants/nope/cases", headers=acme.bearer())).status_code == 404
    fabrikam_case = case_id("fabrikam", 1001)
    response = await acme.http.get(f"{CONTOSO}/{fabrikam_case}", headers=acme.bearer())
    assert response.status_code == 404  # a case is only found under its own tenant
    assert response.json()["error"]["code"] == "CaseNotFound"


async def test_patch_needs_the_current_etag(acme) -> None:
    path = f"{CONTOSO}/{case_id('contoso', 1002)}"
    case = await acme.http.get(path, headers=acme.bearer())
    assert case.headers["ETag"] == case.json()["etag"] == '"1"'

    missing = await acme.http.patch(path, json={"status": "active"}, headers=acme.bearer())
    assert missing.status_code == 428
    stale = await acme.http.patch(path, json={"status": "active"}, headers=acme.bearer() | {"If-Match": '"0"'})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "PreconditionFailed"

    done = await acme.http.patch(
        path,
        json={"status": "closed", "classification": "false_positive", "closingNote": "Test"},
        headers=acme.bearer() | {"If-Match": '"1"'},
    )
    assert done.status_code == 200
    assert done.json()["etag"] == done.headers["ETag"] == '"2"'
    assert (done.json()["status"], done.json()["classification"], done.json()["closingNote"]) == (
        "closed",
        "false_positive",
        "Test",
    )
    again = await acme.http.patch(path, json={"status": "active"}, headers=acme.bearer() | {"If-Match": '"1"'})
    assert again.status_code == 412  # the old etag is spent


async def test_patch_refuses_unknown_fields_values_and_read_only_tokens(acme) -> None:
    path = f"{CONTOSO}/{case_id('contoso', 1002)}"
    etag = {"If-Match": '"1"'}
    bad_field = await acme.http.patch(path, json={"title": "x"}, headers=acme.bearer() | etag)
    assert bad_field.status_code == 400
    bad_value = await acme.http.patch(path, json={"severity": "urgent"}, headers=acme.bearer() | etag)
    assert bad_value.status_code == 400
    read_only = await acme.http.patch(path, json={"severity": "low"}, headers=acme.bearer(["cases.read"]) | etag)
    assert read_only.status_code == 403
    assert acme.state.case(case_id("contoso", 1002)).severity == "high"


async def test_reopening_clears_the_closure(acme) -> None:
    case = acme.state.case(case_id("contoso", 1003))
    assert (case.status, case.classification) == ("closed", "true_positive")
    response = await acme.http.patch(
        f"{CONTOSO}/{case.id}", json={"status": "active"}, headers=acme.bearer() | {"If-Match": case.etag}
    )
    assert response.json()["status"] == "active"
    assert response.json()["classification"] is None


async def test_comment_put_is_idempotent_on_the_client_chosen_id(acme) -> None:
    path = f"{CONTOSO}/{case_id('contoso', 1002)}/comments"
    before = (await acme.http.get(path, headers=acme.bearer())).json()["value"]
    body = {"body": "Isolated the host.", "author": "ana@msp.example"}
    first = await acme.http.put(f"{path}/my-id-1", json=body, headers=acme.bearer())
    second = await acme.http.put(f"{path}/my-id-1", json=body, headers=acme.bearer())
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    after = (await acme.http.get(path, headers=acme.bearer())).json()["value"]
    assert len(after) == len(before) + 1
    assert after[-1] == {"id": "my-id-1", "author": "ana@msp.example", "body": "Isolated the host.",
                         "createdAt": "2026-11-20T12:00:00.000Z"}  # fmt: skip
    bad = await acme.http.put(f"{path}/bad%20id", json=body, headers=acme.bearer())
    assert bad.status_code == 400


async def test_a_comment_bumps_the_case_modified_time(acme) -> None:
    case = acme.state.case(case_id("contoso", 1001))
    assert case.modified_at < FROZEN
    acme.state.clock.advance(60)
    await acme.http.put(f"{CONTOSO}/{case.id}/comments/c-1", json={"body": "x", "author": "y"}, headers=acme.bearer())
    assert case.modified_at == FROZEN + timedelta(seconds=60)


async def test_missing_invalid_and_expired_tokens_get_401(acme) -> None:
    no_token = await acme.http.get("/api/v1/tenants")
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await acme.http.get("/api/v1/tenants", headers={"Authorization": "Bearer nope"})).status_code == 401

    headers = acme.bearer()
    assert (await acme.http.get("/api/v1/tenants", headers=headers)).status_code == 200
    acme.state.oauth.expire_access_tokens()
    assert (await acme.http.get("/api/v1/tenants", headers=headers)).status_code == 401

    headers = acme.bearer()
    acme.state.clock.advance(3600)  # tokens live an hour
    assert (await acme.http.get("/api/v1/tenants", headers=headers)).status_code == 401


async def test_rate_limit_fault_has_retry_after_then_clears(acme) -> None:
    added = await acme.http.post("/_emulator/faults", json={"kind": "rate_limit", "retry_after": 2, "count": 2})
    assert added.status_code == 201
    for _ in range(2):
        limited = await acme.http.get("/api/v1/tenants", headers=acme.bearer())
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "2"
        assert limited.json()["error"]["code"] == "TooManyRequests"
    assert (await acme.http.get("/api/v1/tenants", headers=acme.bearer())).status_code == 200


async def test_empty_error_is_a_500_that_looks_like_an_empty_list(acme) -> None:
    acme.state.faults.add("empty_error")
    response = await acme.http.get(CONTOSO, headers=acme.bearer())
    assert (response.status_code, response.json()) == (500, {"value": []})


async def test_server_error_conflict_and_path_prefix_faults(acme) -> None:
    acme.state.faults.add("server_error", status=502, path_prefix="/api/v1/me")
    acme.state.faults.add("conflict")
    assert (await acme.http.get("/api/v1/tenants", headers=acme.bearer())).status_code == 200  # not its prefix
    outage = await acme.http.get("/api/v1/me", headers=acme.bearer())
    assert outage.status_code == 502
    assert outage.json()["error"]["code"] == "InternalServerError"
    path = f"{CONTOSO}/{case_id('contoso', 1002)}"
    assert (await acme.http.get(path, headers=acme.bearer())).status_code == 200  # conflicts hit PATCH only
    conflict = await acme.http.patch(path, json={"severity": "low"}, headers=acme.bearer() | {"If-Match": '"1"'})
    assert conflict.status_code == 412
    assert acme.state.case(case_id("contoso", 1002)).severity == "high"  # the fault answered, nothing changed


async def test_faults_do_not_touch_sign_in_or_admin_routes(acme) -> None:
    acme.state.faults.add("server_error", count=5)
    assert (await acme.http.get("/_emulator/faults")).status_code == 200
    token = await acme.http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"}
    )
    assert token.status_code == 400  # the token endpoint answered for itself
    assert len(acme.state.faults.plans) == 1
    assert acme.state.faults.plans[0].count == 5


async def test_admin_upserts_cases_and_comments_like_an_acme_user(acme) -> None:
    created = await acme.http.post(
        "/_emulator/cases", json={"tenant": "fabrikam", "title": "New case", "severity": "high"}
    )
    assert created.status_code == 201
    case = created.json()
    assert (case["number"], case["status"], case["etag"]) == (1004, "new", '"1"')
    acme.state.clock.advance(30)
    updated = await acme.http.post("/_emulator/cases", json={"id": case["id"], "title": "Renamed", "status": "active"})
    assert updated.status_code == 200
    assert (updated.json()["title"], updated.json()["status"], updated.json()["etag"]) == ("Renamed", "active", '"2"')
    assert updated.json()["modifiedAt"] > case["modifiedAt"]
    comment = await acme.http.post(f"/_emulator/cases/{case['id']}/comments", json={"body": "Hello", "author": "bob"})
    assert comment.status_code == 201
    assert (await acme.http.post("/_emulator/cases", json={"tenant": "fabrikam"})).status_code == 400
    assert (await acme.http.post("/_emulator/tenants", json={"id": "globex", "name": "Globex"})).status_code == 201
    assert (await acme.http.post("/_emulator/tenants", json={"id": "globex"})).status_code == 409


async def test_reset_restores_the_seed_and_clears_the_knobs(acme) -> None:
    acme.state.create_case("contoso", title="Extra")
    acme.state.faults.add("server_error", path_prefix="/api/v1/me")
    acme.state.webhook_url, acme.state.webhook_secret = "http://hooks.test/", "s3cret-value"
    headers = acme.bearer()
    assert (await acme.http.post("/_emulator/reset")).status_code == 200
    assert len([case for case in acme.state.cases.values() if case.tenant == "contoso"]) == 4
    assert acme.state.faults.plans == []
    assert acme.state.webhook_url is None
    assert (await acme.http.get("/api/v1/tenants", headers=headers)).status_code == 401  # tokens are gone too


async def test_the_request_log_lists_calls_without_token_values(acme) -> None:
    headers = acme.bearer()
    await acme.http.get(CONTOSO, params={"limit": 1}, headers=headers)
    acme.state.faults.add("rate_limit")
    await acme.http.get("/api/v1/tenants", headers=headers)
    listed = (await acme.http.get("/_emulator/requests", params={"path_prefix": "/api/"})).json()["value"]
    assert [(e["method"], e["path"], e["query"], e["status"], e["auth"], e["fault"]) for e in listed] == [
        ("GET", CONTOSO, "limit=1", 200, "bearer", ""),
        ("GET", "/api/v1/tenants", "", 429, "bearer", "rate_limit"),
    ]
    assert headers["Authorization"].split()[1] not in json.dumps(listed)


async def test_case_links_open_a_page(acme) -> None:
    case = (await acme.http.get(f"{CONTOSO}/{case_id('contoso', 1001)}", headers=acme.bearer())).json()
    assert case["url"] == f"{BASE}/ui/tenants/contoso/cases/{case['id']}"
    page = await acme.http.get(case["url"])
    assert page.status_code == 200
    assert "Impossible travel" in page.text


async def test_case_changes_send_signed_webhooks(acme) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    @post("/hooks/acme", status_code=202)
    async def hook(request: Request[Any, Any, Any]) -> None:
        received.append((await request.body(), dict(request.headers)))

    acme.state.webhooks.transport = asgi(Litestar([hook]))
    configured = await acme.http.post(
        "/_emulator/webhook", json={"url": "http://socdesk.test/hooks/acme", "secret": "whsec-abc-123456"}
    )
    assert configured.status_code == 200
    created = (await acme.http.post("/_emulator/cases", json={"tenant": "contoso", "title": "Hooked"})).json()
    await acme.http.put(
        f"{CONTOSO}/{created['id']}/comments/c-9", json={"body": "hi", "author": "me"}, headers=acme.bearer()
    )

    assert len(received) == 2
    events = [json.loads(body) for body, _ in received]
    assert [(e["type"], e["tenant"], e["caseId"]) for e in events] == [
        ("case.created", "contoso", created["id"]),
        ("case.updated", "contoso", created["id"]),
    ]
    body, headers = received[0]
    timestamp, signature = (part.split("=", 1)[1] for part in headers["x-acme-signature"].split(","))
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(b"whsec-abc-123456", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature == expected
    status = (await acme.http.get("/_emulator/webhook")).json()
    assert [delivery["status"] for delivery in status["deliveries"]] == [202, 202]
    assert "whsec" not in json.dumps(status)

"""Fault injection, the request log and the shared admin routes, on a minimal emulator app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from litestar import get, patch
from litestar.params import FromPath

from portal.integrations.emulation.admin import admin_router
from portal.integrations.emulation.app import emulator_app
from portal.integrations.emulation.control import EmulatorControl
from portal.integrations.emulation.faults import FaultKind, FaultPlan, FaultRegistry, fault_answer
from portal.integrations.emulation.oauth_server import OAuthServer, oauth_router
from tests.integrations.acme.conftest import asgi


def error_body(status: int, code: str, message: str) -> dict[str, object]:
    return {"errors": [{"status": status, "code": code, "detail": message}]}  # some vendor's own shape


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[EmulatorControl, httpx.AsyncClient, list[str]]]:
    control = EmulatorControl(faults=FaultRegistry(("/api/",)), error_body=error_body)
    resets: list[str] = []

    @get("/api/items", sync_to_thread=False)
    def items() -> dict[str, object]:
        return {"value": [1, 2]}

    @patch("/api/items/{item_id:str}", sync_to_thread=False)
    def change(item_id: FromPath[str]) -> dict[str, str]:
        return {"id": item_id}

    @get("/health", sync_to_thread=False)
    def health() -> str:
        return "ok"

    app = emulator_app(
        control,
        [
            items,
            change,
            health,
            oauth_router(OAuthServer(control.clock)),
            admin_router(control, reset=lambda: resets.append("reset")),
        ],
    )
    async with httpx.AsyncClient(transport=asgi(app), base_url="http://vendor.test") as http:
        yield control, http, resets


def test_plans_default_conflicts_to_patch() -> None:
    assert FaultPlan.from_json({"kind": "conflict"}).method == "PATCH"
    assert FaultPlan.from_json({"kind": "server_error", "method": "get"}).method == "GET"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({}, "kind is required"),
        ({"kind": "meteor"}, "invalid fault"),
        ({"kind": "rate_limit", "count": 0}, "count must be at least 1"),
        ({"kind": "server_error", "status": 404}, "must be 5xx"),
        ({"kind": "latency", "seconds": -1}, "cannot be negative"),
        ({"kind": "malformed_item", "index": -1}, "cannot be negative"),
        ({"kind": "rate_limit", "path_prefix": "api"}, "must start with /"),
        ({"kind": "rate_limit", "colour": "red"}, "unknown fault fields: colour"),
        ({"kind": "rate_limit", "count": "many"}, "invalid fault"),
    ],
)
def test_plans_refuse_what_makes_no_sense(bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.from_json(bad)


def test_the_registry_spends_plans_in_order_and_matches_method_and_prefix() -> None:
    registry = FaultRegistry(("/api/",))
    registry.add("server_error", count=2, path_prefix="/api/a")
    registry.add(FaultKind.RATE_LIMIT, method="POST")
    assert registry.take("GET", "/oauth/token") is None  # outside the default scope
    assert registry.take("GET", "/api/b") is None  # the first plan is for /api/a, the second for POST
    taken = [registry.take(method, "/api/a/1") for method in ("GET", "POST", "POST", "POST")]
    assert [plan.kind if plan else None for plan in taken] == [
        FaultKind.SERVER_ERROR,
        FaultKind.SERVER_ERROR,
        FaultKind.RATE_LIMIT,
        None,
    ]
    assert registry.plans == []


def test_answers_use_the_vendors_error_shape() -> None:
    limited = fault_answer(FaultPlan(FaultKind.RATE_LIMIT, retry_after=0.2), error_body)
    assert limited is not None
    assert (limited.status, limited.headers) == (429, {"Retry-After": "1"})  # rounded up, never to "now"
    outage = fault_answer(FaultPlan(FaultKind.SERVER_ERROR, status=502), error_body)
    assert outage is not None
    assert outage.status == 502
    assert outage.body["errors"][0]["status"] == 502
    assert fault_answer(FaultPlan(FaultKind.LATENCY, seconds=1), error_body) is None


async def test_the_middleware_answers_with_faults_and_logs_them(emulator) -> None:
    control, http, _ = emulator
    control.faults.add("server_error", status=503)
    control.faults.add("empty_error")
    control.faults.add("conflict")
    outage = await http.get("/api/items")
    assert outage.status_code == 503
    assert outage.json() == {
        "errors": [{"status": 503, "code": "ServiceUnavailable", "detail": "The service is temporarily unavailable."}]
    }
    empty = await http.get("/api/items")
    assert (empty.status_code, empty.json()) == (500, {"value": []})
    assert (await http.get("/api/items")).status_code == 200  # the conflict waits for a PATCH
    assert (await http.patch("/api/items/7")).status_code == 412
    assert (await http.patch("/api/items/7")).status_code == 200
    assert [(r.status, r.fault) for r in control.requests.entries()] == [
        (503, "server_error"),
        (500, "empty_error"),
        (200, ""),
        (412, "conflict"),
        (200, ""),
    ]


async def test_latency_delays_the_real_answer(emulator) -> None:
    control, http, _ = emulator
    control.faults.add("latency", seconds=0.3)
    started = time.perf_counter()
    response = await http.get("/api/items")
    assert time.perf_counter() - started >= 0.3
    assert response.json() == {"value": [1, 2]}
    assert control.requests.entries()[-1].fault == "latency"


async def test_malformed_item_spoils_one_record_of_the_real_page(emulator) -> None:
    control, http, _ = emulator
    control.faults.add("malformed_item", index=5, body={"broken": True})  # past the end: the last record
    response = await http.get("/api/items")
    assert response.json() == {"value": [1, {"broken": True}]}
    assert response.headers["content-length"] == str(len(response.content))
    assert control.requests.entries()[-1].fault == "malformed_item"
    control.faults.add("malformed_item")
    assert (await http.patch("/api/items/7")).json() == {"id": "7"}  # no page: answered as it was
    assert (await http.get("/api/items")).json() == {"value": [1, 2]}


async def test_a_throttle_limits_each_caller_on_the_emulator_clock(emulator) -> None:
    control, http, _ = emulator
    control.clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    assert (await http.post("/_emulator/throttle", json={"requests": 2, "per_seconds": 10})).status_code == 200
    first = {"Authorization": "Bearer one"}
    assert [(await http.get("/api/items", headers=first)).status_code for _ in range(2)] == [200, 200]
    control.clock.advance(4)
    refused = await http.get("/api/items", headers=first)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "6"  # the first request leaves the window in 6 s
    assert refused.json()["errors"][0]["code"] == "TooManyRequests"
    assert control.requests.entries()[-1].fault == "throttled"
    assert (await http.get("/api/items", headers={"Authorization": "Bearer two"})).status_code == 200
    assert (await http.get("/health")).status_code == 200  # outside the data API
    control.clock.advance(6)
    assert (await http.get("/api/items", headers=first)).status_code == 200
    assert (await http.get("/_emulator/throttle")).json() == {"throttle": {"requests": 2, "per_seconds": 10.0}}
    assert (await http.post("/_emulator/throttle", json={"requests": 0, "per_seconds": 1})).status_code == 400
    await http.delete("/_emulator/throttle")
    assert control.throttle is None


async def test_unknown_routes_and_errors_use_the_vendors_shape(emulator) -> None:
    _, http, _ = emulator
    response = await http.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"


async def test_admin_routes_add_list_clear_faults_and_reset(emulator) -> None:
    control, http, resets = emulator
    added = await http.post("/_emulator/faults", json={"kind": "rate_limit", "retry_after": 3, "count": 2})
    assert added.status_code == 201
    assert (await http.get("/_emulator/faults")).json()["value"][0]["count"] == 2
    assert (await http.post("/_emulator/faults", json={"kind": "nope"})).status_code == 400
    assert (await http.post("/_emulator/faults", content=b"[1]")).status_code == 400
    assert (await http.delete("/_emulator/faults")).status_code == 204
    assert control.faults.plans == []
    assert (await http.post("/_emulator/reset")).json() == {"reset": True}
    assert resets == ["reset"]
    assert control.requests.entries() == []  # admin calls are never logged


async def test_admin_request_log_filters(emulator) -> None:
    _, http, _ = emulator
    await http.get("/api/items?page=2", headers={"Authorization": "Bearer secret-token-value"})
    await http.patch("/api/items/1")
    await http.get("/health")
    listed = (await http.get("/_emulator/requests", params={"method": "GET", "path_prefix": "/api"})).json()["value"]
    assert [(e["method"], e["path"], e["query"], e["auth"]) for e in listed] == [
        ("GET", "/api/items", "page=2", "bearer")
    ]
    assert "secret-token-value" not in str(listed)
    last = (await http.get("/_emulator/requests", params={"limit": 1})).json()["value"]
    assert [e["path"] for e in last] == ["/health"]


async def test_admin_clock(emulator) -> None:
    control, http, _ = emulator
    frozen = await http.post("/_emulator/clock", json={"now": "2026-01-01T10:00:00+01:00"})
    assert frozen.json() == {"now": "2026-01-01T09:00:00+00:00", "frozen": True}
    moved = await http.post("/_emulator/clock", json={"advance_seconds": 90})
    assert moved.json()["now"] == "2026-01-01T09:01:30+00:00"
    assert control.clock.now() == datetime(2026, 1, 1, 9, 1, 30, tzinfo=UTC)
    assert (await http.post("/_emulator/clock", json={"now": "2026-01-01T10:00:00"})).status_code == 400
    released = await http.post("/_emulator/clock", json={"now": None})
    assert released.json()["frozen"] is False

"""The shared vendor HTTP base: error taxonomy, retries, refresh-once, and a redacted request log.

The transport here is httpx's MockTransport on purpose: the unit under test is the base itself
(vendor clients are tested against their emulators).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from portal.integrations.errors import (
    AuthExpired,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from portal.integrations.http import OutboundEntry, VendorHttp

ACCESS = "eyJ-access-token-1234567890"
FRESH = "eyJ-fresh-token-0987654321"


class Collect:
    def __init__(self) -> None:
        self.entries: list[OutboundEntry] = []

    async def record(self, entry: OutboundEntry) -> None:
        self.entries.append(entry)


class RefreshingCredentials:
    def __init__(self, *, can_refresh: bool = True) -> None:
        self.token = ACCESS
        self.refreshes = 0
        self.can_refresh = can_refresh

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self) -> bool:
        self.refreshes += 1
        if self.can_refresh:
            self.token = FRESH
        return self.can_refresh

    def known_secrets(self) -> Iterable[str]:
        return [ACCESS, FRESH]


async def no_sleep(seconds: float) -> None:
    sleeps.append(seconds)


sleeps: list[float] = []


def make(handler: httpx.MockTransport, **kwargs: Any) -> tuple[VendorHttp, Collect]:
    recorder = Collect()
    http = VendorHttp(
        httpx.AsyncClient(transport=handler), "https://vendor.test/api/", recorder=recorder, sleep=no_sleep, **kwargs
    )
    return http, recorder


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthExpired), (403, Forbidden), (404, NotFound), (409, Conflict), (412, Conflict), (400, InvalidRequest)],
)
async def test_statuses_become_the_taxonomy(status: int, error: type[Exception]) -> None:
    http, recorder = make(httpx.MockTransport(lambda request: httpx.Response(status, json={"message": "nope"})))
    with pytest.raises(error, match="nope"):
        await http.send("GET", "things")
    assert [entry.status_code for entry in recorder.entries] == [status]


async def test_429_with_short_retry_after_is_retried_then_succeeds() -> None:
    sleeps.clear()
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={"ok": True})])
    http, recorder = make(httpx.MockTransport(lambda request: next(answers)))
    assert await http.json("GET", "things") == {"ok": True}
    assert len(sleeps) == 1
    assert 2.0 <= sleeps[0] <= 2.2  # what the vendor asked, with at most 10 % jitter
    assert [entry.status_code for entry in recorder.entries] == [429, 200]
    assert recorder.entries[0].error_kind == "rate_limited"


async def test_429_with_long_retry_after_is_left_to_the_job() -> None:
    http, _ = make(httpx.MockTransport(lambda request: httpx.Response(429, headers={"Retry-After": "120"})))
    with pytest.raises(RateLimited) as caught:
        await http.send("GET", "things")
    assert caught.value.retry_after == 120.0


async def test_5xx_is_retried_for_get_but_not_for_post() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(503)

    http, _ = make(httpx.MockTransport(handler), max_attempts=3)
    with pytest.raises(Unavailable):
        await http.send("GET", "things")
    assert calls == ["GET"] * 3
    calls.clear()
    with pytest.raises(Unavailable):
        await http.send("POST", "things", json={})
    assert calls == ["POST"]


async def test_transport_failure_is_unavailable_and_logged() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http, recorder = make(httpx.MockTransport(handler), max_attempts=1)
    with pytest.raises(Unavailable, match=r"Could not reach vendor\.test"):
        await http.send("GET", "things")
    assert recorder.entries[0].status_code is None
    assert recorder.entries[0].error_kind == "unavailable"


async def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={}) if FRESH in request.headers["Authorization"] else httpx.Response(401)

    credentials = RefreshingCredentials()
    http, _ = make(httpx.MockTransport(handler), credentials=credentials)
    await http.send("GET", "things")
    assert seen == [f"Bearer {ACCESS}", f"Bearer {FRESH}"]
    assert credentials.refreshes == 1


async def test_a_second_401_after_refresh_is_not_retried_again() -> None:
    credentials = RefreshingCredentials()
    http, recorder = make(httpx.MockTransport(lambda request: httpx.Response(401)), credentials=credentials)
    with pytest.raises(AuthExpired):
        await http.send("GET", "things")
    assert credentials.refreshes == 1
    assert len(recorder.entries) == 2


async def test_the_log_never_holds_tokens_secrets_or_passwords() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"access_token": "leaked-in-body-abc", "error": {"message": f"bad token {ACCESS}"}},
            headers={"Set-Cookie": "session=abc"},
        )

    http, recorder = make(httpx.MockTransport(handler), credentials=RefreshingCredentials())
    with pytest.raises(InvalidRequest) as caught:
        await http.send(
            "POST",
            "login?api_key=querysecret123&page=2",
            json={"password": "hunter2-password", "client_secret": "s3cr3t-value", "name": "kept"},
        )
    assert ACCESS not in str(caught.value)
    entry = recorder.entries[0]
    logged = json.dumps(entry.__dict__, default=str)
    for secret in (ACCESS, "leaked-in-body-abc", "querysecret123", "hunter2-password", "s3cr3t-value"):
        assert secret not in logged
    assert "page=2" in entry.url
    assert "kept" in entry.request_excerpt


async def test_form_bodies_are_redacted_too() -> None:
    http, recorder = make(
        httpx.MockTransport(lambda request: httpx.Response(200, json={"refresh_token": "rt-new-123"}))
    )
    await http.send(
        "POST",
        "token",
        data={"grant_type": "refresh_token", "refresh_token": "rt-old-456", "client_secret": "cs-789xyz"},
        authenticated=False,
    )
    logged = recorder.entries[0].request_excerpt + recorder.entries[0].response_excerpt
    assert "grant_type=refresh_token" in logged
    for secret in ("rt-old-456", "cs-789xyz", "rt-new-123"):
        assert secret not in logged

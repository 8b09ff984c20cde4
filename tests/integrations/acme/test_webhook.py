"""Acme webhooks as socdesk reads them: signature, replay window, and the work they ask for."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from portal.integrations.acme.emulator.webhooks import build_event, sign_webhook, signed_request
from portal.integrations.acme.vendor import AcmeVendor
from portal.integrations.base import WebhookWork
from tests.integrations.acme.conftest import connection_view

SECRET = "whsec-test-0123456789"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENT = build_event("contoso", "case-7", "case.updated", NOW, event_id="evt-1")


def _read(headers: dict[str, str], body: bytes, now: datetime = NOW, secret: str = SECRET):
    return AcmeVendor().read_webhook(connection_view(webhook_secret=secret), headers, body, now)


def _signed(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Acme-Signature": f"t={timestamp},v1={digest}"}


def test_a_correctly_signed_event_asks_to_sync_its_case() -> None:
    body = json.dumps(EVENT).encode()
    reading = _read(_signed(body, int(NOW.timestamp())), body)
    assert reading.valid, reading.detail
    assert reading.delivery_id == "evt-1"
    assert list(reading.work) == [WebhookWork(entity="cases", remote_id="contoso/case-7", remote_scope="contoso")]


def test_the_emulators_signature_is_the_documented_hmac() -> None:
    body = b'{"a":1}'
    assert sign_webhook(SECRET, body, 1_700_000_000) == _signed(body, 1_700_000_000)["X-Acme-Signature"]
    sent_body, headers = signed_request(SECRET, EVENT, timestamp=int(NOW.timestamp()))
    # header names are matched case-insensitively, as proxies may lower-case them
    reading = _read({name.lower(): value for name, value in headers.items()}, sent_body)
    assert reading.valid
    assert reading.delivery_id == "evt-1"


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda body, headers: (body + b" ", headers), "does not match"),  # altered body
        (lambda body, headers: (body, _signed(body, int(NOW.timestamp()), "other-secret")), "does not match"),
        (lambda body, headers: (body, {}), "missing"),
        (lambda body, headers: (body, {"X-Acme-Signature": "v1=abc"}), "malformed"),
        (lambda body, headers: (body, {"X-Acme-Signature": "t=abc,v1=abc"}), "malformed"),
    ],
)
def test_a_bad_signature_is_refused(mutate, detail) -> None:
    body = json.dumps(EVENT).encode()
    body, headers = mutate(body, _signed(body, int(NOW.timestamp())))
    reading = _read(headers, body)
    assert not reading.valid
    assert detail in reading.detail
    assert not reading.work


@pytest.mark.parametrize("offset", [timedelta(seconds=301), timedelta(seconds=-301), timedelta(days=1)])
def test_a_stale_or_future_timestamp_is_refused(offset) -> None:
    body = json.dumps(EVENT).encode()
    reading = _read(_signed(body, int((NOW - offset).timestamp())), body)
    assert not reading.valid
    assert "five minutes" in reading.detail


def test_a_timestamp_inside_the_window_is_accepted() -> None:
    body = json.dumps(EVENT).encode()
    assert _read(_signed(body, int((NOW - timedelta(seconds=299)).timestamp())), body).valid


def test_a_second_signature_allows_secret_rotation() -> None:
    body = json.dumps(EVENT).encode()
    timestamp = int(NOW.timestamp())
    old = _signed(body, timestamp, "old-secret-value")["X-Acme-Signature"]
    new = _signed(body, timestamp)["X-Acme-Signature"].split(",")[1]
    assert _read({"X-Acme-Signature": f"{old},{new}"}, body).valid


def test_no_webhook_secret_means_nothing_is_trusted() -> None:
    body = json.dumps(EVENT).encode()
    reading = _read(_signed(body, int(NOW.timestamp())), body, secret="")
    assert not reading.valid
    assert "No webhook secret" in reading.detail


def test_signed_bodies_that_are_not_events() -> None:
    timestamp = int(NOW.timestamp())
    unknown = json.dumps(build_event("contoso", "c", "tenant.renamed", NOW, event_id="evt-9")).encode()
    reading = _read(_signed(unknown, timestamp), unknown)
    assert reading.valid
    assert not reading.work
    assert reading.delivery_id == "evt-9"

    no_case = json.dumps({"eventId": "evt-2", "type": "case.updated", "tenant": "contoso"}).encode()
    assert not _read(_signed(no_case, timestamp), no_case).valid

    not_json = b"hello"
    reading = _read(_signed(not_json, timestamp), not_json)
    assert not reading.valid
    assert reading.delivery_id == "sha256:" + hashlib.sha256(not_json).hexdigest()

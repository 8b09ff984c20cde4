"""OAuth client pieces that need no provider: the authorize URL, pending records, callback checks."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.config import Settings
from portal.integrations import oauth
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.manifest import Manifest, OAuthSpec

CONFIG = {"login_url": "https://login.acme.test", "api_url": "https://api.acme.test", "client_id": "socdesk-app"}
REDIRECT = "https://socdesk.example/authcallback"
USER = uuid.uuid4()


def _begin(manifest: Manifest = MANIFEST, config=CONFIG):
    return oauth.begin_authorization(uuid.uuid4(), "acme", manifest, config, REDIRECT, user_id=USER)


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_authorize_url_carries_state_pkce_s256_nonce_exact_redirect_and_scopes() -> None:
    url, pending = _begin()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://login.acme.test/oauth/authorize"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "socdesk-app"
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "openid cases.read cases.write offline_access"
    assert query["state"] == pending["state"]
    assert len(base64.urlsafe_b64decode(pending["state"] + "==")) >= 32
    assert query["code_challenge_method"] == "S256"
    verifier = pending["verifier"]
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == expected
    assert "code_verifier" not in query
    assert verifier not in url
    assert query["nonce"] == pending["nonce"]
    assert pending["nonce"]
    assert pending["issuer"] == "https://login.acme.test"
    assert pending["user_id"] == str(USER)
    assert pending["vendor"] == "acme"
    assert pending["redirect_uri"] == REDIRECT
    json.dumps(pending)  # kept in the Redis-backed session: plain JSON only


def test_every_sign_in_gets_its_own_state_verifier_and_nonce() -> None:
    first, second = _begin()[1], _begin()[1]
    assert {first["state"], first["verifier"], first["nonce"]}.isdisjoint(
        {second["state"], second["verifier"], second["nonce"]}
    )


def test_no_nonce_without_openid_and_extra_params_are_added() -> None:
    spec = OAuthSpec(
        authorize_path="/authorize",
        token_path="/token",
        scopes=("read",),
        base_key="login_url",
        extra_authorize_params={"prompt": "consent", "state": "attacker"},
    )
    manifest = Manifest(vendor="x", display_name="X", summary="", fields=(), oauth=spec)
    url, pending = _begin(manifest)
    query = parse_qs(urlsplit(url).query)
    assert "nonce" not in query
    assert pending["nonce"] is None
    assert query["prompt"] == ["consent"]
    assert query["state"] == [pending["state"]]  # extra params cannot override the protocol's own


def test_begin_refuses_without_client_id_or_login_address() -> None:
    with pytest.raises(ValueError, match="client id"):
        _begin(config={"login_url": "https://login.acme.test"})
    with pytest.raises(ValueError, match="sign-in address"):
        _begin(config={"client_id": "x"})


def test_redirect_uri_is_the_public_address_plus_authcallback(tmp_path) -> None:
    settings = Settings(public_url="https://desk.msp.example/", secret_key="s" * 40, data_dir=tmp_path)
    assert oauth.redirect_uri(settings) == "https://desk.msp.example/authcallback"


def test_pending_records_are_one_time_expire_and_are_capped() -> None:
    now = time.time()
    entries: dict[str, Any] = {}
    records = []
    for index in range(oauth.MAX_PENDING + 2):
        record = {**_begin()[1], "created_at": now - 100 + index}
        records.append(record)
        entries = oauth.add_pending(entries, record, now=now)
    assert len(entries) == oauth.MAX_PENDING
    assert records[0]["state"] not in entries  # the oldest went first
    newest = records[-1]["state"]
    taken, entries = oauth.take_pending(entries, newest, now=now)
    assert taken is not None
    assert taken["state"] == newest
    again, entries = oauth.take_pending(entries, newest, now=now)
    assert again is None
    # Ten minutes later every record is gone.
    later, kept = oauth.take_pending(entries, records[-2]["state"], now=now + oauth.PENDING_TTL_SECONDS + 1)
    assert later is None
    assert kept == {}
    assert oauth.take_pending(entries, "", now=now)[0] is None


def _pending(**overrides: Any) -> dict[str, Any]:
    return {**_begin()[1], **overrides}


def test_callback_checks_state_user_age_issuer_error_and_code() -> None:
    pending = _pending()
    ok = {"state": pending["state"], "code": "c0de", "iss": "https://login.acme.test"}
    assert oauth.check_callback(pending, ok, user_id=USER) == "c0de"
    # The issuer may be a path below the login address (tenant-specific issuers), never elsewhere.
    assert oauth.check_callback(pending, {**ok, "iss": "https://login.acme.test/tenant/v2.0"}, user_id=USER)
    assert oauth.check_callback(pending, {"state": pending["state"], "code": "c"}, user_id=USER) == "c"

    def reason(record, params, user=USER) -> str:
        with pytest.raises(oauth.AuthorizationFailed) as caught:
            oauth.check_callback(record, params, user_id=user)
        return caught.value.reason

    assert reason(None, ok) == "unknown_state"
    assert reason(pending, {**ok, "state": "other"}) == "unknown_state"
    assert reason(pending, ok, uuid.uuid4()) == "other_user"
    assert reason({**pending, "created_at": time.time() - 601}, ok) == "expired"
    assert reason(pending, {**ok, "iss": "https://evil.test"}) == "issuer_mismatch"
    assert reason(pending, {**ok, "iss": "https://login.acme.test.evil.test"}) == "issuer_mismatch"
    assert reason(pending, {"state": pending["state"]}) == "no_code"
    # A mix-up is refused even when the other provider reports an error.
    assert reason(pending, {"state": pending["state"], "error": "access_denied", "iss": "https://x.test"}) == (
        "issuer_mismatch"
    )
    with pytest.raises(oauth.AuthorizationFailed) as caught:
        oauth.check_callback(
            pending,
            {"state": pending["state"], "error": "access_denied", "error_description": "The user said no"},
            user_id=USER,
        )
    assert caught.value.reason == "access_denied"
    assert "cancelled or consent was refused" in caught.value.message
    assert "The user said no" in caught.value.message


def test_unverified_claims_reads_a_jwt_payload() -> None:
    assert oauth.unverified_claims(_jwt({"nonce": "n", "tid": "t1"})) == {"nonce": "n", "tid": "t1"}
    for bad in ("not-a-jwt", "a.b", "a.%%%.c", _jwt({"x": 1}).replace(".", "..", 1)):
        with pytest.raises(ValueError):  # noqa: PT011
            oauth.unverified_claims(bad)


def test_token_set_round_trips_and_knows_when_it_expires() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens = oauth.TokenSet("a", "r", now + timedelta(minutes=4), "s", {"tid": "t"})
    assert oauth.TokenSet.from_json(json.loads(json.dumps(tokens.to_json()))) == tokens
    assert tokens.expires_within(timedelta(minutes=5), now)
    assert not tokens.expires_within(timedelta(minutes=3), now)
    assert oauth.stored_tokens({"oauth": {"default": tokens.to_json()}}) == tokens
    assert oauth.stored_tokens({"oauth": {"tenant-a": tokens.to_json()}}, "tenant-a") == tokens
    assert oauth.stored_tokens({}) is None
    assert oauth.has_tokens({"oauth": {"tenant-a": tokens.to_json()}})
    assert not oauth.has_tokens({"client_secret": "x"})


class _Recorder:
    def __init__(self) -> None:
        self.entries: list[Any] = []

    async def record(self, entry) -> None:
        self.entries.append(entry)


async def _exchange_with(answer: dict[str, Any], pending: dict[str, Any] | None = None) -> oauth.TokenSet:
    """complete_authorization against a token endpoint that answers ``answer`` (for id-token checks
    the emulator never gets wrong; the full flow is tested against the emulator elsewhere)."""
    pending = pending or _pending()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        return await oauth.complete_authorization(
            pending,
            {"state": pending["state"], "code": "the-code"},
            client=client,
            recorder=_Recorder(),
            manifest=MANIFEST,
            config=CONFIG,
            client_secret="client-secret-value",
            user_id=USER,
        )


async def test_id_token_must_carry_this_sign_ins_nonce_and_audience() -> None:
    pending = _pending()
    good = {"nonce": pending["nonce"], "iss": "https://login.acme.test", "aud": "socdesk-app", "tid": "t1", "sub": "u"}
    answer = {"access_token": "at-123456", "refresh_token": "rt-123456", "expires_in": 3600, "token_type": "Bearer"}
    tokens = await _exchange_with({**answer, "id_token": _jwt(good)}, pending)
    assert tokens.claims == {"iss": "https://login.acme.test", "aud": "socdesk-app", "tid": "t1", "sub": "u"}
    assert tokens.access_token == "at-123456"
    assert tokens.refresh_token == "rt-123456"
    assert tokens.expires_at is not None
    assert tokens.expires_at.tzinfo is not None

    async def reason(claims: dict[str, Any] | None, **extra: Any) -> str:
        body = {**answer, **extra}
        if claims is not None:
            body["id_token"] = _jwt(claims)
        with pytest.raises(oauth.AuthorizationFailed) as caught:
            await _exchange_with(body, pending)
        return caught.value.reason

    assert await reason({**good, "nonce": "replayed"}) == "nonce_mismatch"
    assert await reason({key: value for key, value in good.items() if key != "nonce"}) == "nonce_mismatch"
    assert await reason({**good, "aud": "another-app"}) == "audience_mismatch"
    assert await reason({**good, "iss": "https://evil.test"}) == "issuer_mismatch"
    assert await reason(None) == "id_token"
    assert await reason(good, token_type="mac") == "token_exchange"
    assert await reason(good, access_token="") == "token_exchange"

"""The emulated Microsoft identity platform, driven as a browser and socdesk's OAuth client would."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from portal.integrations.sentinel.emulator import fixtures
from tests.integrations.sentinel.emulator_support import (
    ARM_SCOPE,
    BASE,
    FROZEN,
    LA_SCOPE,
    NORTHWIND,
    REDIRECT,
    WOODGROVE,
    Microsoft,
    example,
    ms_fixture,  # noqa: F401  (the "ms" fixture)
    pkce,
    redirect_query,
    request_id,
)

TOKEN_ERROR = example("microsoft-identity/token_v2_client_credentials_error_invalid_scope.json")
TOKEN_OK = example("microsoft-identity/token_v2_client_credentials_success.json")


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def assert_entra_error(body: dict[str, Any], error: str, code: int) -> None:
    # The published error's fields, plus error_uri (reference 3.8).
    assert set(TOKEN_ERROR) <= set(body) <= set(TOKEN_ERROR) | {"error_uri"}
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["trace_id"] in body["error_description"]


async def test_sign_in_consent_and_code_with_pkce_give_arm_tokens(ms: Microsoft) -> None:
    verifier, challenge = pkce()
    page = await ms.sign_in_page("organizations", ms.authorize_params(challenge))
    assert "Sign in" in page.text
    assert fixtures.DEMO_APP_NAME in page.text
    rid = request_id(page)
    consent = await ms.sign_in("organizations", rid, WOODGROVE.admin_upn)
    assert consent.status_code == 200
    assert "Permissions requested" in consent.text
    for permission in ("Access Azure Service Management as you", "Read Log Analytics data as user", LA_SCOPE):
        assert permission in consent.text
    answer = redirect_query(await ms.post("organizations", rid, step="consent", decision="accept"))
    assert set(answer) == {"code", "state"}
    assert answer["state"] == "state-123"

    response = await ms.redeem(answer["code"], verifier, tenant=WOODGROVE.tenant_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(TOKEN_OK) <= set(body)
    assert body["token_type"] == "Bearer"
    assert body["scope"] == ARM_SCOPE
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    assert body["refresh_token"]
    info = ms.state.identity.validate_bearer(f"Bearer {body['access_token']}")
    assert info is not None
    assert info.audience == "https://management.azure.com/"
    assert info.tenant_id == WOODGROVE.tenant_id
    id_token = claims(body["id_token"])
    user = ms.state.directory.user(WOODGROVE.admin_upn)
    assert id_token["iss"] == f"{BASE}/{WOODGROVE.tenant_id}/v2.0"
    assert id_token["aud"] == fixtures.DEMO_CLIENT_ID
    assert id_token["tid"] == WOODGROVE.tenant_id
    assert id_token["oid"] == user.object_id
    assert id_token["preferred_username"] == WOODGROVE.admin_upn
    assert id_token["name"] == "MSP Administrator"
    assert id_token["nonce"] == "nonce-456"
    client_info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert client_info == {"uid": user.object_id, "utid": WOODGROVE.tenant_id}


async def test_a_tenant_with_admin_consent_skips_the_consent_screen(ms: Microsoft) -> None:
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page(NORTHWIND.tenant_id, ms.authorize_params(challenge)))
    answer = redirect_query(await ms.sign_in(NORTHWIND.tenant_id, rid, NORTHWIND.analyst_upn))
    assert "code" in answer


async def test_a_second_sign_in_after_user_consent_skips_the_screen_unless_prompt_consent(ms: Microsoft) -> None:
    await ms.code_for(WOODGROVE.admin_upn, verifier_challenge=pkce())
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge)))
    assert "code" in redirect_query(await ms.sign_in("organizations", rid, WOODGROVE.admin_upn))
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge, prompt="consent")))
    assert "Permissions requested" in (await ms.sign_in("organizations", rid, WOODGROVE.admin_upn)).text


async def test_cancel_on_the_consent_screen_redirects_with_aadsts65004(ms: Microsoft) -> None:
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge)))
    await ms.sign_in("organizations", rid, WOODGROVE.admin_upn)
    answer = redirect_query(await ms.post("organizations", rid, step="consent", decision="cancel"))
    assert answer["error"] == "access_denied"
    assert answer["error_description"].startswith("AADSTS65004: User declined to consent to access the app.")
    assert answer["state"] == "state-123"
    assert "code" not in answer


async def test_a_wrong_password_shows_the_form_again(ms: Microsoft) -> None:
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge)))
    again = await ms.sign_in("organizations", rid, WOODGROVE.admin_upn, password="wrong-password")
    assert again.status_code == 200
    assert "Your account or password is incorrect" in again.text
    assert request_id(again) == rid


async def test_a_user_of_another_tenant_is_refused_aadsts50020(ms: Microsoft) -> None:
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page(NORTHWIND.tenant_id, ms.authorize_params(challenge)))
    refused = await ms.sign_in(NORTHWIND.tenant_id, rid, WOODGROVE.admin_upn)
    assert refused.status_code == 400
    assert "AADSTS50020" in refused.text


async def test_a_tenant_that_blocks_user_consent_needs_admin_approval(ms: Microsoft) -> None:
    ms.state.directory.tenant(WOODGROVE.tenant_id).user_consent_allowed = False
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge)))
    page = await ms.sign_in("organizations", rid, WOODGROVE.analyst_upn)
    assert "Need admin approval" in page.text
    answer = redirect_query(await ms.post("organizations", rid, step="approval", decision="back"))
    assert answer["error"] == "consent_required"
    assert answer["error_description"].startswith("AADSTS90094")


async def test_unknown_tenant_at_authorize_and_token(ms: Microsoft) -> None:
    page = await ms.sign_in_page("no-such-tenant.example", ms.authorize_params(pkce()[1]))
    assert page.status_code == 400
    assert "AADSTS90002" in page.text
    response = await ms.redeem("some-code", "v" * 43, tenant="no-such-tenant.example")
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_request", 90002)


async def test_wrong_verifier_fails_with_aadsts501481(ms: Microsoft) -> None:
    pair = pkce()
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=pair)
    response = await ms.redeem(code, pkce()[0])
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_grant", 501481)


async def test_a_code_is_single_use(ms: Microsoft) -> None:
    pair = pkce()
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=pair)
    assert (await ms.redeem(code, pair[0])).status_code == 200
    again = await ms.redeem(code, pair[0])
    assert_entra_error(again.json(), "invalid_grant", 54005)


async def test_wrong_client_secret_fails_with_aadsts7000215(ms: Microsoft) -> None:
    pair = pkce()
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=pair)
    response = await ms.redeem(code, pair[0], client_secret="not-the-secret")
    assert response.status_code == 401
    assert_entra_error(response.json(), "invalid_client", 7000215)


async def test_two_resources_in_one_token_request_fail_with_aadsts28000(ms: Microsoft) -> None:
    pair = pkce()
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=pair)
    response = await ms.redeem(code, pair[0], scope=f"{ARM_SCOPE} {LA_SCOPE} offline_access")
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_scope", 28000)
    assert "more than one resource" in response.json()["error_description"]


async def test_refresh_rotates_and_reaches_the_other_consented_resource(ms: Microsoft) -> None:
    pair = pkce()
    code = await ms.code_for(NORTHWIND.admin_upn, verifier_challenge=pair)
    first = (await ms.redeem(code, pair[0], tenant=NORTHWIND.tenant_id)).json()
    refreshed = await ms.refresh(first["refresh_token"], tenant=NORTHWIND.tenant_id, scope=f"{LA_SCOPE} offline_access")
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["scope"] == LA_SCOPE
    assert body["refresh_token"] != first["refresh_token"]
    info = ms.state.identity.validate_bearer(f"Bearer {body['access_token']}")
    assert info is not None
    assert info.audience == "https://api.loganalytics.io"
    # The old refresh token is spent; the new one still reaches ARM.
    old = await ms.refresh(first["refresh_token"], tenant=NORTHWIND.tenant_id)
    assert_entra_error(old.json(), "invalid_grant", 70008)
    arm = await ms.refresh(body["refresh_token"], tenant=NORTHWIND.tenant_id)
    assert arm.json()["scope"] == ARM_SCOPE


async def test_revoked_sessions_and_inactive_refresh_tokens_are_invalid_grant(ms: Microsoft) -> None:
    tokens = ms.tokens(NORTHWIND.admin_upn)
    revoked = await ms.http.post(f"/_emulator/users/{NORTHWIND.admin_upn}/revoke-sessions")
    assert revoked.json() == {"revoked": 1}
    response = await ms.refresh(tokens["refresh_token"], tenant=NORTHWIND.tenant_id)
    assert_entra_error(response.json(), "invalid_grant", 50173)

    idle = ms.tokens(NORTHWIND.admin_upn)
    ms.state.clock.set(FROZEN + timedelta(days=91))
    response = await ms.refresh(idle["refresh_token"], tenant=NORTHWIND.tenant_id)
    assert_entra_error(response.json(), "invalid_grant", 700082)


async def test_no_offline_access_no_refresh_token(ms: Microsoft) -> None:
    assert "refresh_token" not in ms.tokens(NORTHWIND.admin_upn, ARM_SCOPE)


async def test_form_post_answers_with_a_self_posting_form(ms: Microsoft) -> None:
    _, challenge = pkce()
    params = ms.authorize_params(challenge, response_mode="form_post")
    rid = request_id(await ms.sign_in_page(NORTHWIND.tenant_id, params))
    page = await ms.sign_in(NORTHWIND.tenant_id, rid, NORTHWIND.admin_upn)
    assert page.status_code == 200
    assert f"action='{REDIRECT}'" in page.text
    assert "name='code'" in page.text
    assert "name='state' value='state-123'" in page.text


async def test_admin_consent_grants_the_tenant(ms: Microsoft) -> None:
    params = {
        "client_id": fixtures.DEMO_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "https://management.azure.com/.default",
        "state": "admin-1",
    }
    path = f"/{WOODGROVE.tenant_id}/v2.0/adminconsent"
    rid = request_id(await ms.http.get(path, params=params))
    page = await ms.http.post(path, data={"request": rid, "step": "signin", "login": WOODGROVE.admin_upn,
                                          "passwd": fixtures.DEMO_PASSWORD})  # fmt: skip
    assert "Accept for your organization" in page.text
    answer = redirect_query(await ms.http.post(path, data={"request": rid, "step": "consent", "decision": "accept"}))
    assert answer == {
        "admin_consent": "True",
        "tenant": WOODGROVE.tenant_id,
        "scope": "https://management.azure.com/.default",
        "state": "admin-1",
    }
    assert fixtures.DEMO_CLIENT_ID in ms.state.directory.tenant(WOODGROVE.tenant_id).admin_consents
    # Now Woodgrove's users go straight through.
    _, challenge = pkce()
    rid = request_id(await ms.sign_in_page("organizations", ms.authorize_params(challenge)))
    assert "code" in redirect_query(await ms.sign_in("organizations", rid, WOODGROVE.analyst_upn))


async def test_admin_consent_needs_an_administrator(ms: Microsoft) -> None:
    path = f"/{WOODGROVE.tenant_id}/adminconsent"
    params = {"client_id": fixtures.DEMO_CLIENT_ID, "redirect_uri": REDIRECT, "state": "s"}
    rid = request_id(await ms.http.get(path, params=params))
    page = await ms.http.post(path, data={"request": rid, "step": "signin", "login": WOODGROVE.reader_upn,
                                          "passwd": fixtures.DEMO_PASSWORD})  # fmt: skip
    assert "Need admin approval" in page.text
    back = await ms.http.post(path, data={"request": rid, "step": "approval", "decision": "back"})
    answer = {key: values[0] for key, values in parse_qs(urlsplit(back.headers["location"]).query).items()}
    assert answer["admin_consent"] == "True"
    assert answer["error"] == "consent_required"


async def test_discovery_names_the_tenant_endpoints(ms: Microsoft) -> None:
    response = await ms.http.get(f"/{NORTHWIND.tenant_id}/v2.0/.well-known/openid-configuration")
    document = response.json()
    assert document["issuer"] == f"{BASE}/{NORTHWIND.tenant_id}/v2.0"
    assert document["token_endpoint"] == f"{BASE}/{NORTHWIND.tenant_id}/oauth2/v2.0/token"
    assert (await ms.http.get(document["jwks_uri"].removeprefix(BASE))).json() == {"keys": []}


async def test_prompt_none_without_a_session_is_login_required(ms: Microsoft) -> None:
    answer = redirect_query(await ms.sign_in_page("organizations", ms.authorize_params(pkce()[1], prompt="none")))
    assert answer["error"] == "login_required"
    assert answer["error_description"].startswith("AADSTS50058")


async def test_an_unknown_app_or_redirect_uri_gets_an_error_page_not_a_redirect(ms: Microsoft) -> None:
    unknown = await ms.sign_in_page("organizations", ms.authorize_params(pkce()[1], client_id="nope"))
    assert unknown.status_code == 400
    assert "AADSTS700016" in unknown.text
    elsewhere = await ms.sign_in_page(
        "organizations", ms.authorize_params(pkce()[1], redirect_uri="https://evil.example/cb")
    )
    assert elsewhere.status_code == 400
    assert "AADSTS50011" in elsewhere.text
    assert "location" not in elsewhere.headers


async def test_a_refresh_token_works_at_its_own_tenant_only(ms: Microsoft) -> None:
    tokens = ms.tokens(NORTHWIND.admin_upn)
    elsewhere = await ms.refresh(tokens["refresh_token"], tenant=WOODGROVE.tenant_id)
    assert_entra_error(elsewhere.json(), "invalid_grant", 50020)
    # Refused before anything was spent: the token still works where it belongs.
    assert (await ms.refresh(tokens["refresh_token"], tenant=NORTHWIND.tenant_id)).status_code == 200


async def test_an_unknown_resource_at_the_token_endpoint_is_aadsts70011(ms: Microsoft) -> None:
    tokens = ms.tokens(NORTHWIND.admin_upn)
    response = await ms.refresh(
        tokens["refresh_token"], tenant=NORTHWIND.tenant_id, scope="https://foo.microsoft.com/.default"
    )
    assert_entra_error(response.json(), "invalid_scope", 70011)
    assert "The scope https://foo.microsoft.com/.default is not valid." in response.json()["error_description"]

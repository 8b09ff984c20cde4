"""``socdesk emulate <vendor>``: a real process serving the emulator on a real port."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from portal.cli import main
from portal.integrations.acme.emulator.fixtures import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from portal.integrations.emulation.catalog import EMULATORS
from tests.serving import served_by_cli


def test_acme_is_listed() -> None:
    assert "acme" in EMULATORS


def test_an_unknown_vendor_is_refused_with_the_list() -> None:
    result = CliRunner().invoke(main, ["emulate", "nonesuch"])
    assert result.exit_code != 0
    assert f"no emulator for 'nonesuch'; available: {', '.join(sorted(EMULATORS))}" in result.output


def test_the_acme_emulator_serves_over_http() -> None:
    with served_by_cli("emulate", "acme", probe="/api/v1/tenants") as base:
        unauthenticated = httpx.get(f"{base}/api/v1/tenants", timeout=1)
        assert unauthenticated.status_code == 401
        tokens = httpx.post(
            f"{base}/_emulator/oauth/tokens", json={"client_id": DEMO_CLIENT_ID, "scopes": ["cases.read"]}
        ).json()
        tenants = httpx.get(f"{base}/api/v1/tenants", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert [tenant["id"] for tenant in tenants.json()["value"]] == ["contoso", "fabrikam"]
        consent = httpx.get(
            f"{base}/oauth/authorize",
            params={"client_id": DEMO_CLIENT_ID, "redirect_uri": "http://127.0.0.1:8000/authcallback"},
        )
        assert consent.status_code == 302  # a known client: errors go back to it, not to an error page
        assert "error=unsupported_response_type" in consent.headers["location"]
        assert DEMO_CLIENT_SECRET not in consent.text

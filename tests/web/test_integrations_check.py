""" "Test connection" end to end: the web app calls the Acme emulator with the stored OAuth tokens."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.domain.accounts.models import Role
from portal.domain.integrations.secrets import SecretBox
from tests.conftest import csrf_token, sign_in
from tests.integrations.oauth_support import CLIENT_ID, SCOPES, emulator, make_connection, outbound_rows, token_set

HTMX = {"HX-Request": "true"}


async def test_test_connection_calls_the_vendor_and_reports_what_it_found(settings, make_user, sessionmaker) -> None:
    _, state, transport = emulator()
    state.create_tenant("tenant-7", "Globex Security")
    box = SecretBox.from_settings(settings)
    connection_id = await make_connection(
        sessionmaker, box, tokens=token_set(state.oauth.issue_tokens(CLIENT_ID, SCOPES)), name="Acme EU"
    )
    admin = await make_user(Role.ADMIN)
    app = create_app(settings)
    app.state.http_transport = transport  # the app's vendor client talks to the emulator
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, admin.email)
        token = await csrf_token(client, "/profile")
        url = f"/integrations/connections/{connection_id}/test"

        works = await client.post(url, data={"_csrf_token": token}, headers=HTMX)
        assert works.status_code == 200
        assert "Connection works: Signed in to Acme as" in works.text
        assert "Globex Security" in works.text
        assert transport.calls("/api/v1/me")
        logged = await outbound_rows(sessionmaker)
        assert any(row.url.endswith("/api/v1/me") for row in logged)  # the check is in the request log
        requests_tab = await client.get(f"/integrations/connections/{connection_id}/requests")
        assert "/api/v1/tenants" in requests_tab.text

        # Access revoked at the vendor: the test says so instead of failing with a 500.
        state.oauth.expire_access_tokens()
        state.oauth.revoke_refresh_tokens()
        refused = await client.post(url, data={"_csrf_token": token}, headers=HTMX)
        assert refused.status_code == 200
        assert "Connection test failed:" in refused.text
        assert "flash-error" in refused.text

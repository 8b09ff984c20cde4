"""An admin creates a user limited to one client; signed in, that user sees only that client."""

from __future__ import annotations

from typing import Any

import pytest

from portal.domain.accounts.models import Role
from tests.conftest import TEST_PASSWORD
from tests.domain.test_settings_helpers import make_client

pytestmark = pytest.mark.browser


async def _sign_in(page: Any, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{base}/")


async def test_a_limited_user_sees_only_their_clients(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    await make_client(sessionmaker, "Acme Corp")
    globex = await make_client(sessionmaker, "Globex")
    page = browser_page

    await _sign_in(page, live_server, admin.email, TEST_PASSWORD)
    await page.goto(f"{live_server}/clients")
    assert await page.locator("#client-list", has_text="Globex").count() == 1  # the admin sees both

    await page.goto(f"{live_server}/settings/users/new")
    await page.fill("#email", "only.acme@msp.example")
    await page.fill("#display_name", "Only Acme")
    await page.select_option("#role", "analyst")
    await page.check("[data-testid=scope-limited]")
    await page.get_by_label("Acme Corp").check()
    await page.click("[data-testid=user-save]")
    password = (await page.locator("[data-testid=issued-password]").inner_text()).strip()
    await page.click(".user-menu summary")
    await page.click("[data-testid=logout]")
    await page.wait_for_url(f"{live_server}/login?signed_out=1")

    await _sign_in(page, live_server, "only.acme@msp.example", password)
    await page.goto(f"{live_server}/clients")
    listing = await page.locator("#client-list").inner_text()
    assert "Acme Corp" in listing
    assert "Globex" not in listing
    response = await page.goto(f"{live_server}/clients/{globex.id}")
    assert response is not None
    assert response.status == 404
    assert "Globex" not in await page.content()
    assert browser_problems == []

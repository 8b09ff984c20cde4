"""A person creates a personal API token on their profile page, copies it once, and revokes it."""

from __future__ import annotations

from typing import Any

import pytest

from portal.domain.accounts.models import Role
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


async def test_create_and_revoke_an_api_token(
    live_server: str, browser_page: Any, browser_problems: list[str], make_user
) -> None:
    user = await make_user(Role.ANALYST)
    page = browser_page
    await page.goto(f"{live_server}/login")
    await page.fill("#email", user.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")

    await page.click(".user-menu summary")
    await page.click("[data-testid=profile-link]")
    await page.wait_for_url(f"{live_server}/profile")
    await page.fill("#name", "nightly export")
    await page.click("#api-tokens button[type=submit]")
    secret = await page.locator("[data-testid=token-secret]").inner_text()
    assert secret.startswith("sdk_")

    await page.goto(f"{live_server}/profile")
    assert await page.locator("[data-testid=token-secret]").count() == 0  # shown once only
    row = page.locator("#api-tokens tbody tr", has_text="nightly export")
    assert "active" in await row.inner_text()
    await row.locator("button", has_text="Revoke").click()
    await page.wait_for_url(f"{live_server}/profile")
    assert "revoked" in await page.locator("#api-tokens tbody tr", has_text="nightly export").inner_text()
    assert browser_problems == []

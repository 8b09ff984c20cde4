"""A person signs in, sees the dashboard, and signs out, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest

from portal.domain.accounts.models import Role
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


async def test_sign_in_and_out(live_server: str, browser_page: Any, browser_problems: list[str], make_user) -> None:
    user = await make_user(Role.ANALYST)
    page = browser_page

    await page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")  # redirected, with next=/

    await page.fill("#email", user.email)
    await page.fill("#password", "wrong password here")
    await page.click("[data-testid=login-submit]")
    error = page.locator("[data-testid=login-error]")
    await error.wait_for()
    assert "don't match an active account" in await error.inner_text()

    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/")
    assert await page.locator("h1").first.inner_text() == "Operations dashboard"
    assert await page.locator("[data-testid=worker-status]").inner_text() == "No heartbeat yet"
    assert await page.evaluate("typeof window.htmx") == "object"  # loaded under the CSP

    # The HTMX refresh of the health panel goes through (GET with the CSRF header set on <body>).
    async with page.expect_response(lambda r: r.url.endswith("/dashboard/system-health")) as refreshed:
        await page.evaluate(
            "htmx.ajax('GET', '/dashboard/system-health', {target: '#system-health', swap: 'outerHTML'})"
        )
    assert (await refreshed.value).status == 200

    await page.click(".user-menu summary")
    await page.click("[data-testid=logout]")
    await page.wait_for_url(f"{live_server}/login?signed_out=1")
    assert "You have been signed out." in await page.locator("[data-testid=login-notice]").inner_text()

    await page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")
    assert browser_problems == []

"""Browser tests: Playwright driving Debian's Chromium against a real served socdesk."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from portal.app import create_app
from portal.config import Settings
from tests.serving import free_port, served

CHROMIUM = os.environ.get("SOCDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_missing_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="session")
def _require_browser() -> None:
    reason = _browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("SOCDESK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required (SOCDESK_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture
def live_server(settings: Settings, _require_browser: None) -> Iterator[str]:
    """socdesk served by uvicorn on a free loopback port, in a thread with its own event loop."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_url": base_url}))
    with served(app, what="socdesk", port=port) as url:
        yield url


@pytest.fixture
def browser_problems() -> list[str]:
    """Script errors, CSP violations and failed subresources seen by ``browser_page``."""
    return []


@pytest.fixture
async def browser_page(_require_browser: None, browser_problems: list[str]) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        # "Failed to load resource" also reports deliberate 4xx pages (a refused sign-in is a 401);
        # failed subresources are caught by the response listener below instead.
        page.on(
            "console",
            lambda message: (
                browser_problems.append(message.text)
                if message.type == "error" and not message.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda error: browser_problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                browser_problems.append(f"{response.status} {response.url}")
                # 422 is a form's validation answer, swapped in beside the fields: expected, not a fault.
                if response.status >= 400 and response.status != 422 and response.request.resource_type != "document"
                else None
            ),
        )
        try:
            yield page
        finally:
            await browser.close()

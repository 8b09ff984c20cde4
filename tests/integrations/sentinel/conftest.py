"""The browser fixtures (a served socdesk, a Chromium page) for this folder's end-to-end test."""

from tests.browser.conftest import _require_browser, browser_page, browser_problems, live_server

__all__ = ["_require_browser", "browser_page", "browser_problems", "live_server"]

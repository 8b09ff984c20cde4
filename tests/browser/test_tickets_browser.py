"""An analyst works a ticket in a real browser: filter the queue, open, note, close, find it closed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from tests.conftest import TEST_PASSWORD
from tests.domain.test_tickets_data import build_world, insert_ticket

pytestmark = pytest.mark.browser


async def test_analyst_filters_opens_notes_and_closes_a_ticket(
    live_server: str,
    browser_page: Any,
    browser_problems: list[str],
    make_user,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    analyst = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        world = await build_world(session)
        target = await insert_ticket(session, world, world.acme, summary="Suspicious PowerShell on ACME-WS001")
        await insert_ticket(session, world, world.acme, summary="Printer offline")
        await insert_ticket(session, world, world.globex, summary="Suspicious PowerShell on GLOB-SRV02")
    page = browser_page
    rows = page.locator("[data-testid=ticket-row]")

    await page.goto(f"{live_server}/login?next=/tickets")
    await page.fill("#email", analyst.email)
    await page.fill("#password", TEST_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_url(f"{live_server}/tickets")
    assert await rows.count() == 3

    # Live search: typing narrows the queue in place and the address follows.
    await page.fill("[data-testid=queue-search]", "powershell")
    await page.wait_for_url(f"{live_server}/tickets?q=powershell")
    await page.wait_for_function("document.querySelectorAll('[data-testid=ticket-row]').length === 2")
    assert await page.locator("[data-testid=tab-open] .tab-count").inner_text() == "2"
    assert await page.evaluate("document.activeElement.id") == "queue-q"  # typing can go on

    await page.select_option("[data-testid=filter-client]", str(world.acme.id))
    await page.wait_for_url(f"{live_server}/tickets?client={world.acme.id}&q=powershell")
    await page.wait_for_function("document.querySelectorAll('[data-testid=ticket-row]').length === 1")
    assert await page.input_value("[data-testid=queue-search]") == "powershell"

    await rows.first.locator("a.summary-link").click()
    await page.wait_for_url(f"{live_server}/tickets/{target.id}")
    assert await page.locator("[data-testid=ticket-summary]").inner_text() == target.summary

    await page.fill("[data-testid=note-body]", "Encoded command downloads a second stage.")
    await page.click("[data-testid=add-note]")
    note = page.locator("[data-testid=timeline-item][data-kind=note]")
    await note.wait_for()
    assert "Encoded command downloads a second stage." in await note.inner_text()
    assert await page.locator("[data-testid=first-response]").inner_text() != "—"

    await page.click("[data-testid=close-panel] summary")
    await page.select_option("[data-testid=close-classification]", "TruePositive")
    await page.select_option("[data-testid=close-reason]", "SuspiciousActivity")
    await page.fill("[data-testid=close-form] textarea[name=note]", "Host isolated and reimaged.")
    await page.click("[data-testid=close-submit]")
    await page.locator("[data-testid=reopen-form]").wait_for()
    assert await page.locator("[data-testid=classification]").inner_text() == "True positive · Suspicious activity"
    assert await page.locator("[data-testid=status-badge]").first.inner_text() == "Resolved"
    assert "Host isolated and reimaged." in await page.locator("[data-kind=closure]").inner_text()

    await page.goto(f"{live_server}/tickets")
    assert await rows.count() == 2  # the closed one left the open queue
    await page.click("[data-testid=tab-closed]")
    await page.wait_for_url(f"{live_server}/tickets?status=closed")
    await page.wait_for_function("document.querySelectorAll('[data-testid=ticket-row]').length === 1")
    assert await rows.first.get_attribute("data-number") == str(target.number)
    assert browser_problems == []

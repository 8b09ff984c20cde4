"""Ticket pages through the real app: queue, detail, forms, HTMX fragments, roles and scoping."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.tickets.models import Ticket, TicketAction
from tests.conftest import csrf_token, sign_in
from tests.domain.test_tickets_data import World, build_world, insert_ticket, limit_to, link_ticket

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver.local/tickets"}


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    async with session_scope(sessionmaker) as session:
        return await build_world(session)


async def _ticket(sessionmaker: async_sessionmaker[AsyncSession], world: World, **kwargs) -> Ticket:
    async with session_scope(sessionmaker) as session:
        return await insert_ticket(session, world, **kwargs)


async def _signed_in(client: AsyncTestClient[Litestar], make_user, role: Role = Role.ANALYST):
    user = await make_user(role)
    assert (await sign_in(client, user.email)).status_code == 303
    return user


async def _stored(sessionmaker: async_sessionmaker[AsyncSession], ticket_id: uuid.UUID) -> Ticket:
    async with sessionmaker() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _post(client: AsyncTestClient[Litestar], path: str, data: dict[str, str], **kwargs):
    token = await csrf_token(client, "/tickets")
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False, **kwargs)


def _rows(html: str) -> set[int]:
    return {int(number) for number in re.findall(r'data-testid="ticket-row" data-number="(\d+)"', html)}


# -- the queue ---------------------------------------------------------------------------------


async def test_queue_page_and_its_htmx_fragment(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user)
    phish = await _ticket(sessionmaker, world, summary="Phishing reported by Ana", priority=1)
    other = await _ticket(sessionmaker, world, client=world.globex, summary="Malware quarantined")

    page = await client.get("/tickets")
    assert page.status_code == 200
    assert "<html" in page.text
    assert 'id="ticket-queue"' in page.text
    assert _rows(page.text) == {phish.number, other.number}
    assert 'data-testid="tab-open"' in page.text
    assert "P1 - Critical" in page.text

    fragment = await client.get("/tickets?q=phish", headers=HTMX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="ticket-queue"')
    assert "<html" not in fragment.text
    assert _rows(fragment.text) == {phish.number}
    assert fragment.headers["HX-Push-Url"] == "/tickets?q=phish"
    assert "HX-Request" in fragment.headers["Vary"]


async def test_queue_filters_and_tabs_from_the_query_string(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    mine = await _ticket(sessionmaker, world, agent=analyst, summary="mine")
    loose = await _ticket(sessionmaker, world, summary="loose", asset=world.acme_asset)
    done = await _ticket(sessionmaker, world, status="Resolved", summary="done")
    theirs = await _ticket(sessionmaker, world, client=world.globex, summary="theirs")

    assert _rows((await client.get("/tickets?status=closed")).text) == {done.number}
    assert _rows((await client.get("/tickets?status=all")).text) == {
        mine.number,
        loose.number,
        done.number,
        theirs.number,
    }
    assert _rows((await client.get("/tickets?assigned=me")).text) == {mine.number}
    assert _rows((await client.get("/tickets?assigned=unassigned")).text) == {loose.number, theirs.number}
    assert _rows((await client.get(f"/tickets?client={world.globex.id}")).text) == {theirs.number}
    assert _rows((await client.get(f"/tickets?asset={world.acme_asset.id}")).text) == {loose.number}
    assert _rows((await client.get(f"/tickets?q=%23{theirs.number}")).text) == {theirs.number}
    # The empty values a plain form submits mean "any".
    assert len(_rows((await client.get("/tickets?client=&priority=&source=&assigned=&q=")).text)) == 3

    page = await client.get("/tickets?q=e&sort=priority&order=asc")  # every summary has an "e"
    # Tab links keep the other filters and the sort.
    assert 'href="/tickets?status=closed&amp;q=e&amp;sort=priority&amp;order=asc"' in page.text
    assert re.search(r'data-testid="tab-open">Open <span class="tab-count">3</span>', page.text)
    assert re.search(r'data-testid="tab-closed">Closed <span class="tab-count">1</span>', page.text)
    assert re.search(r'data-testid="quick-me">Assigned to me <span class="tab-count">1</span>', page.text)
    # The active sort column's header flips the order; others start at their natural order.
    assert 'href="/tickets?q=e&amp;sort=priority&amp;order=desc"' in page.text
    assert 'href="/tickets?q=e&amp;sort=client&amp;order=asc"' in page.text
    assert 'href="/tickets?q=e&amp;sort=number&amp;order=desc"' in page.text
    assert 'href="/tickets?q=e" hx-get="/tickets?q=e" data-testid="sort-updated_at"' in page.text  # the default


async def test_queue_rejects_malformed_filters(client, make_user, world) -> None:
    await _signed_in(client, make_user)
    for query in ("client=nope", "status=pending", "sort=colour", "assigned=someone", "updated_since=yesterday"):
        response = await client.get(f"/tickets?{query}")
        assert response.status_code == 422, query


async def test_queue_pages_forward_and_back(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user)
    async with session_scope(sessionmaker) as session:
        numbers = {(await insert_ticket(session, world)).number for _ in range(120)}
    seen: list[int] = []
    url = "/tickets?sort=number&order=asc"
    pages = []
    while url:
        page = await client.get(url)
        pages.append(page.text)
        seen.extend(sorted(_rows(page.text)))
        match = re.search(r'href="([^"]+)" hx-get="[^"]+" rel="next"', page.text)
        url = match.group(1).replace("&amp;", "&") if match else ""
    assert len(pages) == 3
    assert seen == sorted(numbers)
    previous = re.search(r'href="([^"]+)" hx-get="[^"]+" rel="prev"', pages[-1])
    assert previous
    back = await client.get(previous.group(1).replace("&amp;", "&"))
    assert sorted(_rows(back.text)) == seen[50:100]


async def test_embedded_queue_for_a_client_page(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user)
    acme = await _ticket(sessionmaker, world, summary="acme")
    await _ticket(sessionmaker, world, client=world.globex, summary="globex")
    headers = {"HX-Request": "true", "HX-Current-URL": f"http://testserver.local/clients/{world.acme.id}/tickets"}
    response = await client.get(f"/tickets?client={world.acme.id}&status=all", headers=headers)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="ticket-queue"')
    assert _rows(response.text) == {acme.number}
    assert 'data-testid="queue-filters"' not in response.text  # the host page is the context
    assert "HX-Push-Url" not in response.headers  # must not rewrite the client page's address
    assert f'href="/tickets?client={world.acme.id}&amp;status=all"' in response.text  # "open in queue"


async def test_a_limited_user_sees_only_their_clients(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    async with session_scope(sessionmaker) as session:
        await limit_to(session, analyst, world.acme)
    ours = await _ticket(sessionmaker, world, summary="Beacon ours")
    theirs = await _ticket(sessionmaker, world, client=world.globex, summary="Beacon theirs")

    page = await client.get("/tickets?status=all&q=beacon")
    assert _rows(page.text) == {ours.number}
    assert "Globex" not in page.text  # not even in the client filter
    assert re.search(r'data-testid="tab-all">All <span class="tab-count">1</span>', page.text)
    assert (await client.get(f"/tickets/{theirs.id}")).status_code == 404
    assert (await client.get(f"/tickets/{uuid.uuid4()}")).status_code == 404
    for path, data in [
        ("notes", {"body": "hi"}),
        ("assign", {"agent_id": "me"}),
        ("status", {"status_id": str(world.statuses["In Progress"].id)}),
        ("priority", {"priority_id": str(world.priorities[1].id)}),
        ("close", {"classification": "Undetermined"}),
        ("reopen", {}),
    ]:
        response = await _post(client, f"/tickets/{theirs.id}/{path}", data)
        assert response.status_code == 404, path
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(TicketAction)) == 2  # the two "created"


# -- viewers -----------------------------------------------------------------------------------


async def test_viewers_read_tickets_but_every_change_is_forbidden(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user, Role.VIEWER)
    ticket = await _ticket(sessionmaker, world, summary="Look only")
    page = await client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    assert "Look only" in page.text
    assert '<form method="post" action="/tickets/' not in page.text
    assert 'data-testid="new-ticket"' not in (await client.get("/tickets")).text
    assert (await client.get("/tickets/new")).status_code == 403
    token = await csrf_token(client, "/tickets")
    for path in ("notes", "assign", "status", "priority", "close", "reopen"):
        response = await client.post(f"/tickets/{ticket.id}/{path}", data={"_csrf_token": token, "body": "x"})
        assert response.status_code == 403, path
    create = await client.post(
        "/tickets",
        data={
            "_csrf_token": token,
            "client_id": str(world.acme.id),
            "ticket_type_id": str(world.types["Alert"].id),
            "summary": "x",
        },
    )
    assert create.status_code == 403
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(TicketAction)) == 1
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1


# -- creating ----------------------------------------------------------------------------------


async def test_create_a_manual_ticket(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    form = await client.get(f"/tickets/new?client_id={world.acme.id}")
    assert form.status_code == 200
    assert "Branch" in form.text  # the chosen client's sites
    assert "Acme-WS001".lower() in form.text.lower()  # and its assets
    response = await _post(
        client,
        "/tickets",
        {
            "client_id": str(world.acme.id),
            "site_id": str(world.acme_branch.id),
            "ticket_type_id": str(world.types["Service Request"].id),
            "summary": "Access review for finance",
            "details": "Quarterly.",
            "priority_id": str(world.priorities[4].id),
            "agent_id": str(analyst.id),
        },
    )
    assert response.status_code == 303
    async with sessionmaker() as session:
        ticket = (await session.scalars(select(Ticket))).one()
    assert response.headers["location"] == f"/tickets/{ticket.id}"
    assert (ticket.site_id, ticket.agent_id, ticket.priority_id) == (
        world.acme_branch.id,
        analyst.id,
        world.priorities[4].id,
    )
    detail = await client.get(response.headers["location"])
    assert "Access review for finance" in detail.text
    assert "Branch" in detail.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("site_id", "globex_main", "Choose one of this client&#39;s sites."),
        ("ticket_type_id", "unknown", "Choose a ticket type from the list."),
        ("ticket_type_id", "", "Choose a ticket type."),
        ("summary", "", "Say in a line what the ticket is about."),
        ("client_id", "", "Choose the client."),
    ],
)
async def test_create_errors_show_beside_the_field_and_write_nothing(
    client, make_user, sessionmaker, world, field, value, message
) -> None:
    await _signed_in(client, make_user)
    data = {
        "client_id": str(world.acme.id),
        "ticket_type_id": str(world.types["Alert"].id),
        "summary": "Odd sign-in",
    }
    data[field] = {"globex_main": str(world.globex_main.id), "unknown": str(uuid.uuid4())}.get(value, value)
    response = await _post(client, "/tickets", data)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    assert 'value="Odd sign-in"' in response.text or field == "summary"  # what was typed is kept
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert await session.scalar(select(func.count()).select_from(TicketAction)) == 0


async def test_create_reports_the_forms_and_the_services_problems_together(client, make_user, world) -> None:
    await _signed_in(client, make_user)
    response = await _post(
        client, "/tickets", {"client_id": str(world.acme.id), "ticket_type_id": "", "summary": "", "agent_id": "bad"}
    )
    assert response.status_code == 422
    for field in ("ticket_type_id", "summary", "agent_id"):
        assert f'id="{field}-error"' in response.text
    assert "Choose a ticket type.</p>" in response.text


async def test_create_for_a_client_outside_scope_is_not_found(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    async with session_scope(sessionmaker) as session:
        await limit_to(session, analyst, world.acme)
    response = await _post(
        client,
        "/tickets",
        {"client_id": str(world.globex.id), "ticket_type_id": str(world.types["Alert"].id), "summary": "x"},
    )
    assert response.status_code == 404


# -- working a ticket --------------------------------------------------------------------------


async def test_note_by_form_redirects_and_by_htmx_returns_the_detail(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user)
    ticket = await _ticket(sessionmaker, world)
    plain = await _post(client, f"/tickets/{ticket.id}/notes", {"body": "Host isolated.", "visibility": "internal"})
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/tickets/{ticket.id}"

    swapped = await _post(
        client, f"/tickets/{ticket.id}/notes", {"body": "Customer told.", "visibility": "external"}, headers=HTMX
    )
    assert swapped.status_code == 200
    assert swapped.text.lstrip().startswith('<div id="ticket-detail"')
    assert "Host isolated." in swapped.text
    assert "Customer told." in swapped.text
    stored = await _stored(sessionmaker, ticket.id)
    assert stored.first_response_at is not None


async def test_sync_to_source_is_offered_and_accepted_only_when_linked(client, make_user, sessionmaker, world) -> None:
    await _signed_in(client, make_user)
    ticket = await _ticket(sessionmaker, world)
    assert 'name="sync_to_source"' not in (await client.get(f"/tickets/{ticket.id}")).text
    refused = await _post(client, f"/tickets/{ticket.id}/notes", {"body": "hello", "sync_to_source": "1"}, headers=HTMX)
    assert refused.status_code == 422
    assert refused.text.lstrip().startswith('<div id="ticket-detail"')
    assert 'id="sync_to_source-error"' in refused.text
    assert "hello</textarea>" in refused.text  # the note is not lost

    async with session_scope(sessionmaker) as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None
        await link_ticket(session, stored, "INC-9001")
    page = await client.get(f"/tickets/{ticket.id}")
    assert 'name="sync_to_source"' in page.text
    assert "INC-9001" in page.text
    assert 'href="https://portal.example/incidents/INC-9001"' in page.text
    accepted = await _post(client, f"/tickets/{ticket.id}/notes", {"body": "hello", "sync_to_source": "on"})
    assert accepted.status_code == 303
    async with sessionmaker() as session:
        note = (await session.scalars(select(TicketAction).where(TicketAction.kind == "note"))).one()
        assert note.sync_to_source is True


async def test_assign_status_and_priority_forms(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    inactive = await make_user(Role.ANALYST, active=False)
    ticket = await _ticket(sessionmaker, world)

    assert (await _post(client, f"/tickets/{ticket.id}/assign", {"agent_id": "me"})).status_code == 303
    assert (await _stored(sessionmaker, ticket.id)).agent_id == analyst.id
    refused = await _post(client, f"/tickets/{ticket.id}/assign", {"agent_id": str(inactive.id)})
    assert refused.status_code == 422
    assert 'id="agent_id-error"' in refused.text
    assert (await _stored(sessionmaker, ticket.id)).agent_id == analyst.id

    in_progress = world.statuses["In Progress"].id
    assert (await _post(client, f"/tickets/{ticket.id}/status", {"status_id": str(in_progress)})).status_code == 303
    closing = await _post(client, f"/tickets/{ticket.id}/status", {"status_id": str(world.statuses["Resolved"].id)})
    assert closing.status_code == 422
    assert (await _stored(sessionmaker, ticket.id)).status_id == in_progress

    p1 = world.priorities[1].id
    swapped = await _post(client, f"/tickets/{ticket.id}/priority", {"priority_id": str(p1)}, headers=HTMX)
    assert swapped.status_code == 200
    assert "P1 - Critical" in swapped.text
    assert (await _stored(sessionmaker, ticket.id)).priority_id == p1

    page = await client.get(f"/tickets/{ticket.id}")
    for change in ("New</span> → <strong>In Progress", "P3 - Medium</span> → <strong>P1 - Critical"):
        assert change in page.text


async def test_close_and_reopen_through_the_forms(client, make_user, sessionmaker, world) -> None:
    analyst = await _signed_in(client, make_user)
    ticket = await _ticket(sessionmaker, world, type_name="Security Incident")

    refused = await _post(
        client,
        f"/tickets/{ticket.id}/close",
        {"classification": "BenignPositive", "classification_reason": "InaccurateData", "note": "Backup job."},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert 'id="classification_reason-error"' in refused.text
    assert 'id="custom_containment-error"' in refused.text
    assert "Backup job.</textarea>" in refused.text
    stored = await _stored(sessionmaker, ticket.id)
    assert (stored.closed_at, stored.classification) == (None, None)

    closed = await _post(
        client,
        f"/tickets/{ticket.id}/close",
        {
            "status_id": "",
            "classification": "TruePositive",
            "classification_reason": "SuspiciousActivity",
            "custom_containment": "Host isolated",
            "note": "Confirmed intrusion.",
        },
    )
    assert closed.status_code == 303
    stored = await _stored(sessionmaker, ticket.id)
    assert stored.status_id == world.statuses["Resolved"].id
    assert (stored.classification, stored.classification_reason) == ("TruePositive", "SuspiciousActivity")
    assert stored.custom_fields["containment"] == "Host isolated"
    page = await client.get(f"/tickets/{ticket.id}")
    assert 'data-testid="reopen-form"' in page.text
    assert 'data-testid="close-form"' not in page.text
    assert "True positive" in page.text

    reopened = await _post(client, f"/tickets/{ticket.id}/reopen", {"note": "Reinfected."}, headers=HTMX)
    assert reopened.status_code == 200
    assert 'data-testid="close-form"' in reopened.text
    stored = await _stored(sessionmaker, ticket.id)
    assert (stored.closed_at, stored.classification) == (None, None)
    async with sessionmaker() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.created_at))).all()
    assert [(e.action, e.actor_id) for e in entries] == [("ticket.close", analyst.id), ("ticket.reopen", analyst.id)]
    assert entries[0].after == {
        "status": "Resolved",
        "classification": "TruePositive",
        "classification_reason": "SuspiciousActivity",
    }
    assert entries[1].after == {"status": "New", "classification": None, "classification_reason": None}

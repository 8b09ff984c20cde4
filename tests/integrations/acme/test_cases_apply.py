"""Acme cases applied to tickets on the real database, read from the real emulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import OutboxMessage
from portal.domain.tickets import service
from portal.domain.tickets.models import Priority, Ticket, TicketAction, TicketType
from portal.integrations.acme.cases import AcmeApi, CasesHandler
from portal.integrations.acme.emulator.fixtures import case_id
from portal.integrations.acme.manifest import MANIFEST
from portal.integrations.base import Applied, LinkView, OutboundChange, RemoteItem, SyncTarget
from tests.domain.test_tickets_data import scope_of
from tests.integrations.acme.conftest import connection_view
from tests.sync.pages import ItemFailed, apply_page

IMPOSSIBLE_TRAVEL, MALWARE, PHISHING, ROLE = (case_id("contoso", number) for number in (1001, 1002, 1003, 1004))


@dataclass
class World:
    client: Client
    site: Site
    connection_id: uuid.UUID
    link_id: uuid.UUID
    target: SyncTarget
    priorities: dict[int, uuid.UUID]
    api: AcmeApi
    handler: CasesHandler

    def with_settings(self, **settings: object) -> World:
        assert self.target.link is not None
        link = LinkView(
            id=self.target.link.id,
            client_id=self.target.link.client_id,
            site_id=self.target.link.site_id,
            remote_scope=self.target.link.remote_scope,
            settings={**self.target.link.settings, **settings},
        )
        target = SyncTarget(connection=self.target.connection, link=link, entity=self.target.entity)
        return World(**{**self.__dict__, "target": target})


async def build_world(
    sessionmaker: async_sessionmaker[AsyncSession], acme, *, type_name: str = "Alert", **settings: object
) -> World:
    async with session_scope(sessionmaker) as session:
        client = Client(name="Contoso Ltd", reference="CON")
        session.add(client)
        await session.flush()
        site = Site(client_id=client.id, name="Head office", is_main=True)
        session.add(site)
        ticket_type = await session.scalar(select(TicketType).where(TicketType.name == type_name))
        assert ticket_type is not None
        priorities = {p.rank: p.id for p in (await session.scalars(select(Priority))).all()}
        mappings = {
            "ticket_type": str(ticket_type.id),
            "priority_high": str(priorities[2]),
            "priority_medium": str(priorities[3]),
            "priority_low": str(priorities[4]),
        }
        connection = Connection(vendor="acme", name="Acme", config={}, mappings=mappings, secrets_ciphertext="")
        session.add(connection)
        await session.flush()
        link = ClientLink(
            connection_id=connection.id,
            client_id=client.id,
            remote_scope="contoso",
            settings={"tenant": "contoso", **settings},
        )
        session.add(link)
        await session.flush()
    view = connection_view(connection.id, mappings=mappings, page_size=3)
    target = SyncTarget(
        connection=view,
        link=LinkView(id=link.id, client_id=client.id, site_id=None, remote_scope="contoso", settings=link.settings),
        entity=MANIFEST.entity("cases"),
    )
    return World(client, site, connection.id, link.id, target, priorities, acme.api(view), CasesHandler())


async def apply_items(sessionmaker, world: World, items: list[RemoteItem]) -> list[Applied]:
    """As the engine does: the page at once, in one transaction."""
    return await apply_page(sessionmaker, world.handler, world.target, items)


async def sync_all(sessionmaker, world: World) -> list[Applied]:
    results, token = [], None
    while True:
        page = await world.handler.fetch_page(world.api, world.target, None, token)
        assert not page.problems
        results += await apply_items(sessionmaker, world, list(page.items))
        if page.next_token is None:
            return results
        token = page.next_token


async def sync_one(sessionmaker, world: World, case: str) -> Applied:
    item = await world.handler.fetch_one(world.api, world.target, f"contoso/{case}")
    assert item is not None
    return (await apply_items(sessionmaker, world, [item]))[0]


async def ticket_for(sessionmaker, case: str) -> Ticket:
    async with sessionmaker() as session:
        link = await session.scalar(select(ExternalLink).where(ExternalLink.remote_id == f"contoso/{case}"))
        assert link is not None
        assert link.local_type == "ticket"
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.id == link.local_id)
            .options(selectinload(Ticket.status), selectinload(Ticket.priority))
        )
        assert isinstance(ticket, Ticket)
        return ticket


async def actions_of(sessionmaker, ticket: Ticket) -> list[TicketAction]:
    async with sessionmaker() as session:
        statement = (
            select(TicketAction)
            .where(TicketAction.ticket_id == ticket.id)
            .order_by(TicketAction.created_at, TicketAction.id)
        )
        return list((await session.scalars(statement)).all())


async def count(sessionmaker, model: type) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# -- creating ----------------------------------------------------------------------------------


async def test_the_first_sync_creates_a_ticket_per_case(sessionmaker, make_user, acme) -> None:
    senior = await make_user(Role.ANALYST, email="senior@demo.socdesk.test")
    world = await build_world(sessionmaker, acme)
    assert await sync_all(sessionmaker, world) == [Applied.CREATED] * 4

    travel = await ticket_for(sessionmaker, IMPOSSIBLE_TRAVEL)
    assert travel.summary == "Impossible travel for j.doe@contoso.example"
    assert travel.details.startswith(f"Acme case #1001: http://acme.test/ui/tenants/contoso/cases/{IMPOSSIBLE_TRAVEL}")
    assert travel.source == "acme"
    assert travel.client_id == world.client.id
    assert travel.site_id == world.site.id
    assert travel.priority.rank == 2  # high -> the mapped priority
    assert travel.agent_id == senior.id  # the assignee, matched by email
    assert travel.opened_at == acme.state.case(IMPOSSIBLE_TRAVEL).created_at
    actions = await actions_of(sessionmaker, travel)
    assert [(a.kind, a.external_author, a.author_id, a.body) for a in actions] == [
        ("created", "Acme", None, ""),
        ("note", "analyst@acme.test", None, "Sign-ins from Lisbon and Singapore 20 minutes apart."),
    ]
    role = await ticket_for(sessionmaker, ROLE)
    assert (role.priority.rank, role.agent_id) == (4, None)

    async with sessionmaker() as session:
        link = await session.scalar(select(ExternalLink).where(ExternalLink.local_id == travel.id))
        assert link is not None
        assert (link.remote_type, link.origin) == ("case", "remote")
        assert link.remote_url == f"http://acme.test/ui/tenants/contoso/cases/{IMPOSSIBLE_TRAVEL}"
        assert link.remote_modified_at == acme.state.case(IMPOSSIBLE_TRAVEL).modified_at
        assert link.fingerprint
        assert len(link.fingerprint) == 64
        comment_links = (
            await session.scalars(select(ExternalLink).where(ExternalLink.remote_type == "case_comment"))
        ).all()
        assert len(comment_links) == 3
        assert {link.local_type for link in comment_links} == {"ticket_action"}
        assert actions[1].id in {link.local_id for link in comment_links}


async def test_a_case_already_closed_arrives_as_a_closed_ticket(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    phishing = await ticket_for(sessionmaker, PHISHING)
    assert phishing.status.is_closed
    assert (phishing.classification, phishing.classification_reason) == ("TruePositive", "SuspiciousActivity")
    kinds = [(a.kind, a.external_author) for a in await actions_of(sessionmaker, phishing)]
    assert kinds == [
        ("created", "Acme"),
        ("note", "analyst@acme.test"),
        ("note", "soc@contoso.example"),
        ("closure", "Acme"),
    ]


async def test_syncing_again_changes_nothing(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    actions = await count(sessionmaker, TicketAction)
    assert await sync_all(sessionmaker, world) == [Applied.UNCHANGED] * 4
    assert await count(sessionmaker, TicketAction) == actions
    assert await count(sessionmaker, Ticket) == 4


async def test_comments_only_never_creates_tickets(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme, comments_only=True)
    assert await sync_all(sessionmaker, world) == [Applied.SKIPPED] * 4
    assert await count(sessionmaker, Ticket) == 0
    assert await count(sessionmaker, ExternalLink) == 0


async def test_a_missing_ticket_type_mapping_is_a_mapping_error(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    view = world.target.connection
    unmapped = type(view)(**{**view.__dict__, "mappings": {}})
    world = World(**{**world.__dict__, "target": SyncTarget(unmapped, world.target.link, world.target.entity)})
    item = await world.handler.fetch_one(world.api, world.target, f"contoso/{MALWARE}")
    assert item is not None
    with pytest.raises(ItemFailed, match="ticket type"):
        await apply_items(sessionmaker, world, [item])
    assert await count(sessionmaker, Ticket) == 0


# -- updating ----------------------------------------------------------------------------------


async def test_a_new_remote_comment_becomes_one_note(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    acme.state.clock.advance(60)
    acme.state.add_comment(acme.state.case(MALWARE), body="User confirmed the download.", author="bob@contoso.example")
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UNCHANGED
    notes = [a for a in await actions_of(sessionmaker, await ticket_for(sessionmaker, MALWARE)) if a.kind == "note"]
    assert [(n.body, n.external_author) for n in notes] == [("User confirmed the download.", "bob@contoso.example")]


async def test_severity_changes_follow_acme_but_do_not_undo_staff_changes(sessionmaker, make_user, acme) -> None:
    analyst = await make_user(Role.ANALYST)
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    travel = await ticket_for(sessionmaker, IMPOSSIBLE_TRAVEL)
    async with session_scope(sessionmaker) as session:
        await service.change_priority(session, scope_of(analyst), travel.id, world.priorities[1])

    acme.state.clock.advance(60)
    acme.state.add_comment(acme.state.case(IMPOSSIBLE_TRAVEL), body="More sign-ins.", author="analyst@acme.test")
    assert await sync_one(sessionmaker, world, IMPOSSIBLE_TRAVEL) == Applied.UPDATED
    assert (await ticket_for(sessionmaker, IMPOSSIBLE_TRAVEL)).priority.rank == 1  # the comment left it alone

    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(IMPOSSIBLE_TRAVEL), {"severity": "low"})
    assert await sync_one(sessionmaker, world, IMPOSSIBLE_TRAVEL) == Applied.UPDATED
    assert (await ticket_for(sessionmaker, IMPOSSIBLE_TRAVEL)).priority.rank == 4


async def test_closed_in_acme_closes_the_ticket_and_reopened_reopens_it(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    case = acme.state.case(MALWARE)
    acme.state.clock.advance(60)
    acme.state.update_case(
        case, {"status": "closed", "classification": "false_positive", "closingNote": "Known scanner."}
    )
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    closed = await ticket_for(sessionmaker, MALWARE)
    assert closed.status.is_closed
    assert (closed.classification, closed.classification_reason) == ("FalsePositive", "IncorrectAlertLogic")
    closure = (await actions_of(sessionmaker, closed))[-1]
    assert (closure.kind, closure.body, closure.external_author, closure.author_id) == (
        "closure",
        "Known scanner.",
        "Acme",
        None,
    )

    acme.state.clock.advance(60)
    acme.state.update_case(case, {"status": "active"})
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    reopened = await ticket_for(sessionmaker, MALWARE)
    assert not reopened.status.is_closed
    assert reopened.classification is None
    assert (await actions_of(sessionmaker, reopened))[-1].kind == "reopen"
    # The sync acts as the system: none of this goes back to Acme.
    assert await count(sessionmaker, OutboxMessage) == 0


async def test_a_closure_socdesk_cannot_make_alone_leaves_a_note_once(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme, type_name="Security Incident")  # "containment" due on close
    await sync_all(sessionmaker, world)
    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(MALWARE), {"status": "closed", "classification": "true_positive"})
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    ticket = await ticket_for(sessionmaker, MALWARE)
    assert not ticket.status.is_closed
    last = (await actions_of(sessionmaker, ticket))[-1]
    assert last.kind == "note"
    assert "cannot close this ticket by itself" in last.body
    assert "Containment action" in last.body
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UNCHANGED


async def test_a_title_change_updates_the_ticket_once(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(ROLE), {"title": "Global admin role assigned to a guest"})
    assert await sync_one(sessionmaker, world, ROLE) == Applied.UPDATED
    acme.state.clock.advance(60)
    acme.state.add_comment(acme.state.case(ROLE), body="Guest removed.", author="analyst@acme.test")
    assert await sync_one(sessionmaker, world, ROLE) == Applied.UPDATED
    ticket = await ticket_for(sessionmaker, ROLE)
    assert ticket.summary.endswith("Global admin role assigned to a guest")
    actions = await actions_of(sessionmaker, ticket)
    [change] = [a for a in actions if a.kind == "details_change"]
    assert change.external_author == "Acme"
    assert change.changes["summary"][1].endswith("Global admin role assigned to a guest")
    assert [a.body for a in actions if a.kind == "note"] == ["Guest removed."]


async def test_comments_only_imports_comments_but_not_changes(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    world = world.with_settings(comments_only=True)
    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(MALWARE), {"status": "closed", "severity": "low"})
    acme.state.add_comment(acme.state.case(MALWARE), body="Closing.", author="analyst@acme.test")
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    ticket = await ticket_for(sessionmaker, MALWARE)
    assert not ticket.status.is_closed
    assert ticket.priority.rank == 2
    assert (await actions_of(sessionmaker, ticket))[-1].body == "Closing."


async def test_an_older_read_never_overwrites_a_newer_one(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(MALWARE), {"status": "closed", "classification": "true_positive"})
    older = await world.handler.fetch_one(world.api, world.target, f"contoso/{MALWARE}")
    acme.state.clock.advance(60)
    acme.state.update_case(acme.state.case(MALWARE), {"status": "active"})
    assert await sync_one(sessionmaker, world, MALWARE) == Applied.UPDATED
    assert older is not None
    assert await apply_items(sessionmaker, world, [older]) == [Applied.UNCHANGED]
    assert not (await ticket_for(sessionmaker, MALWARE)).status.is_closed


async def test_socdesks_own_comment_is_recognised_not_imported(sessionmaker, make_user, acme) -> None:
    """The outbox crash window: the comment reached Acme, the delivery was never recorded."""
    analyst = await make_user(Role.ANALYST)
    world = await build_world(sessionmaker, acme)
    await sync_all(sessionmaker, world)
    travel = await ticket_for(sessionmaker, IMPOSSIBLE_TRAVEL)
    async with session_scope(sessionmaker) as session:
        note = await service.add_note(
            session, scope_of(analyst), travel.id, "Blocked the account.", sync_to_source=True
        )
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.ticket_action_id == note.id))
        assert message is not None
        change = OutboundChange(
            id=message.id,
            operation=message.operation,
            remote_type=message.remote_type,
            remote_id=message.remote_id,
            payload=dict(message.payload),
            idempotency_key=message.idempotency_key,
            ticket_id=message.ticket_id,
        )
    # Delivered to Acme, then the process died before mark_delivered.
    await world.api.client.put_comment(
        "contoso", IMPOSSIBLE_TRAVEL, str(change.idempotency_key), "Blocked the account.", analyst.email
    )
    assert await sync_one(sessionmaker, world, IMPOSSIBLE_TRAVEL) == Applied.UPDATED

    notes = [a for a in await actions_of(sessionmaker, travel) if a.kind == "note"]
    assert [n.body for n in notes] == ["Sign-ins from Lisbon and Singapore 20 minutes apart.", "Blocked the account."]
    async with sessionmaker() as session:
        stored = await session.get(OutboxMessage, change.id)
        assert stored is not None
        assert stored.status == "delivered"
        link = await session.scalar(select(ExternalLink).where(ExternalLink.remote_id == str(change.idempotency_key)))
        assert link is not None
        assert (link.local_id, link.origin) == (note.id, "local")


# -- reading pages -----------------------------------------------------------------------------


async def test_a_malformed_record_is_a_problem_and_the_page_goes_on(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    good = (await world.api.client.get_case("contoso", MALWARE)) | {}
    acme.state.faults.add(
        "malformed",
        path_prefix="/api/v1/tenants/contoso/cases",
        count=1,
        body={"value": [{**good, "id": "broken", "title": ""}, {"number": 7}, good], "nextCursor": None},
    )
    page = await world.handler.fetch_page(world.api, world.target, None, None)
    assert [item.remote_id for item in page.items] == [f"contoso/{MALWARE}"]
    assert [problem.remote_id for problem in page.problems] == [
        "contoso/broken",
        "contoso/(record 2 of the page has no id)",
    ]
    assert "no title" in page.problems[0].error
    assert page.items[0].data["comments"] == []  # comments are fetched with the case


async def test_fetch_page_passes_the_since_time_and_page_size(acme, sessionmaker) -> None:
    world = await build_world(sessionmaker, acme)
    since = acme.state.case(PHISHING).modified_at
    page = await world.handler.fetch_page(world.api, world.target, since, None)
    assert {item.remote_id for item in page.items} == {f"contoso/{PHISHING}", f"contoso/{ROLE}"}
    assert all(item.modified_at is not None and item.modified_at >= since for item in page.items)
    listing = [entry.url for entry in acme.recorder.entries if entry.url.split("?")[0].endswith("/cases")]
    assert "limit=3" in listing[0]
    assert "modifiedSince=" in listing[0]


async def test_comments_are_read_only_for_cases_that_have_some(acme, sessionmaker) -> None:
    world = await build_world(sessionmaker, acme)
    page = await world.handler.fetch_page(world.api, world.target, None, None)
    read = {entry.url.split("/cases/")[1].split("/")[0] for entry in acme.recorder.entries if "/comments" in entry.url}
    with_comments = {item.remote_id.split("/")[1] for item in page.items if item.data["comments"]}
    without = {item.remote_id.split("/")[1] for item in page.items if not item.data["comments"]}
    assert with_comments  # the seed has cases with comments, and they were read...
    assert with_comments <= read
    assert without  # ...and cases without any, whose comments were never asked for
    assert not without & read


async def test_fetch_one_only_answers_for_the_links_own_tenant(sessionmaker, acme) -> None:
    world = await build_world(sessionmaker, acme)
    fabrikam = case_id("fabrikam", 1001)
    assert await world.handler.fetch_one(world.api, world.target, f"fabrikam/{fabrikam}") is None
    assert await world.handler.fetch_one(world.api, world.target, "contoso/gone") is None
    assert await world.handler.fetch_one(world.api, world.target, "garbage") is None
    item = await world.handler.fetch_one(world.api, world.target, f"contoso/{PHISHING}")
    assert item is not None
    assert len(item.data["comments"]) == 2
    assert item.modified_at == acme.state.case(PHISHING).modified_at
    assert item.modified_at - acme.state.case(PHISHING).created_at == timedelta(minutes=20)

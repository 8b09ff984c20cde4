"""Sentinel incidents applied to tickets on the real database (items shaped like Microsoft's published ones)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

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
from portal.domain.tickets.models import Priority, Status, Ticket, TicketAction, TicketType
from portal.integrations.base import Applied, ConnectionView, LinkView, RemoteItem, SyncTarget
from portal.integrations.sentinel.incidents import IncidentsHandler
from portal.integrations.sentinel.manifest import MANIFEST
from portal.integrations.sentinel.mapping import Workspace
from tests.domain.test_tickets_data import scope_of
from tests.integrations.sentinel.support import example
from tests.sync.pages import apply_page

PUBLISHED = example("sentinel/incidents_get.json")["responses"]["200"]["body"]
COMMENT = example("sentinel/incident_comments_get.json")["responses"]["200"]["body"]
WORKSPACE = Workspace("7f3c2b1a-0000-4000-8000-00000000c0de", "sub-1", "rg-siem", "sentinel-ws")


def incident(
    name: str = "inc-1", *, modified: str = "2026-11-20T12:00:00.1234567Z", **properties: Any
) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(PUBLISHED)
    raw["name"] = name
    defaults = {
        "status": "New", "classification": None, "classificationReason": None, "classificationComment": None,
        "title": "Brute force on admin account",
    }  # fmt: skip
    raw["properties"].update({**defaults, "lastModifiedTimeUtc": modified, **properties})
    return raw


def comment(
    name: str, message: str, author: str = "Jane Analyst", created: str = "2026-11-20T11:00:00Z"
) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(COMMENT)
    raw["name"] = name
    raw["properties"].update(message=message, createdTimeUtc=created)
    raw["properties"]["author"] = {**raw["properties"]["author"], "name": author}
    return raw


def item(raw: dict[str, Any], comments: list[dict[str, Any]] | None = None) -> RemoteItem:
    from portal.integrations.sentinel.mapping import parse_time

    return RemoteItem(
        remote_type="incident",
        remote_id=WORKSPACE.incident_remote_id(raw["name"]),
        modified_at=parse_time(raw["properties"]["lastModifiedTimeUtc"]),
        data={"incident": raw, "comments": comments or []},
    )


@dataclass
class World:
    client_id: uuid.UUID
    connection_id: uuid.UUID
    target: SyncTarget
    priorities: dict[int, uuid.UUID]
    handler: IncidentsHandler

    def with_settings(self, **settings: object) -> World:
        assert self.target.link is not None
        link = LinkView(
            id=self.target.link.id, client_id=self.target.link.client_id, site_id=None,
            remote_scope=self.target.link.remote_scope, settings={**self.target.link.settings, **settings},
        )  # fmt: skip
        return World(**{**self.__dict__, "target": SyncTarget(self.target.connection, link, self.target.entity)})


async def build_world(sessionmaker: async_sessionmaker[AsyncSession], **settings: object) -> World:
    async with session_scope(sessionmaker) as session:
        client = Client(name="Fabrikam", reference="FAB")
        session.add(client)
        await session.flush()
        session.add(Site(client_id=client.id, name="Head office", is_main=True))
        ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
        assert ticket_type is not None
        ticket_type.custom_fields = [{"key": "tactics", "label": "Tactics", "kind": "text"}]
        priorities = {p.rank: p.id for p in (await session.scalars(select(Priority))).all()}
        mappings = {
            "ticket_type": str(ticket_type.id),
            "default_classification": "FalsePositive",
            "default_reason": "InaccurateData",
            "priority_High": str(priorities[2]),
            "priority_Medium": str(priorities[3]),
            "priority_Low": str(priorities[4]),
            "priority_Informational": str(priorities[4]),
            "match_owner": True,
            "custom_fields": [{"path": "properties.additionalData.tactics", "field": "tactics"}],
        }
        connection = Connection(vendor="sentinel", name="Sentinel", config={}, mappings=mappings, secrets_ciphertext="")
        session.add(connection)
        await session.flush()
        link_settings = {
            "tenant_id": WORKSPACE.tenant, "subscription_id": WORKSPACE.subscription,
            "resource_group": WORKSPACE.resource_group, "workspace_name": WORKSPACE.name, **settings,
        }  # fmt: skip
        link = ClientLink(
            connection_id=connection.id, client_id=client.id, remote_scope=WORKSPACE.scope, settings=link_settings
        )
        session.add(link)
        await session.flush()
    view = ConnectionView(connection.id, "sentinel", "Sentinel", {}, mappings, {})
    target = SyncTarget(
        connection=view,
        link=LinkView(
            id=link.id, client_id=client.id, site_id=None, remote_scope=WORKSPACE.scope, settings=link_settings
        ),
        entity=MANIFEST.entity("incidents"),
    )
    return World(client.id, connection.id, target, priorities, IncidentsHandler())


async def apply(sessionmaker: async_sessionmaker[AsyncSession], world: World, *items: RemoteItem) -> list[Applied]:
    return await apply_page(sessionmaker, world.handler, world.target, items)


async def ticket_for(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> Ticket:
    async with sessionmaker() as session:
        link = await session.scalar(
            select(ExternalLink).where(ExternalLink.remote_id == WORKSPACE.incident_remote_id(name))
        )
        assert link is not None
        ticket = await session.scalar(
            select(Ticket)
            .where(Ticket.id == link.local_id)
            .options(selectinload(Ticket.status), selectinload(Ticket.priority))
        )
        assert isinstance(ticket, Ticket)
        return ticket


async def actions_of(sessionmaker: async_sessionmaker[AsyncSession], ticket: Ticket) -> list[TicketAction]:
    async with sessionmaker() as session:
        statement = (
            select(TicketAction)
            .where(TicketAction.ticket_id == ticket.id)
            .order_by(TicketAction.created_at, TicketAction.id)
        )
        return list((await session.scalars(statement)).all())


async def test_a_new_incident_becomes_a_mapped_ticket(sessionmaker, make_user) -> None:
    owner = await make_user(Role.ANALYST, email="john.doe@contoso.com")
    world = await build_world(sessionmaker)
    assert await apply(sessionmaker, world, item(incident(), [comment("c-1", "Seen from 3 countries")])) == [
        Applied.CREATED
    ]
    ticket = await ticket_for(sessionmaker, "inc-1")
    assert ticket.summary == "Brute force on admin account"
    assert ticket.source == "sentinel"
    assert ticket.client_id == world.client_id
    assert ticket.priority.rank == 2  # High -> the mapped priority
    assert ticket.agent_id == owner.id  # the owner, matched by email
    assert ticket.custom_fields == {"tactics": "InitialAccess, Persistence"}
    assert "Sentinel incident #3177" in ticket.details
    assert "Incident id: inc-1" in ticket.details
    assert "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/" in ticket.details
    actions = await actions_of(sessionmaker, ticket)
    assert [(a.kind, a.external_author, a.body) for a in actions] == [
        ("created", "Microsoft Sentinel", ""),
        ("note", "Jane Analyst", "Seen from 3 countries"),
    ]
    async with sessionmaker() as session:
        link = await session.scalar(select(ExternalLink).where(ExternalLink.local_id == ticket.id))
        assert link is not None
        assert str(link.remote_url).startswith("https://portal.azure.com/")


async def test_owner_matched_by_name_when_no_email_matches(sessionmaker, make_user) -> None:
    named = await make_user(Role.ANALYST, email="jd@msp.example")
    async with session_scope(sessionmaker) as session:
        user = await session.get(type(named), named.id)
        assert user is not None
        user.display_name = "John Doe"
    world = await build_world(sessionmaker)
    await apply(sessionmaker, world, item(incident()))
    assert (await ticket_for(sessionmaker, "inc-1")).agent_id == named.id


async def test_changes_comments_closure_and_reopen_follow_sentinel(sessionmaker) -> None:
    world = await build_world(sessionmaker)
    await apply(sessionmaker, world, item(incident()))
    assert await apply(sessionmaker, world, item(incident())) == [Applied.UNCHANGED]

    changed = incident(modified="2026-11-20T12:05:00Z", severity="Low", title="Brute force (confirmed)")
    assert await apply(sessionmaker, world, item(changed, [comment("c-2", "Blocked the IP")])) == [Applied.UPDATED]
    ticket = await ticket_for(sessionmaker, "inc-1")
    assert (ticket.summary, ticket.priority.rank) == ("Brute force (confirmed)", 4)

    closed = incident(
        modified="2026-11-20T12:10:00Z", severity="Low", title="Brute force (confirmed)", status="Closed",
        classification="TruePositive", classificationReason="SuspiciousActivity",
        classificationComment="Attacker blocked",
    )  # fmt: skip
    await apply(sessionmaker, world, item(closed, [comment("c-2", "Blocked the IP")]))
    ticket = await ticket_for(sessionmaker, "inc-1")
    assert ticket.status.is_closed
    assert (ticket.classification, ticket.classification_reason) == ("TruePositive", "SuspiciousActivity")

    # An older read (the overlap window, a late webhook) never undoes the closure.
    assert await apply(sessionmaker, world, item(changed)) == [Applied.UNCHANGED]

    reopened = incident(
        modified="2026-11-20T12:20:00Z", severity="Low", title="Brute force (confirmed)", status="Active"
    )
    await apply(sessionmaker, world, item(reopened, [comment("c-2", "Blocked the IP")]))
    ticket = await ticket_for(sessionmaker, "inc-1")
    assert not ticket.status.is_closed
    kinds = [(a.kind, a.external_author) for a in await actions_of(sessionmaker, ticket)]
    assert kinds.count(("note", "Jane Analyst")) == 1  # the comment came in once
    assert ("closure", "Microsoft Sentinel") in kinds
    assert kinds[-1] == ("reopen", "Microsoft Sentinel")
    async with sessionmaker() as session:  # nothing the import did goes back to Sentinel
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_socdesk_s_own_comment_is_not_imported_back(sessionmaker, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    world = await build_world(sessionmaker)
    await apply(sessionmaker, world, item(incident()))
    ticket = await ticket_for(sessionmaker, "inc-1")
    async with session_scope(sessionmaker) as session:
        note = await service.add_note(session, scope_of(analyst), ticket.id, "Isolated the host", sync_to_source=True)
        message = await session.scalar(select(OutboxMessage).where(OutboxMessage.ticket_action_id == note.id))
        assert message is not None
        key = str(message.idempotency_key)
    # The relay wrote it as comment <key> and (say) died before recording it: the import recognises it.
    echoed = incident(modified="2026-11-20T12:05:00Z")
    await apply(sessionmaker, world, item(echoed, [comment(key, "Isolated the host\n\n— a (socdesk)")]))
    notes = [a for a in await actions_of(sessionmaker, ticket) if a.kind == "note"]
    assert [n.body for n in notes] == ["Isolated the host"]
    async with sessionmaker() as session:
        delivered = await session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == uuid.UUID(key)))
        assert delivered is not None
        assert delivered.status == "delivered"


async def test_only_import_comments_never_creates_tickets(sessionmaker, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    world = await build_world(sessionmaker)
    await apply(sessionmaker, world, item(incident("inc-linked")))
    quiet = world.with_settings(comments_only=True)
    assert await apply(sessionmaker, quiet, item(incident("inc-new"))) == [Applied.SKIPPED]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    linked = await ticket_for(sessionmaker, "inc-linked")
    async with session_scope(sessionmaker) as session:
        await service.change_priority(session, scope_of(analyst), linked.id, world.priorities[3])
    update = incident(
        "inc-linked", modified="2026-11-20T12:05:00Z", severity="Low", status="Closed",
        classification="Undetermined", title="Renamed in Sentinel",
    )  # fmt: skip
    assert await apply(sessionmaker, quiet, item(update, [comment("c-9", "From Sentinel")])) == [Applied.UPDATED]
    ticket = await ticket_for(sessionmaker, "inc-linked")
    # Only the comment came in: priority, title and status stay as socdesk has them.
    assert ticket.priority.rank == 3
    assert ticket.summary == "Brute force on admin account"
    assert not ticket.status.is_closed
    notes = [(a.body, a.external_author) for a in await actions_of(sessionmaker, ticket) if a.kind == "note"]
    assert notes == [("From Sentinel", "Jane Analyst")]


async def test_an_incident_closed_before_its_first_import_arrives_closed(sessionmaker) -> None:
    world = await build_world(sessionmaker)
    closed = incident(status="Closed", classification="BenignPositive", classificationReason="SuspiciousButExpected")
    await apply(sessionmaker, world, item(closed))
    ticket = await ticket_for(sessionmaker, "inc-1")
    assert ticket.status.is_closed
    assert (ticket.classification, ticket.classification_reason) == ("BenignPositive", "SuspiciousButExpected")


async def test_status_mapping_for_open_statuses(sessionmaker) -> None:
    world = await build_world(sessionmaker)
    async with sessionmaker() as session:
        open_statuses = (await session.scalars(select(Status).where(Status.is_closed.is_(False)))).all()
    active = open_statuses[-1]
    mapped = ConnectionView(
        world.target.connection.id, "sentinel", "Sentinel", {},
        {**world.target.connection.mappings, "status_Active": str(active.id)}, {},
    )  # fmt: skip
    world = World(**{**world.__dict__, "target": SyncTarget(mapped, world.target.link, world.target.entity)})
    await apply(sessionmaker, world, item(incident(status="Active")))
    assert (await ticket_for(sessionmaker, "inc-1")).status_id == active.id

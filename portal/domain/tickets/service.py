"""Tickets: creation, the detail view, and every change made to a ticket.

Staff in the portal and the vendor sync (an imported comment or closure) go through these same
functions, so the rules, the timeline and the audit log are the same whoever acts. An imported
action names its author in ``external_author`` and has no staff author.

Each change validates everything before it writes, records a ``TicketAction`` (with
``changes`` as ``{field: [before, after]}`` in words people read) and bumps ``updated_at``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.db.base import utcnow
from portal.domain import events
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.assets.models import Asset
from portal.domain.audit.service import changes, record
from portal.domain.clients.models import Client, Site
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.links.models import ExternalLink
from portal.domain.sync.outbox import record_ticket_change
from portal.domain.tickets import custom_fields
from portal.domain.tickets.classification import classification_errors
from portal.domain.tickets.models import (
    ActionKind,
    Priority,
    Status,
    Ticket,
    TicketAction,
    TicketSource,
    TicketType,
    Visibility,
)

MAX_SUMMARY = 500
MAX_BODY = 50_000
MAX_EXTERNAL_AUTHOR = 255


@dataclass(frozen=True)
class NewTicket:
    client_id: uuid.UUID
    ticket_type_id: uuid.UUID
    summary: str
    details: str = ""
    site_id: uuid.UUID | None = None  # None: the client's main site
    asset_id: uuid.UUID | None = None
    priority_id: uuid.UUID | None = None  # None: the type's default
    status_id: uuid.UUID | None = None  # None: the type's default
    agent_id: uuid.UUID | None = None
    source: TicketSource = TicketSource.MANUAL
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    opened_at: datetime | None = None  # an import keeps the remote creation time
    external_author: str | None = None  # an import names the system or person that raised it


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    actions: list[TicketAction]
    link: ExternalLink | None
    fields: list[custom_fields.FieldDefinition]


# -- choices for forms -------------------------------------------------------------------------


async def visible_clients(session: AsyncSession, access: Scope, *, active_only: bool = True) -> list[Client]:
    """The clients this user may see; new tickets go to active ones, the queue filters by any."""
    statement = select(Client).where(access.clients(Client.id)).order_by(Client.name)
    if active_only:
        statement = statement.where(Client.is_active.is_(True))
    return list((await session.scalars(statement)).all())


async def sites_by_client(
    session: AsyncSession, access: Scope, client_id: uuid.UUID | None = None
) -> dict[uuid.UUID, list[Site]]:
    """The sites of every visible client (or of one), main site first."""
    statement = select(Site).where(access.clients(Site.client_id)).order_by(Site.is_main.desc(), Site.name)
    if client_id is not None:
        statement = statement.where(Site.client_id == client_id)
    grouped: dict[uuid.UUID, list[Site]] = {}
    for site in (await session.scalars(statement)).all():
        grouped.setdefault(site.client_id, []).append(site)
    return grouped


async def client_assets(session: AsyncSession, access: Scope, client_id: uuid.UUID, *, limit: int = 500) -> list[Asset]:
    statement = (
        select(Asset)
        .where(Asset.client_id == client_id, access.clients(Asset.client_id))
        .order_by(Asset.name)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def ticket_types(session: AsyncSession) -> list[TicketType]:
    return list((await session.scalars(select(TicketType).order_by(TicketType.name))).all())


async def priorities(session: AsyncSession) -> list[Priority]:
    return list((await session.scalars(select(Priority).order_by(Priority.rank))).all())


async def statuses(session: AsyncSession) -> list[Status]:
    return list((await session.scalars(select(Status).order_by(Status.rank, Status.name))).all())


def _may_work_client(client_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    """SQL conditions: an active analyst or admin who can see the client."""
    return (
        User.is_active.is_(True),
        User.role.in_((Role.ANALYST.value, Role.ADMIN.value)),
        or_(
            User.all_clients.is_(True),
            exists().where(UserClient.user_id == User.id, UserClient.client_id == client_id),
        ),
    )


async def assignable_agents(session: AsyncSession, client_id: uuid.UUID | None = None) -> list[User]:
    """Staff who can take a ticket: of that client when given, else anyone active who works tickets."""
    conditions: tuple[ColumnElement[bool], ...] = (
        _may_work_client(client_id)
        if client_id is not None
        else (User.is_active.is_(True), User.role.in_((Role.ANALYST.value, Role.ADMIN.value)))
    )
    statement = select(User).where(*conditions).order_by(User.display_name, User.email)
    return list((await session.scalars(statement)).all())


# -- reading -----------------------------------------------------------------------------------


async def _load(session: AsyncSession, access: Scope, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket:
    statement = (
        select(Ticket)
        .where(Ticket.id == ticket_id, access.clients(Ticket.client_id))
        .options(
            selectinload(Ticket.client),
            selectinload(Ticket.site),
            selectinload(Ticket.asset),
            selectinload(Ticket.ticket_type).selectinload(TicketType.default_status),
            selectinload(Ticket.priority),
            selectinload(Ticket.status),
            selectinload(Ticket.agent),
        )
        # Relationships of a ticket already in the session may be stale after a change in this request.
        .execution_options(populate_existing=True)
    )
    if for_update:
        # Two people closing (or reopening) the same ticket at once must not both succeed.
        statement = statement.with_for_update(of=Ticket)
    ticket = await session.scalar(statement)
    if ticket is None:
        raise NotFoundError("ticket")
    return ticket


async def external_link(session: AsyncSession, ticket_id: uuid.UUID) -> ExternalLink | None:
    statement = (
        select(ExternalLink)
        .where(ExternalLink.local_type == "ticket", ExternalLink.local_id == ticket_id)
        .order_by(ExternalLink.created_at)
        .limit(1)
    )
    return await session.scalar(statement)


async def get_ticket(session: AsyncSession, access: Scope, ticket_id: uuid.UUID) -> TicketDetail:
    ticket = await _load(session, access, ticket_id)
    actions = (
        await session.scalars(
            select(TicketAction)
            .where(TicketAction.ticket_id == ticket.id)
            .options(selectinload(TicketAction.author))
            .order_by(TicketAction.occurred_at, TicketAction.created_at, TicketAction.id)
        )
    ).all()
    return TicketDetail(
        ticket=ticket,
        actions=list(actions),
        link=await external_link(session, ticket.id),
        fields=custom_fields.definitions(ticket.ticket_type.custom_fields),
    )


# -- shared checks -----------------------------------------------------------------------------


async def _agent_problem(session: AsyncSession, agent_id: uuid.UUID, client_id: uuid.UUID) -> User | str:
    agent = await session.scalar(select(User).where(User.id == agent_id, *_may_work_client(client_id)))
    if agent is None:
        return "Choose an active analyst or administrator who can see this client."
    return agent


def _external_author(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()[:MAX_EXTERNAL_AUTHOR]
    return value or None


def _record_action(
    session: AsyncSession,
    access: Scope,
    ticket: Ticket,
    kind: ActionKind,
    *,
    body: str = "",
    changes: dict[str, list[Any]] | None = None,
    external_author: str | None = None,
    visibility: Visibility = Visibility.INTERNAL,
    sync_to_source: bool = False,
) -> TicketAction:
    now = utcnow()
    author = _external_author(external_author)
    action = TicketAction(
        ticket_id=ticket.id,
        kind=kind.value,
        body=body,
        author_id=None if author else access.user_id,
        external_author=author,
        visibility=visibility.value,
        sync_to_source=sync_to_source,
        changes=changes or {},
        created_at=now,
        updated_at=now,
        occurred_at=now,
    )
    session.add(action)
    ticket.updated_at = now
    if kind is not ActionKind.CREATED:
        events.ticket_event(session, ticket, created=False)
    # The response clock stops at the first thing staff do, not at what a remote system does.
    if author is None and kind is not ActionKind.CREATED and ticket.first_response_at is None:
        ticket.first_response_at = now
    return action


def _label(ticket: Ticket) -> str:
    return f"#{ticket.number} {ticket.summary}"


# -- creating ----------------------------------------------------------------------------------


async def _build_ticket(session: AsyncSession, access: Scope, new: NewTicket) -> tuple[Ticket | None, dict[str, str]]:
    """The unsaved ticket, or None with every problem found (keyed by form field)."""
    client = await session.scalar(select(Client).where(Client.id == new.client_id, access.clients(Client.id)))
    if client is None:
        raise NotFoundError("client")

    errors: dict[str, str] = {}
    summary = new.summary.strip()
    if not summary:
        errors["summary"] = "Say in a line what the ticket is about."
    elif len(summary) > MAX_SUMMARY:
        errors["summary"] = f"Use at most {MAX_SUMMARY} characters."
    details = new.details.strip()
    if len(details) > MAX_BODY:
        errors["details"] = f"Use at most {MAX_BODY} characters."

    ticket_type = await session.get(TicketType, new.ticket_type_id)
    if ticket_type is None:
        errors["ticket_type_id"] = "Choose a ticket type from the list."

    if new.site_id is not None:
        site = await session.get(Site, new.site_id)
        if site is None or site.client_id != client.id:
            errors["site_id"] = "Choose one of this client's sites."
    else:
        site = await session.scalar(select(Site).where(Site.client_id == client.id, Site.is_main.is_(True)))
        if site is None:
            errors["site_id"] = "This client has no main site: choose a site."

    if new.asset_id is not None:
        asset = await session.get(Asset, new.asset_id)
        if asset is None or asset.client_id != client.id:
            errors["asset_id"] = "Choose one of this client's assets."

    if new.priority_id is not None and await session.get(Priority, new.priority_id) is None:
        errors["priority_id"] = "Choose a priority from the list."

    if new.status_id is not None:
        status = await session.get(Status, new.status_id)
        if status is None:
            errors["status_id"] = "Choose a status from the list."
        elif status.is_closed:
            errors["status_id"] = "A new ticket starts open; close it once it exists."

    if new.agent_id is not None:
        problem = await _agent_problem(session, new.agent_id, client.id)
        if isinstance(problem, str):
            errors["agent_id"] = problem

    values: dict[str, Any] = {}
    if ticket_type is not None:
        values, _, field_errors = custom_fields.clean_values(
            custom_fields.definitions(ticket_type.custom_fields), new.custom_fields
        )
        errors.update(field_errors)

    source = TicketSource.MANUAL
    try:
        source = TicketSource(new.source)
    except ValueError:
        errors["source"] = "Unknown source."

    if errors or ticket_type is None or site is None:
        return None, errors
    now = utcnow()
    ticket = Ticket(
        client_id=client.id,
        site_id=site.id,
        asset_id=new.asset_id,
        ticket_type_id=ticket_type.id,
        priority_id=new.priority_id or ticket_type.default_priority_id,
        status_id=new.status_id or ticket_type.default_status_id,
        agent_id=new.agent_id,
        summary=summary,
        details=details,
        source=source.value,
        custom_fields=values,
        opened_at=new.opened_at or now,
        created_at=now,
        updated_at=now,
    )
    return ticket, {}


async def new_ticket_errors(session: AsyncSession, access: Scope, new: NewTicket) -> dict[str, str]:
    """What ``create_ticket`` would refuse, writing nothing: for a form that found problems of its own."""
    access.require_ticket_work()
    return (await _build_ticket(session, access, new))[1]


async def create_ticket(session: AsyncSession, access: Scope, new: NewTicket) -> Ticket:
    access.require_ticket_work()
    ticket, errors = await _build_ticket(session, access, new)
    if ticket is None:
        raise ValidationError(errors)
    session.add(ticket)
    await session.flush()  # the number comes from the database
    _record_action(session, access, ticket, ActionKind.CREATED, external_author=new.external_author)
    await session.flush()
    events.ticket_event(session, ticket, created=True)
    return ticket


# -- changing ----------------------------------------------------------------------------------


async def _load_for_change(session: AsyncSession, access: Scope, ticket_id: uuid.UUID) -> Ticket:
    # Scope first: someone who may not see the ticket learns nothing, not even that a role is missing.
    ticket = await _load(session, access, ticket_id, for_update=True)
    access.require_ticket_work()
    return ticket


async def add_note(
    session: AsyncSession,
    access: Scope,
    ticket_id: uuid.UUID,
    body: str,
    *,
    visibility: Visibility | str = Visibility.INTERNAL,
    sync_to_source: bool = False,
    external_author: str | None = None,
) -> TicketAction:
    ticket = await _load_for_change(session, access, ticket_id)
    errors: dict[str, str] = {}
    body = body.strip()
    if not body:
        errors["body"] = "Write the note."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Use at most {MAX_BODY} characters."
    try:
        parsed_visibility = Visibility(visibility)
    except ValueError:
        errors["visibility"] = "Choose internal or external."
        parsed_visibility = Visibility.INTERNAL
    if sync_to_source and await external_link(session, ticket.id) is None:
        errors["sync_to_source"] = "This ticket did not come from a connected tool: there is nothing to sync to."
    if errors:
        raise ValidationError(errors)
    action = _record_action(
        session,
        access,
        ticket,
        ActionKind.NOTE,
        body=body,
        external_author=external_author,
        visibility=parsed_visibility,
        sync_to_source=sync_to_source,
    )
    await session.flush()
    if sync_to_source:
        await record_ticket_change(
            session, access, ticket.id, "comment", {"body": body, "author": access.label}, ticket_action_id=action.id
        )
    return action


async def assign(
    session: AsyncSession, access: Scope, ticket_id: uuid.UUID, agent_id: uuid.UUID | None
) -> TicketAction | None:
    """Give the ticket to an agent (None: unassign). Returns None when nothing changed."""
    ticket = await _load_for_change(session, access, ticket_id)
    agent: User | None = None
    if agent_id is not None:
        problem = await _agent_problem(session, agent_id, ticket.client_id)
        if isinstance(problem, str):
            raise ValidationError({"agent_id": problem})
        agent = problem
    if ticket.agent_id == agent_id:
        return None
    before = ticket.agent.display_name if ticket.agent else None
    ticket.agent = agent
    action = _record_action(
        session,
        access,
        ticket,
        ActionKind.ASSIGNMENT,
        changes={"agent": [before, agent.display_name if agent else None]},
    )
    await session.flush()
    return action


async def change_status(
    session: AsyncSession, access: Scope, ticket_id: uuid.UUID, status_id: uuid.UUID
) -> TicketAction | None:
    """Move an open ticket between open statuses, or a closed one between closed statuses.

    Crossing from open to closed goes through ``close`` (classification, audit) and back
    through ``reopen``. Returns None when nothing changed.
    """
    ticket = await _load_for_change(session, access, ticket_id)
    status = await session.get(Status, status_id)
    if status is None:
        raise ValidationError({"status_id": "Choose a status from the list."})
    if status.is_closed and not ticket.status.is_closed:
        raise ValidationError({"status_id": "Use Close to close the ticket: it asks for a classification."})
    if not status.is_closed and ticket.status.is_closed:
        raise ValidationError({"status_id": "Reopen the ticket to give it an open status."})
    if status.id == ticket.status_id:
        return None
    before = ticket.status.name
    ticket.status = status
    action = _record_action(
        session, access, ticket, ActionKind.STATUS_CHANGE, changes={"status": [before, status.name]}
    )
    await session.flush()
    # Vendors that track work in progress (SentinelOne's incident status) take it; others ignore it.
    initial = status.id == ticket.ticket_type.default_status_id
    await record_ticket_change(
        session,
        access,
        ticket.id,
        "status",
        {"status_id": str(status.id), "status": status.name, "closed": status.is_closed, "initial": initial},
        ticket_action_id=action.id,
    )
    return action


async def update_details(
    session: AsyncSession,
    access: Scope,
    ticket_id: uuid.UUID,
    *,
    summary: str | None = None,
    details: str | None = None,
    external_author: str | None = None,
) -> TicketAction | None:
    """Change the summary and/or details (an import follows the source's edits); None if nothing changed."""
    ticket = await _load_for_change(session, access, ticket_id)
    errors: dict[str, str] = {}
    new_summary = ticket.summary if summary is None else summary.strip()
    new_details = ticket.details if details is None else details.strip()
    if not new_summary:
        errors["summary"] = "Give the ticket a summary."
    elif len(new_summary) > MAX_SUMMARY:
        errors["summary"] = f"Use at most {MAX_SUMMARY} characters."
    if len(new_details) > MAX_BODY:
        errors["details"] = f"Use at most {MAX_BODY} characters."
    if errors:
        raise ValidationError(errors)
    changed: dict[str, list[Any]] = {}
    if new_summary != ticket.summary:
        changed["summary"] = [ticket.summary, new_summary]
        ticket.summary = new_summary
    if new_details != ticket.details:
        changed["details"] = ["(previous text)", "(new text)"]  # the timeline shows that it changed, not both texts
        ticket.details = new_details
    if not changed:
        return None
    action = _record_action(
        session, access, ticket, ActionKind.DETAILS_CHANGE, changes=changed, external_author=external_author
    )
    await session.flush()
    return action


async def change_priority(
    session: AsyncSession, access: Scope, ticket_id: uuid.UUID, priority_id: uuid.UUID
) -> TicketAction | None:
    ticket = await _load_for_change(session, access, ticket_id)
    priority = await session.get(Priority, priority_id)
    if priority is None:
        raise ValidationError({"priority_id": "Choose a priority from the list."})
    if priority.id == ticket.priority_id:
        return None
    before = ticket.priority.name
    ticket.priority = priority
    action = _record_action(
        session, access, ticket, ActionKind.PRIORITY_CHANGE, changes={"priority": [before, priority.name]}
    )
    await session.flush()
    await record_ticket_change(
        session,
        access,
        ticket.id,
        "priority",
        {"priority_id": str(priority.id), "priority": priority.name},
        ticket_action_id=action.id,
    )
    return action


async def default_closed_status(session: AsyncSession) -> Status | None:
    """The status a closure uses when none is chosen: the first resolved one ("Resolved")."""
    statement = (
        select(Status)
        .where(Status.is_closed.is_(True))
        .order_by(Status.is_resolved.desc(), Status.rank, Status.name)
        .limit(1)
    )
    return await session.scalar(statement)


def _closure_state(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status.name,
        "classification": ticket.classification,
        "classification_reason": ticket.classification_reason,
    }


async def _audit_ticket(
    session: AsyncSession, access: Scope, action: str, ticket: Ticket, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """The whole closure state, not only what changed: the log shows what a ticket was closed as, and from what."""
    await record(
        session,
        access,
        action,
        object_type="ticket",
        object_id=ticket.id,
        object_label=_label(ticket),
        client_id=ticket.client_id,
        before=before,
        after=after,
    )


async def close(
    session: AsyncSession,
    access: Scope,
    ticket_id: uuid.UUID,
    *,
    status_id: uuid.UUID | None = None,
    classification: str | None = None,
    classification_reason: str | None = None,
    note: str = "",
    custom_field_values: Mapping[str, Any] | None = None,
    external_author: str | None = None,
) -> TicketAction:
    """Close the ticket with a classification; ``custom_field_values`` fills fields due on close."""
    ticket = await _load_for_change(session, access, ticket_id)
    errors: dict[str, str] = {}
    if ticket.status.is_closed:
        raise ValidationError({"ticket": "The ticket is already closed."})

    status = await session.get(Status, status_id) if status_id else await default_closed_status(session)
    if status is None or not status.is_closed:
        errors["status_id"] = "Choose a closed status."

    parsed, reason, classification_problems = classification_errors(
        classification or None,
        classification_reason or None,
        required=ticket.ticket_type.classification_required_on_close,
    )
    errors.update(classification_problems)

    note = note.strip()
    if len(note) > MAX_BODY:
        errors["note"] = f"Use at most {MAX_BODY} characters."

    fields = custom_fields.definitions(ticket.ticket_type.custom_fields)
    values, cleared, field_errors = custom_fields.clean_values(fields, custom_field_values or {})
    errors.update(field_errors)
    merged = {key: value for key, value in ticket.custom_fields.items() if key not in cleared} | values
    for name, problem in custom_fields.missing_on_close(fields, merged).items():
        errors.setdefault(name, problem)

    if errors:
        raise ValidationError(errors)
    assert status is not None

    before = _closure_state(ticket)
    changed_fields = {
        custom_fields.input_name(key): [ticket.custom_fields.get(key), merged.get(key)]
        for key in sorted(set(ticket.custom_fields) | set(merged))
        if ticket.custom_fields.get(key) != merged.get(key)
    }
    ticket.status = status
    ticket.closed_at = utcnow()
    ticket.classification = parsed.value if parsed else None
    ticket.classification_reason = reason.value if reason else None
    ticket.custom_fields = merged
    after = _closure_state(ticket)
    action = _record_action(
        session,
        access,
        ticket,
        ActionKind.CLOSURE,
        body=note,
        changes=changes(before, after) | changed_fields,
        external_author=external_author,
    )
    await _audit_ticket(session, access, "ticket.close", ticket, before, after)
    await session.flush()
    await record_ticket_change(
        session,
        access,
        ticket.id,
        "close",
        {"classification": ticket.classification, "reason": ticket.classification_reason, "note": note},
        ticket_action_id=action.id,
    )
    return action


async def reopen(
    session: AsyncSession,
    access: Scope,
    ticket_id: uuid.UUID,
    *,
    note: str = "",
    external_author: str | None = None,
) -> TicketAction:
    """Reopen a closed ticket in its type's default status, clearing the closure."""
    ticket = await _load_for_change(session, access, ticket_id)
    if not ticket.status.is_closed:
        raise ValidationError({"ticket": "The ticket is open already."})
    note = note.strip()
    if len(note) > MAX_BODY:
        raise ValidationError({"note": f"Use at most {MAX_BODY} characters."})
    status = await session.get(Status, ticket.ticket_type.default_status_id)
    if status is None or status.is_closed:
        # A type whose default was set to a closed status must still reopen somewhere open.
        status = await session.scalar(select(Status).where(Status.is_closed.is_(False)).order_by(Status.rank).limit(1))
    if status is None:
        raise ValidationError({"ticket": "There is no open status to reopen into; an administrator must add one."})

    before = _closure_state(ticket)
    ticket.status = status
    ticket.closed_at = None
    ticket.classification = None
    ticket.classification_reason = None
    after = _closure_state(ticket)
    action = _record_action(
        session,
        access,
        ticket,
        ActionKind.REOPEN,
        body=note,
        changes=changes(before, after),
        external_author=external_author,
    )
    await _audit_ticket(session, access, "ticket.reopen", ticket, before, after)
    await session.flush()
    await record_ticket_change(session, access, ticket.id, "reopen", {"note": note}, ticket_action_id=action.id)
    return action

"""Many tickets created and changed at once, by an import: the ticket service's rules, set-based.

An import applies a page of remote records in one go. :class:`TicketBatch` takes the same
decisions as :mod:`portal.domain.tickets.service` (what a new ticket may be, what a closure
needs, what each change records on the timeline and in the audit log), but keeps every row
in memory and writes them with one multi-row statement per table in :meth:`TicketBatch.write`:
no per-row flush, no per-ticket query. Ids are made here, so nothing waits for the database
to learn one.

Only imports use it: every action is authored by the remote system or person
(``external_author``), never by staff, so nothing here queues a change back to a vendor and
the response clock (``first_response_at``) is never stopped by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import table_of, utcnow
from portal.db.bulk import insert_rows, update_rows
from portal.domain import events
from portal.domain.audit.models import AuditEntry
from portal.domain.audit.service import changes, jsonable
from portal.domain.lookups import PageLookups
from portal.domain.tickets import custom_fields
from portal.domain.tickets.classification import classification_errors
from portal.domain.tickets.models import ActionKind, Ticket, TicketAction, TicketSource, Visibility
from portal.domain.tickets.service import MAX_BODY, MAX_EXTERNAL_AUTHOR, MAX_SUMMARY, NewTicket

# Columns an import may change on an existing ticket (everything else is set once, at creation).
CHANGEABLE = (
    "summary", "details", "priority_id", "status_id", "agent_id", "closed_at", "classification",
    "classification_reason", "custom_fields", "updated_at",
)  # fmt: skip


@dataclass
class TicketState:
    """A ticket as the batch sees it: loaded (or made) once, changed in memory, written at the end."""

    id: uuid.UUID
    number: int | None  # None until a new ticket is written
    client_id: uuid.UUID
    site_id: uuid.UUID
    asset_id: uuid.UUID | None
    ticket_type_id: uuid.UUID
    priority_id: uuid.UUID
    status_id: uuid.UUID
    agent_id: uuid.UUID | None
    summary: str
    details: str
    custom_fields: dict[str, Any]
    closed_at: datetime | None
    classification: str | None
    classification_reason: str | None
    updated_at: datetime
    source: str = TicketSource.MANUAL.value
    opened_at: datetime | None = None
    new: bool = False
    changed: set[str] = field(default_factory=set)
    # When the source made the change being applied (its record's modification time): the
    # timeline shows changes when they happened there, not when socdesk read them.
    source_time: datetime | None = None

    @property
    def label(self) -> str:
        return f"#{self.number} {self.summary}"


_TICKET_COLUMNS = [f.name for f in fields(TicketState) if f.name not in ("new", "changed", "source_time")]


def _author(name: str) -> str:
    return name.strip()[:MAX_EXTERNAL_AUTHOR] or "socdesk"


class TicketBatch:
    def __init__(self, session: AsyncSession, lookups: PageLookups, *, actor_label: str) -> None:
        self.session = session
        self.lookups = lookups
        self.actor_label = actor_label  # who the audit log names: the vendor's system scope
        self.now = utcnow()
        self._tick = 0
        self._tickets: dict[uuid.UUID, TicketState] = {}
        self._actions: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self._audits: dict[uuid.UUID, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}

    # -- loading and making ----------------------------------------------------------------------

    async def load(self, ticket_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, TicketState]:
        """The tickets that still exist, locked for this transaction (staff may be changing them too)."""
        ticket_ids = list(ticket_ids)
        wanted = list(set(ticket_ids) - set(self._tickets))
        if wanted:
            columns = [getattr(Ticket, name) for name in _TICKET_COLUMNS]
            rows = await self.session.execute(
                select(*columns).where(Ticket.id.in_(wanted)).with_for_update(of=Ticket).order_by(Ticket.id)
            )
            for row in rows:
                state = TicketState(**dict(row._mapping))
                self._tickets[state.id] = state
        return {ticket_id: self._tickets[ticket_id] for ticket_id in ticket_ids if ticket_id in self._tickets}

    async def create(self, news: Sequence[NewTicket]) -> list[TicketState | dict[str, str]]:
        """Each new ticket, or the problems that stop it (keyed as the ticket form's fields are)."""
        main_sites = await self.lookups.main_sites({new.client_id for new in news})
        site_clients = await self.lookups.site_clients({new.site_id for new in news if new.site_id})
        asset_clients = await self.lookups.asset_clients({new.asset_id for new in news if new.asset_id})
        types = await self.lookups.ticket_types()
        statuses = await self.lookups.statuses()
        made: list[TicketState | dict[str, str]] = []
        for new in news:
            errors: dict[str, str] = {}
            if new.client_id not in main_sites:
                made.append({"client_id": "The client does not exist."})
                continue
            summary, details = new.summary.strip(), new.details.strip()
            if not summary:
                errors["summary"] = "Say in a line what the ticket is about."
            elif len(summary) > MAX_SUMMARY:
                errors["summary"] = f"Use at most {MAX_SUMMARY} characters."
            if len(details) > MAX_BODY:
                errors["details"] = f"Use at most {MAX_BODY} characters."
            ticket_type = types.get(new.ticket_type_id)
            if ticket_type is None:
                errors["ticket_type_id"] = "Choose a ticket type from the list."
            site_id = new.site_id or main_sites[new.client_id]
            if new.site_id is not None and site_clients.get(new.site_id) != new.client_id:
                errors["site_id"] = "Choose one of this client's sites."
            elif site_id is None:
                errors["site_id"] = "This client has no main site: choose a site."
            if new.asset_id is not None and asset_clients.get(new.asset_id) != new.client_id:
                errors["asset_id"] = "Choose one of this client's assets."
            if new.priority_id is not None and await self.lookups.priority(new.priority_id) is None:
                errors["priority_id"] = "Choose a priority from the list."
            if new.status_id is not None:
                status = statuses.get(new.status_id)
                if status is None:
                    errors["status_id"] = "Choose a status from the list."
                elif status.is_closed:
                    errors["status_id"] = "A new ticket starts open; close it once it exists."
            if new.agent_id is not None:
                agent = await self.lookups.agent(new.agent_id)
                if agent is None or not agent.works(new.client_id):
                    errors["agent_id"] = "Choose an active analyst or administrator who can see this client."
            values: dict[str, Any] = {}
            if ticket_type is not None:
                values, _, field_errors = custom_fields.clean_values(
                    custom_fields.definitions(ticket_type.custom_fields), new.custom_fields
                )
                errors.update(field_errors)
            try:
                source = TicketSource(new.source).value
            except ValueError:
                errors["source"] = "Unknown source."
            if errors or ticket_type is None or site_id is None:
                made.append(errors)
                continue
            state = TicketState(
                id=uuid.uuid4(),
                number=None,
                client_id=new.client_id,
                site_id=site_id,
                asset_id=new.asset_id,
                ticket_type_id=ticket_type.id,
                priority_id=new.priority_id or ticket_type.default_priority_id,
                status_id=new.status_id or ticket_type.default_status_id,
                agent_id=new.agent_id,
                summary=summary,
                details=details,
                custom_fields=values,
                closed_at=None,
                classification=None,
                classification_reason=None,
                updated_at=self.now,
                source=source,
                opened_at=new.opened_at or self.now,
                new=True,
            )
            self._tickets[state.id] = state
            # The source's creation time: the timeline starts where the vendor's record does.
            self._record(
                state, ActionKind.CREATED, author=new.external_author or self.actor_label, occurred_at=state.opened_at
            )
            made.append(state)
        return made

    def discard(self, state: TicketState) -> None:
        """Forget everything this batch was going to write for the ticket (its item failed)."""
        self._actions.pop(state.id, None)
        self._audits.pop(state.id, None)
        if state.new:
            self._tickets.pop(state.id, None)
        else:
            state.changed.clear()

    # -- changes -----------------------------------------------------------------------------------

    def _record(
        self,
        state: TicketState,
        kind: ActionKind,
        *,
        author: str,
        body: str = "",
        action_changes: dict[str, list[Any]] | None = None,
        occurred_at: datetime | None = None,
    ) -> uuid.UUID:
        # Actions made in one batch keep the order they were recorded in on the timeline.
        self._tick += 1
        at = self.now + timedelta(microseconds=self._tick)
        action_id = uuid.uuid4()
        self._actions.setdefault(state.id, []).append(
            {
                "id": action_id,
                "ticket_id": state.id,
                "kind": kind.value,
                "body": body,
                "author_id": None,
                "external_author": _author(author),
                "sync_to_source": False,
                "visibility": Visibility.INTERNAL.value,
                "changes": dict(action_changes or {}),
                "created_at": at,
                "updated_at": at,
                "occurred_at": occurred_at or state.source_time or at,
            }
        )
        if kind is not ActionKind.CREATED:
            self._set(state, updated_at=at)
        return action_id

    def _set(self, state: TicketState, **values: Any) -> None:
        for name, value in values.items():
            setattr(state, name, value)
            state.changed.add(name)

    def note(
        self, state: TicketState, body: str, *, author: str, occurred_at: datetime | None = None
    ) -> uuid.UUID | None:
        """A note (an imported comment is cut to what a note may hold, not refused); None if empty."""
        body = body.strip()[:MAX_BODY]
        if not body:
            return None
        return self._record(state, ActionKind.NOTE, author=author, body=body, occurred_at=occurred_at)

    async def change_priority(self, state: TicketState, priority_id: uuid.UUID, *, author: str) -> bool:
        priority = await self.lookups.priority(priority_id)
        if priority is None or priority.id == state.priority_id:
            return False
        before = await self.lookups.priority(state.priority_id)
        self._set(state, priority_id=priority.id)
        self._record(
            state, ActionKind.PRIORITY_CHANGE, author=author,
            action_changes={"priority": [before.name if before else None, priority.name]},
        )  # fmt: skip
        return True

    def update_details(self, state: TicketState, *, summary: str, details: str, author: str) -> bool:
        summary, details = summary.strip()[:MAX_SUMMARY], details.strip()[:MAX_BODY]
        changed: dict[str, list[Any]] = {}
        if summary and summary != state.summary:
            changed["summary"] = [state.summary, summary]
            self._set(state, summary=summary)
        if details != state.details:
            changed["details"] = ["(previous text)", "(new text)"]  # the timeline says that it changed, not both texts
            self._set(state, details=details)
        if not changed:
            return False
        self._record(state, ActionKind.DETAILS_CHANGE, author=author, action_changes=changed)
        return True

    async def assign(self, state: TicketState, agent_id: uuid.UUID, *, author: str) -> bool:
        """Give the ticket to an agent who works its client; False (nothing changed) otherwise."""
        agent = await self.lookups.agent(agent_id)
        if agent is None or not agent.works(state.client_id) or state.agent_id == agent.id:
            return False
        before = await self.lookups.agent(state.agent_id) if state.agent_id else None
        self._set(state, agent_id=agent.id)
        self._record(
            state, ActionKind.ASSIGNMENT, author=author,
            action_changes={"agent": [before.display_name if before else None, agent.display_name]},
        )  # fmt: skip
        return True

    async def change_status(self, state: TicketState, status_id: uuid.UUID, *, author: str) -> bool:
        """Move an open ticket to another open status; False when that is not such a move."""
        statuses = await self.lookups.statuses()
        status, current = statuses.get(status_id), statuses.get(state.status_id)
        if status is None or current is None or status.is_closed or current.is_closed or status.id == current.id:
            return False
        self._set(state, status_id=status.id)
        self._record(
            state, ActionKind.STATUS_CHANGE, author=author, action_changes={"status": [current.name, status.name]}
        )
        return True

    async def is_closed(self, state: TicketState) -> bool:
        status = (await self.lookups.statuses()).get(state.status_id)
        return bool(status and status.is_closed)

    async def _closure_state(self, state: TicketState) -> dict[str, Any]:
        status = (await self.lookups.statuses()).get(state.status_id)
        return {
            "status": status.name if status else None,
            "classification": state.classification,
            "classification_reason": state.classification_reason,
        }

    async def close(
        self, state: TicketState, *, classification: str | None, reason: str | None, note: str, author: str
    ) -> dict[str, str]:
        """Close with a classification; the problems that stop it (nothing is changed then)."""
        if await self.is_closed(state):
            return {"ticket": "The ticket is already closed."}
        ticket_type = (await self.lookups.ticket_types()).get(state.ticket_type_id)
        status = await self.lookups.default_closed_status()
        errors: dict[str, str] = {}
        if status is None:
            errors["status_id"] = "Choose a closed status."
        parsed, parsed_reason, problems = classification_errors(
            classification, reason, required=bool(ticket_type and ticket_type.classification_required_on_close)
        )
        errors.update(problems)
        fields_due = custom_fields.definitions(ticket_type.custom_fields if ticket_type else [])
        for name, problem in custom_fields.missing_on_close(fields_due, state.custom_fields).items():
            errors.setdefault(name, problem)
        if errors or status is None:
            return errors
        before = await self._closure_state(state)
        self._set(
            state, status_id=status.id, closed_at=self.now, classification=parsed.value if parsed else None,
            classification_reason=parsed_reason.value if parsed_reason else None,
        )  # fmt: skip
        after = await self._closure_state(state)
        body = note.strip()[:MAX_BODY]
        self._record(state, ActionKind.CLOSURE, author=author, body=body, action_changes=changes(before, after))
        self._audits.setdefault(state.id, []).append(("ticket.close", before, after))
        return {}

    async def reopen(self, state: TicketState, *, note: str, author: str) -> bool:
        """Reopen a closed ticket in its type's default status (or the first open one)."""
        if not await self.is_closed(state):
            return False
        statuses = await self.lookups.statuses()
        ticket_type = (await self.lookups.ticket_types()).get(state.ticket_type_id)
        status = statuses.get(ticket_type.default_status_id) if ticket_type else None
        if status is None or status.is_closed:
            status = await self.lookups.first_open_status()
        if status is None:
            return False
        before = await self._closure_state(state)
        self._set(state, status_id=status.id, closed_at=None, classification=None, classification_reason=None)
        after = await self._closure_state(state)
        self._record(
            state, ActionKind.REOPEN, author=author, body=note.strip()[:MAX_BODY], action_changes=changes(before, after)
        )
        self._audits.setdefault(state.id, []).append(("ticket.reopen", before, after))
        return True

    # -- writing -----------------------------------------------------------------------------------

    @property
    def touched(self) -> list[TicketState]:
        return [state for state in self._tickets.values() if state.new or state.changed]

    async def write(self) -> None:
        """Every pending row, one multi-row statement per table; one live event for the lot."""
        created = [state for state in self._tickets.values() if state.new]
        if created:
            rows = [
                {name: getattr(state, name) for name in _TICKET_COLUMNS if name != "number"}
                | {"created_at": self.now, "updated_at": self.now}
                for state in created
            ]
            numbers = await insert_rows(self.session, table_of(Ticket), rows, returning=("id", "number"))
            for ticket_id, number in numbers:
                self._tickets[ticket_id].number = number
        changed = [state for state in self._tickets.values() if not state.new and state.changed]
        if changed:
            # One statement for all of them: every changeable column is written, changed or not.
            await update_rows(
                self.session,
                table_of(Ticket),
                [{"id": state.id} | {name: getattr(state, name) for name in CHANGEABLE} for state in changed],
            )
        actions = [row for state_id in self._tickets for row in self._actions.get(state_id, [])]
        if actions:
            await insert_rows(self.session, table_of(TicketAction), actions)
        audits = [
            {
                "id": uuid.uuid4(),
                "actor_id": None,
                "actor_label": self.actor_label,
                "action": action,
                "object_type": "ticket",
                "object_id": str(state.id),
                "object_label": state.label[:500],
                "client_id": state.client_id,
                "before": jsonable(before),
                "after": jsonable(after),
            }
            for state in self._tickets.values()
            for action, before, after in self._audits.get(state.id, [])
        ]
        if audits:
            await insert_rows(self.session, table_of(AuditEntry), audits)
        touched = self.touched
        if touched:
            events.publish(
                self.session,
                events.Event(events.TICKETS, "tickets.imported", f"{len(touched)} tickets",
                             events.ids(*(state.client_id for state in touched))),
            )  # fmt: skip
        for state in self._tickets.values():
            state.new = False
            state.changed.clear()
        self._actions.clear()
        self._audits.clear()

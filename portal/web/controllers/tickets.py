"""Ticket pages: the queue, a ticket with its timeline and forms, and creating a manual ticket."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.tickets import classification, service
from portal.domain.tickets import sla as service_levels
from portal.domain.tickets.custom_fields import input_name
from portal.domain.tickets.models import TicketSource, Visibility
from portal.domain.tickets.queue import (
    Assigned,
    QueueFilters,
    QueueSort,
    SortColumn,
    StatusFilter,
    list_queue,
)
from portal.domain.tickets.sla import SlaFilter
from portal.web.forms import text, texts
from portal.web.guards import requires_ticket_work
from portal.web.pages import is_htmx, page

# Columns whose natural first click is "newest/most first"; the rest start A to Z.
_DESCENDING_FIRST = {SortColumn.OPENED_AT, SortColumn.UPDATED_AT, SortColumn.NUMBER}
SOURCE_LABELS = {
    TicketSource.MANUAL: "Manual",
    TicketSource.API: "API",
    TicketSource.SENTINEL: "Sentinel",
    TicketSource.SENTINELONE: "SentinelOne",
    TicketSource.KASEYA: "Kaseya VSA",
    TicketSource.VISIONONE: "Vision One",
    TicketSource.ACME: "Acme Cases",
}
SECURITY = "security"  # the source filter's "any connected tool": the incident and alert view
CLASSIFICATION_CHOICES = [(value.value, classification.label(value)) for value in classification.Classification]
REASON_CHOICES = [
    (reason.value, f"{classification.label(reason)} ({classification.label(parent).lower()})")
    for parent, reasons in classification.ALLOWED_REASONS.items()
    for reason in reasons
]


# -- the queue's URLs --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueLinks:
    """Builds queue URLs that keep every other filter, for tabs, sort headers and the pager."""

    filters: QueueFilters
    sort: QueueSort

    def params(self, filters: QueueFilters | None = None, sort: QueueSort | None = None) -> dict[str, str]:
        f = filters or self.filters
        s = sort or self.sort
        params: dict[str, str] = {}
        if f.client_id:
            params["client"] = str(f.client_id)
        if f.asset_id:
            params["asset"] = str(f.asset_id)
        if f.status is not StatusFilter.OPEN:
            params["status"] = f.status.value
        if f.priority_id:
            params["priority"] = str(f.priority_id)
        if f.source:
            params["source"] = f.source.value
        elif f.security:
            params["source"] = SECURITY
        if f.sla:
            params["sla"] = f.sla.value
        if f.assigned is not None:
            params["assigned"] = str(f.assigned)
        if f.q.strip():
            params["q"] = f.q.strip()
        if f.updated_since:
            params["updated_since"] = f.updated_since.isoformat()
        if s != QueueSort():
            params["sort"] = s.column.value
            params["order"] = "desc" if s.descending else "asc"
        return params

    def url(self, cursor: str | None = None, **changes: Any) -> str:
        if isinstance(changes.get("status"), str):
            changes["status"] = StatusFilter(changes["status"])
        if isinstance(changes.get("sla"), str):
            changes["sla"] = SlaFilter(changes["sla"])
        params = self.params(replace(self.filters, **changes) if changes else None)
        if cursor:
            params["cursor"] = cursor
        return "/tickets" + (f"?{urlencode(params)}" if params else "")

    def has_filters(self) -> bool:
        """Anything narrowing the queue besides the status tab."""
        return self.filters != QueueFilters(status=self.filters.status)

    def clear_url(self) -> str:
        return self.url(
            client_id=None,
            asset_id=None,
            priority_id=None,
            source=None,
            security=False,
            sla=None,
            assigned=None,
            q="",
            updated_since=None,
        )

    def sort_url(self, column: str) -> str:
        key = SortColumn(column)
        if key is self.sort.column:
            sort = QueueSort(key, not self.sort.descending)
        else:
            sort = QueueSort(key, key in _DESCENDING_FIRST)
        params = self.params(sort=sort)
        return "/tickets?" + urlencode(params) if params else "/tickets"

    def aria_sort(self, column: str) -> str:
        if SortColumn(column) is not self.sort.column:
            return "none"
        return "descending" if self.sort.descending else "ascending"

    def hidden_fields(self) -> dict[str, str]:
        """What the filter form does not show but must keep when it is submitted."""
        params = self.params()
        return {
            key: params[key] for key in ("asset", "status", "sort", "order", "updated_since", "sla") if key in params
        }


# -- parsing -----------------------------------------------------------------------------------


def _uuid(
    value: str | None, name: str, errors: dict[str, str], message: str = "Not a valid choice."
) -> uuid.UUID | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors[name] = message
        return None


def _parse_queue(
    *,
    client: str | None,
    asset: str | None,
    status: str | None,
    priority: str | None,
    source: str | None,
    assigned: str | None,
    q: str | None,
    updated_since: str | None,
    sort: str | None,
    order: str | None,
    sla: str | None = None,
) -> tuple[QueueFilters, QueueSort]:
    errors: dict[str, str] = {}
    try:
        status_filter = StatusFilter(status) if status else StatusFilter.OPEN
    except ValueError:
        errors["status"] = "Use open, closed or all."
        status_filter = StatusFilter.OPEN
    security = source == SECURITY
    try:
        source_filter = TicketSource(source) if source and not security else None
    except ValueError:
        errors["source"] = "Unknown source."
        source_filter = None
    try:
        sla_filter = SlaFilter(sla) if sla else None
    except ValueError:
        errors["sla"] = "Use breached or at_risk."
        sla_filter = None
    assigned_filter: Assigned | None = None
    if assigned in ("me", "unassigned"):
        assigned_filter = "me" if assigned == "me" else "unassigned"
    elif assigned:
        assigned_filter = _uuid(assigned, "assigned", errors, "Use me, unassigned or a user id.")
    since: datetime | None = None
    if updated_since:
        try:
            since = datetime.fromisoformat(updated_since.strip().replace("Z", "+00:00"))
        except ValueError:
            errors["updated_since"] = "Use an ISO 8601 date and time."
        else:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
    try:
        column = SortColumn(sort) if sort else SortColumn.UPDATED_AT
    except ValueError:
        errors["sort"] = "Unknown column."
        column = SortColumn.UPDATED_AT
    if order not in (None, "", "asc", "desc"):
        errors["order"] = "Use asc or desc."
    descending = order == "desc" if order in ("asc", "desc") else (sort is None or column in _DESCENDING_FIRST)
    filters = QueueFilters(
        client_id=_uuid(client, "client", errors),
        asset_id=_uuid(asset, "asset", errors),
        status=status_filter,
        priority_id=_uuid(priority, "priority", errors),
        source=source_filter,
        assigned=assigned_filter,
        q=(q or "").strip(),
        updated_since=since,
        security=security,
        sla=sla_filter,
    )
    if errors:
        raise ValidationError(errors, "The ticket filters in this link are not valid.")
    return filters, QueueSort(column, descending)


def _embedded(request: Request[Any, Any, Any]) -> bool:
    """The queue fragment was loaded into another page (a client's or an asset's tickets)."""
    if not is_htmx(request):
        return False
    current = urlsplit(request.headers.get("hx-current-url", "")).path.rstrip("/")
    return current != "/tickets"


# -- reading the ticket forms ------------------------------------------------------------------


def _checked(form: FormMultiDict, name: str) -> bool:
    return text(form, name).lower() in ("1", "on", "true", "yes")


def _custom_values(form: FormMultiDict) -> dict[str, str]:
    prefix = input_name("")
    return {name[len(prefix) :]: text(form, name) for name in form if name.startswith(prefix)}


def _form_uuid(form: FormMultiDict, name: str) -> uuid.UUID | None:
    """The id in field ``name``, None when it is empty; a malformed one is the form's error."""
    errors: dict[str, str] = {}
    value = _uuid(text(form, name), name, errors)
    if errors:
        raise ValidationError(errors)
    return value


def _required_uuid(form: FormMultiDict, name: str, missing: str) -> uuid.UUID:
    value = _form_uuid(form, name)
    if value is None:
        raise ValidationError({name: missing})
    return value


@dataclass(frozen=True)
class TicketPost:
    """A form posted to one ticket, with what every ticket form's handler needs to answer it."""

    request: Request[Any, Any, Any]
    session: AsyncSession
    access: Scope
    ticket_id: uuid.UUID
    form: FormMultiDict


async def _ticket_post(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    access: NamedDependency[Scope],
    ticket_id: FromPath[uuid.UUID],
) -> TicketPost:
    return TicketPost(request, db_session, access, ticket_id, await request.form())


# -- the controller ----------------------------------------------------------------------------


class TicketController(Controller):
    path = "/tickets"
    dependencies = {"posted": Provide(_ticket_post)}

    @get("/", name="tickets")
    async def queue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client: FromQuery[str | None] = None,
        asset: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        priority: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        assigned: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        updated_since: FromQuery[str | None] = None,
        sort: FromQuery[str | None] = None,
        order: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        sla: FromQuery[str | None] = None,
    ) -> Template:
        filters, queue_sort = _parse_queue(
            sla=sla,
            client=client,
            asset=asset,
            status=status,
            priority=priority,
            source=source,
            assigned=assigned,
            q=q,
            updated_since=updated_since,
            sort=sort,
            order=order,
        )
        result = await list_queue(db_session, access, filters, queue_sort, cursor)
        links = QueueLinks(filters, queue_sort)
        embedded = _embedded(request)
        response = page(
            request,
            "tickets/queue.html",
            partial="tickets/_queue.html",
            nav="tickets",
            queue=result,
            links=links,
            embedded=embedded,
            clients=await service.visible_clients(db_session, access, active_only=False),
            priorities=await service.priorities(db_session),
            agents=await service.assignable_agents(db_session),
            sources=SOURCE_LABELS,
            can_work=access.can_work_tickets,
            sla_state=service_levels.state,
            live_url=None if embedded or cursor else links.url(),
            now=utcnow(),
        )
        if is_htmx(request) and not embedded:
            # The address bar shows the canonical filters, not the raw form (no empty "client=&...").
            response.headers["HX-Push-Url"] = links.url(cursor=cursor)
        return response

    # -- creating ------------------------------------------------------------------------------

    async def _new_form(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        *,
        values: dict[str, str],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        clients = await service.visible_clients(db_session, access)
        client_id = _uuid(values.get("client_id"), "client_id", {})
        if client_id is not None and not any(client.id == client_id for client in clients):
            client_id = None
        sites = await service.sites_by_client(db_session, access, client_id)
        return page(
            request,
            "tickets/new.html",
            nav="tickets",
            clients=clients,
            selected_client=client_id,
            sites=sites,
            assets=await service.client_assets(db_session, access, client_id) if client_id else [],
            ticket_types=await service.ticket_types(db_session),
            priorities=await service.priorities(db_session),
            agents=await service.assignable_agents(db_session, client_id),
            values=values,
            errors=errors or {},
            status_code=status_code,
        )

    @get("/new", name="ticket_new", guards=[requires_ticket_work])
    async def new(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromQuery[str | None] = None,
        asset_id: FromQuery[str | None] = None,
    ) -> Template:
        values = {"client_id": client_id or "", "asset_id": asset_id or ""}
        return await self._new_form(request, db_session, access, values=values)

    @post("/", name="ticket_create", guards=[requires_ticket_work])
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
    ) -> Template | Redirect:
        form = await request.form()
        values = texts(
            form,
            "client_id",
            "site_id",
            "asset_id",
            "ticket_type_id",
            "summary",
            "details",
            "priority_id",
            "agent_id",
        )
        errors: dict[str, str] = {}
        client_id = _uuid(values["client_id"], "client_id", errors)
        ticket_type_id = _uuid(values["ticket_type_id"], "ticket_type_id", errors)
        new = service.NewTicket(
            client_id=client_id or uuid.UUID(int=0),
            # A nil id is no type: the service reports it beside the field with everything else.
            ticket_type_id=ticket_type_id or uuid.UUID(int=0),
            summary=values["summary"],
            details=values["details"],
            site_id=_uuid(values["site_id"], "site_id", errors),
            asset_id=_uuid(values["asset_id"], "asset_id", errors),
            priority_id=_uuid(values["priority_id"], "priority_id", errors),
            agent_id=_uuid(values["agent_id"], "agent_id", errors),
            custom_fields=_custom_values(form),
        )
        if not values["ticket_type_id"]:
            errors["ticket_type_id"] = "Choose a ticket type."
        try:
            if client_id is None:
                errors.setdefault("client_id", "Choose the client.")
                raise ValidationError(errors)
            if errors:
                # The form's own problems first; the service adds the rest without writing anything.
                raise ValidationError(await service.new_ticket_errors(db_session, access, new) | errors)
            ticket = await service.create_ticket(db_session, access, new)
        except ValidationError as exc:
            return await self._new_form(request, db_session, access, values=values, errors=exc.fields, status_code=422)
        return Redirect(path=f"/tickets/{ticket.id}", status_code=303)

    # -- one ticket ----------------------------------------------------------------------------

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        ticket_id: uuid.UUID,
        *,
        failed_form: str | None = None,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        detail = await service.get_ticket(db_session, access, ticket_id)
        all_statuses = await service.statuses(db_session)
        default_closed = await service.default_closed_status(db_session)
        return page(
            request,
            "tickets/detail.html",
            partial="tickets/_detail.html",
            nav="tickets",
            detail=detail,
            ticket=detail.ticket,
            can_work=access.can_work_tickets,
            priorities=await service.priorities(db_session),
            open_statuses=[s for s in all_statuses if not s.is_closed],
            closed_statuses=[s for s in all_statuses if s.is_closed],
            default_closed_id=default_closed.id if default_closed else None,
            agents=await service.assignable_agents(db_session, detail.ticket.client_id),
            classifications=CLASSIFICATION_CHOICES,
            reasons=REASON_CHOICES,
            classification_label=classification.label,
            sources=SOURCE_LABELS,
            failed_form=failed_form,
            errors=errors or {},
            values=values or {},
            now=utcnow(),
            status_code=status_code,
        )

    @get("/{ticket_id:uuid}", name="ticket_detail")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._detail(request, db_session, access, ticket_id)

    async def _submit(
        self, posted: TicketPost, form_name: str, apply: Callable[[], Awaitable[object]]
    ) -> Template | Redirect:
        """Run one ticket form: the refreshed ticket (or a redirect to it), or the form's errors."""
        try:
            await apply()
        except ValidationError as exc:
            values = {name: text(posted.form, name) for name in posted.form if name != "_csrf_token"}
            return await self._detail(
                posted.request,
                posted.session,
                posted.access,
                posted.ticket_id,
                failed_form=form_name,
                errors=exc.fields,
                values=values,
                status_code=422,
            )
        if is_htmx(posted.request):
            return await self._detail(posted.request, posted.session, posted.access, posted.ticket_id)
        return Redirect(path=f"/tickets/{posted.ticket_id}", status_code=303)

    @post("/{ticket_id:uuid}/notes", name="ticket_note", guards=[requires_ticket_work])
    async def add_note(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            return await service.add_note(
                posted.session,
                posted.access,
                posted.ticket_id,
                text(posted.form, "body"),
                visibility=text(posted.form, "visibility") or Visibility.INTERNAL,
                sync_to_source=_checked(posted.form, "sync_to_source"),
            )

        return await self._submit(posted, "note", apply)

    @post("/{ticket_id:uuid}/assign", name="ticket_assign", guards=[requires_ticket_work])
    async def assign(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            me = text(posted.form, "agent_id") == "me"
            agent_id = posted.access.user_id if me else _form_uuid(posted.form, "agent_id")
            return await service.assign(posted.session, posted.access, posted.ticket_id, agent_id)

        return await self._submit(posted, "assign", apply)

    @post("/{ticket_id:uuid}/status", name="ticket_status", guards=[requires_ticket_work])
    async def change_status(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            status_id = _required_uuid(posted.form, "status_id", "Choose a status.")
            return await service.change_status(posted.session, posted.access, posted.ticket_id, status_id)

        return await self._submit(posted, "status", apply)

    @post("/{ticket_id:uuid}/priority", name="ticket_priority", guards=[requires_ticket_work])
    async def change_priority(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            priority_id = _required_uuid(posted.form, "priority_id", "Choose a priority.")
            return await service.change_priority(posted.session, posted.access, posted.ticket_id, priority_id)

        return await self._submit(posted, "priority", apply)

    @post("/{ticket_id:uuid}/close", name="ticket_close", guards=[requires_ticket_work])
    async def close(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            return await service.close(
                posted.session,
                posted.access,
                posted.ticket_id,
                status_id=_form_uuid(posted.form, "status_id"),
                classification=text(posted.form, "classification") or None,
                classification_reason=text(posted.form, "classification_reason") or None,
                note=text(posted.form, "note"),
                custom_field_values=_custom_values(posted.form),
            )

        return await self._submit(posted, "close", apply)

    @post("/{ticket_id:uuid}/reopen", name="ticket_reopen", guards=[requires_ticket_work])
    async def reopen(self, posted: NamedDependency[TicketPost]) -> Template | Redirect:
        async def apply() -> object:
            note = text(posted.form, "note")
            return await service.reopen(posted.session, posted.access, posted.ticket_id, note=note)

        return await self._submit(posted, "reopen", apply)

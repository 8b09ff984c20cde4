"""/api/v1/tickets and their actions: the same domain rules as the pages, in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.listings import page_actions, page_tickets
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Ticket, TicketSource
from portal.domain.tickets.queue import QueueFilters, StatusFilter
from portal.web.api.params import Limit
from portal.web.api.schemas import ActionIn, ActionOut, CloseIn, PageOut, ReopenIn, TicketIn, TicketOut, TicketPatch


async def _ticket_out(session: AsyncSession, access: Scope, ticket_id: uuid.UUID) -> TicketOut:
    detail = await tickets.get_ticket(session, access, ticket_id)
    return TicketOut.model_validate(detail.ticket)


class TicketsApi(Controller):
    path = "/tickets"
    tags = ["tickets"]

    @get(
        "/",
        summary="List tickets",
        description="Oldest change first. Filters: client_id, status (open, closed, all), priority_id, source, "
        "agent_id, updated_since.",
    )
    async def list_tickets(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromQuery[uuid.UUID | None] = None,
        status: FromQuery[StatusFilter] = StatusFilter.ALL,
        priority_id: FromQuery[uuid.UUID | None] = None,
        source: FromQuery[TicketSource | None] = None,
        agent_id: FromQuery[uuid.UUID | None] = None,
        updated_since: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> PageOut[TicketOut]:
        filters = QueueFilters(
            client_id=client_id,
            status=status,
            priority_id=priority_id,
            source=source,
            assigned=agent_id,
            updated_since=updated_since,
        )
        result = await page_tickets(db_session, access, filters, limit=limit, cursor=cursor)
        items = [TicketOut.model_validate(row) for row in result.items]
        return PageOut[TicketOut](items=items, next_cursor=result.next_cursor)

    @get("/{ticket_id:uuid}", summary="Get a ticket")
    async def get_ticket(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], ticket_id: FromPath[uuid.UUID]
    ) -> TicketOut:
        return await _ticket_out(db_session, access, ticket_id)

    @post("/", summary="Create a ticket", description="Site, priority and status default from the client and type.")
    async def create_ticket(
        self, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope], data: JSONBody[TicketIn]
    ) -> TicketOut:
        ticket: Ticket = await tickets.create_ticket(
            db_session,
            access,
            tickets.NewTicket(
                client_id=data.client_id,
                ticket_type_id=data.ticket_type_id,
                summary=data.summary,
                details=data.details,
                site_id=data.site_id,
                asset_id=data.asset_id,
                priority_id=data.priority_id,
                status_id=data.status_id,
                agent_id=data.agent_id,
                source=TicketSource.API,
                custom_fields=data.custom_fields,
            ),
        )
        return await _ticket_out(db_session, access, ticket.id)

    @patch(
        "/{ticket_id:uuid}",
        summary="Change priority, status or agent",
        description="Closing and reopening have their own endpoints (classification, audit).",
    )
    async def update_ticket(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[TicketPatch],
    ) -> TicketOut:
        await tickets.get_ticket(db_session, access, ticket_id)  # 404 before any change
        if data.priority_id:
            await tickets.change_priority(db_session, access, ticket_id, data.priority_id)
        if data.status_id:
            await tickets.change_status(db_session, access, ticket_id, data.status_id)
        if data.agent_id or data.unassign:
            await tickets.assign(db_session, access, ticket_id, None if data.unassign else data.agent_id)
        return await _ticket_out(db_session, access, ticket_id)

    @get("/{ticket_id:uuid}/actions", summary="List a ticket's actions")
    async def list_actions(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
        cursor: FromQuery[str | None] = None,
        limit: Limit = 100,
    ) -> PageOut[ActionOut]:
        detail = await tickets.get_ticket(db_session, access, ticket_id)
        result = await page_actions(db_session, detail.ticket, limit=limit, cursor=cursor)
        items = [ActionOut.model_validate(row) for row in result.items]
        return PageOut[ActionOut](items=items, next_cursor=result.next_cursor)

    @post("/{ticket_id:uuid}/actions", summary="Add a note")
    async def add_note(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[ActionIn],
    ) -> ActionOut:
        action = await tickets.add_note(
            db_session, access, ticket_id, data.body, visibility=data.visibility, sync_to_source=data.sync_to_source
        )
        await db_session.refresh(action, ["author"])
        return ActionOut.model_validate(action)

    @post("/{ticket_id:uuid}/close", summary="Close a ticket", description="With a classification and reason.")
    async def close_ticket(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[CloseIn],
    ) -> TicketOut:
        await tickets.close(
            db_session,
            access,
            ticket_id,
            status_id=data.status_id,
            classification=data.classification,
            classification_reason=data.classification_reason,
            note=data.note,
            custom_field_values=data.custom_fields,
        )
        return await _ticket_out(db_session, access, ticket_id)

    @post("/{ticket_id:uuid}/reopen", summary="Reopen a closed ticket")
    async def reopen_ticket(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
        data: JSONBody[ReopenIn],
    ) -> TicketOut:
        await tickets.reopen(db_session, access, ticket_id, note=data.note)
        return await _ticket_out(db_session, access, ticket_id)

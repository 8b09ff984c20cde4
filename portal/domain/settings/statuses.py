"""Ticket statuses: the workflow's states, which of them close a ticket and which count as resolved."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.settings import reference_list
from portal.domain.settings.common import count, get_or_404
from portal.domain.settings.reference_list import ReferenceKind
from portal.domain.tickets.models import Status, Ticket, TicketType

MAX_NAME = 60
MAX_RANK = 1000


@dataclass(frozen=True)
class StatusInput:
    name: str
    is_closed: bool = False
    is_resolved: bool = False
    rank: int = 0


@dataclass(frozen=True)
class StatusRow:
    status: Status
    tickets: int
    ticket_types: int

    @property
    def in_use(self) -> bool:
        return bool(self.tickets or self.ticket_types)


def snapshot(status: Status) -> dict[str, Any]:
    return {
        "name": status.name,
        "is_closed": status.is_closed,
        "is_resolved": status.is_resolved,
        "rank": status.rank,
    }


STATUS = ReferenceKind(
    model=Status,
    name_column=Status.name,
    max_name=MAX_NAME,
    object_type="status",
    noun="status",
    snapshot=snapshot,
    used_by=((Ticket.status_id, "ticket"), (TicketType.default_status_id, "ticket type")),
)


async def list_statuses(session: AsyncSession, access: Scope) -> list[StatusRow]:
    access.require_admin()
    tickets, types = await reference_list.usage(session, STATUS)
    statuses = (await session.scalars(select(Status).order_by(Status.rank, Status.name))).all()
    return [StatusRow(s, tickets.get(s.id, 0), types.get(s.id, 0)) for s in statuses]


async def _validate(session: AsyncSession, data: StatusInput, existing: Status | None) -> str:
    errors: dict[str, str] = {}
    name = await reference_list.unique_name(session, STATUS, errors, data.name, existing.id if existing else None)
    # The database refuses this too (ck_statuses_resolved_implies_closed); say why before it does.
    if data.is_resolved and not data.is_closed:
        errors["is_resolved"] = "A resolved status must also be a closed one."
    if not 0 <= data.rank <= MAX_RANK:
        errors["rank"] = f"Use a rank from 0 to {MAX_RANK}."
    # Open tickets would become closed (or closed ones open) with no closure or reopen on record.
    if (
        existing is not None
        and data.is_closed != existing.is_closed
        and (tickets := await count(session, Ticket.status_id, existing.id))
    ):
        errors["is_closed"] = (
            f"{tickets} ticket{'' if tickets == 1 else 's'} {'is' if tickets == 1 else 'are'} in this status; "
            "whether it closes a ticket cannot change while tickets use it."
        )
    if "is_closed" not in errors and existing is not None and data.is_closed and not existing.is_closed:
        defaults = (
            await session.scalars(
                select(TicketType.name).where(TicketType.default_status_id == existing.id).order_by(TicketType.name)
            )
        ).all()
        if defaults:
            errors["is_closed"] = (
                f"New tickets of {', '.join(defaults)} start in this status, so it must stay open. "
                "Change those ticket types' default status first."
            )
    if errors:
        raise ValidationError(errors)
    return name


async def create_status(session: AsyncSession, access: Scope, data: StatusInput) -> Status:
    access.require_admin()
    name = await _validate(session, data, None)
    status = Status(name=name, is_closed=data.is_closed, is_resolved=data.is_resolved, rank=data.rank)
    return await reference_list.create(session, access, STATUS, status)


async def update_status(session: AsyncSession, access: Scope, status_id: uuid.UUID, data: StatusInput) -> Status:
    access.require_admin()
    status = await get_or_404(session, Status, status_id, "status")
    name = await _validate(session, data, status)
    async with reference_list.changing(session, access, STATUS, status):
        status.name = name
        status.is_closed = data.is_closed
        status.is_resolved = data.is_resolved
        status.rank = data.rank
    return status


async def delete_status(session: AsyncSession, access: Scope, status_id: uuid.UUID) -> None:
    access.require_admin()
    status = await get_or_404(session, Status, status_id, "status")
    await reference_list.delete(session, access, STATUS, status)

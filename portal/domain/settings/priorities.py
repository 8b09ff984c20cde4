"""Ticket priorities: an urgency rank (1 is the most urgent) and optional SLA targets in minutes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.settings import reference_list
from portal.domain.settings.common import get_or_404
from portal.domain.settings.reference_list import ReferenceKind
from portal.domain.tickets.models import Priority, Ticket, TicketType

MAX_NAME = 60
MAX_RANK = 1000
MAX_SLA_MINUTES = 10 * 365 * 24 * 60  # beyond ten years a target means nothing


@dataclass(frozen=True)
class PriorityInput:
    name: str
    rank: int
    sla_response_minutes: int | None = None
    sla_resolve_minutes: int | None = None


@dataclass(frozen=True)
class PriorityRow:
    priority: Priority
    tickets: int
    ticket_types: int

    @property
    def in_use(self) -> bool:
        return bool(self.tickets or self.ticket_types)


def snapshot(priority: Priority) -> dict[str, Any]:
    return {
        "name": priority.name,
        "rank": priority.rank,
        "sla_response_minutes": priority.sla_response_minutes,
        "sla_resolve_minutes": priority.sla_resolve_minutes,
    }


PRIORITY = ReferenceKind(
    model=Priority,
    name_column=Priority.name,
    max_name=MAX_NAME,
    object_type="priority",
    noun="priority",
    snapshot=snapshot,
    used_by=((Ticket.priority_id, "ticket"), (TicketType.default_priority_id, "ticket type")),
)


async def list_priorities(session: AsyncSession, access: Scope) -> list[PriorityRow]:
    access.require_admin()
    tickets, types = await reference_list.usage(session, PRIORITY)
    priorities = (await session.scalars(select(Priority).order_by(Priority.rank))).all()
    return [PriorityRow(p, tickets.get(p.id, 0), types.get(p.id, 0)) for p in priorities]


async def _validate(session: AsyncSession, data: PriorityInput, exclude: uuid.UUID | None) -> str:
    errors: dict[str, str] = {}
    name = await reference_list.unique_name(session, PRIORITY, errors, data.name, exclude)
    if not 1 <= data.rank <= MAX_RANK:
        errors["rank"] = f"Use a rank from 1 (most urgent) to {MAX_RANK}."
    else:
        clash = select(Priority.name).where(Priority.rank == data.rank)
        if exclude is not None:
            clash = clash.where(Priority.id != exclude)
        if (other := await session.scalar(clash)) is not None:
            errors["rank"] = f"Rank {data.rank} is already taken by “{other}”."
    for field in ("sla_response_minutes", "sla_resolve_minutes"):
        minutes = getattr(data, field)
        if minutes is not None and not 0 <= minutes <= MAX_SLA_MINUTES:
            errors[field] = f"Use 0 to {MAX_SLA_MINUTES} minutes, or leave it empty for no target."
    if errors:
        raise ValidationError(errors)
    return name


async def create_priority(session: AsyncSession, access: Scope, data: PriorityInput) -> Priority:
    access.require_admin()
    name = await _validate(session, data, None)
    priority = Priority(
        name=name,
        rank=data.rank,
        sla_response_minutes=data.sla_response_minutes,
        sla_resolve_minutes=data.sla_resolve_minutes,
    )
    return await reference_list.create(session, access, PRIORITY, priority)


async def update_priority(
    session: AsyncSession, access: Scope, priority_id: uuid.UUID, data: PriorityInput
) -> Priority:
    access.require_admin()
    priority = await get_or_404(session, Priority, priority_id, "priority")
    name = await _validate(session, data, priority.id)
    async with reference_list.changing(session, access, PRIORITY, priority):
        priority.name = name
        priority.rank = data.rank
        priority.sla_response_minutes = data.sla_response_minutes
        priority.sla_resolve_minutes = data.sla_resolve_minutes
    return priority


async def delete_priority(session: AsyncSession, access: Scope, priority_id: uuid.UUID) -> None:
    access.require_admin()
    priority = await get_or_404(session, Priority, priority_id, "priority")
    await reference_list.delete(session, access, PRIORITY, priority)

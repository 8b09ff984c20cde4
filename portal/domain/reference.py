"""Reference data every install starts with: priorities, statuses, ticket types, asset types.

Created once (by ``socdesk db upgrade`` and the demo); admins change them in Settings after that,
so this only fills what is missing and never overwrites.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.tickets.models import Priority, Status, TicketType

PRIORITIES = [
    # name, rank, SLA response minutes, SLA resolve minutes
    ("P1 - Critical", 1, 15, 240),
    ("P2 - High", 2, 60, 480),
    ("P3 - Medium", 3, 240, 1440),
    ("P4 - Low", 4, 480, 4320),
]
STATUSES = [
    # name, closed, resolved, rank
    ("New", False, False, 1),
    ("In Progress", False, False, 2),
    ("Waiting on Customer", False, False, 3),
    ("Resolved", True, True, 4),
    ("Closed", True, False, 5),
]
TICKET_TYPES = [
    # name, default priority rank, classification required on close, custom fields
    (
        "Security Incident",
        2,
        True,
        [
            {"key": "affected_users", "label": "Affected users", "kind": "number", "required_on_close": False},
            {"key": "containment", "label": "Containment action", "kind": "text", "required_on_close": True},
        ],
    ),
    ("Alert", 3, True, []),
    ("Service Request", 4, False, []),
]
ASSET_GROUPS = {
    "Endpoints": ["Workstation", "Laptop", "Server"],
    "Network": ["Firewall", "Switch", "Access Point"],
    "Cloud": ["Cloud Workload", "Other"],
}


async def ensure_reference_data(session: AsyncSession) -> None:
    if not await session.scalar(select(func.count()).select_from(Priority)):
        session.add_all(
            Priority(name=name, rank=rank, sla_response_minutes=response, sla_resolve_minutes=resolve)
            for name, rank, response, resolve in PRIORITIES
        )
    if not await session.scalar(select(func.count()).select_from(Status)):
        session.add_all(
            Status(name=name, is_closed=closed, is_resolved=resolved, rank=rank)
            for name, closed, resolved, rank in STATUSES
        )
    await session.flush()
    if not await session.scalar(select(func.count()).select_from(TicketType)):
        priorities = {p.rank: p for p in (await session.scalars(select(Priority))).all()}
        default_status = await session.scalar(select(Status).where(Status.is_closed.is_(False)).order_by(Status.rank))
        assert default_status is not None
        fallback = min(priorities)
        for name, rank, classification_required, fields in TICKET_TYPES:
            session.add(
                TicketType(
                    name=name,
                    default_priority_id=priorities.get(rank, priorities[fallback]).id,
                    default_status_id=default_status.id,
                    classification_required_on_close=classification_required,
                    custom_fields=fields,
                )
            )
    if not await session.scalar(select(func.count()).select_from(AssetGroup)):
        for group_name, type_names in ASSET_GROUPS.items():
            group = AssetGroup(name=group_name)
            session.add(group)
            await session.flush()
            session.add_all(AssetType(name=type_name, group_id=group.id) for type_name in type_names)
    await session.flush()

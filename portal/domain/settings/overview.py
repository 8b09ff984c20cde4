"""What the settings index shows about each section: how many of each thing there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.tickets.models import Priority, Status, TicketType


@dataclass(frozen=True)
class SettingsOverview:
    users: int
    active_users: int
    ticket_types: int
    priorities: int
    statuses: int
    asset_groups: int
    asset_types: int
    last_audit_at: datetime | None  # not a count: the log grows without bound


async def settings_overview(session: AsyncSession, access: Scope) -> SettingsOverview:
    access.require_admin()

    async def total(model: type[object]) -> int:
        return await session.scalar(select(func.count()).select_from(model)) or 0

    return SettingsOverview(
        users=await total(User),
        active_users=await session.scalar(select(func.count()).where(User.is_active.is_(True))) or 0,
        ticket_types=await total(TicketType),
        priorities=await total(Priority),
        statuses=await total(Status),
        asset_groups=await total(AssetGroup),
        asset_types=await total(AssetType),
        last_audit_at=await session.scalar(select(func.max(AuditEntry.created_at))),
    )

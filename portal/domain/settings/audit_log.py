"""Reading the audit log: newest first, filtered, a page at a time, with each entry's changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client

PAGE_SIZE = 50
ABSENT = "—"


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # a prefix: "priority" or "priority." matches every priority change
    object_type: str | None = None
    actor_id: uuid.UUID | None = None
    since: date | None = None  # both inclusive, whole days in UTC
    until: date | None = None

    @property
    def active(self) -> bool:
        return any(
            value is not None for value in (self.action, self.object_type, self.actor_id, self.since, self.until)
        )


@dataclass(frozen=True)
class Change:
    key: str
    before: str
    after: str


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    client_name: str | None
    changes: list[Change]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


@dataclass(frozen=True)
class AuditFilterOptions:
    object_types: list[str]
    actors: list[tuple[uuid.UUID, str]]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def query_audit_log(session: AsyncSession, access: Scope, filters: AuditFilter, page: int = 1) -> AuditPage:
    access.require_admin()
    page = max(page, 1)
    query = (
        select(AuditEntry, Client.name)
        .outerjoin(Client, Client.id == AuditEntry.client_id)
        # Entries about a client follow the client scope; settings and user changes have no client.
        .where(
            or_(AuditEntry.client_id.is_(None), access.clients(cast("ColumnElement[uuid.UUID]", AuditEntry.client_id)))
        )
    )
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action, autoescape=True))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.actor_id:
        query = query.where(AuditEntry.actor_id == filters.actor_id)
    if filters.since:
        query = query.where(AuditEntry.created_at >= _start_of(filters.since))
    if filters.until:
        query = query.where(AuditEntry.created_at < _start_of(filters.until + timedelta(days=1)))
    # One extra row says whether there is a next page without counting the whole log.
    query = (
        query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    found = (await session.execute(query)).all()
    entries = found[:PAGE_SIZE]
    names = await _client_names(session, [entry for entry, _ in entries])
    rows = [AuditRow(entry, client_name, diff(entry.before, entry.after, names)) for entry, client_name in entries]
    return AuditPage(rows=rows, page=page, has_next=len(found) > PAGE_SIZE)


async def audit_filter_options(session: AsyncSession, access: Scope) -> AuditFilterOptions:
    access.require_admin()
    object_types = (
        await session.scalars(select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type))
    ).all()
    actors = (await session.execute(select(User.id, User.email).order_by(User.email))).all()
    return AuditFilterOptions(object_types=list(object_types), actors=list(actors))


async def _client_names(session: AsyncSession, entries: list[AuditEntry]) -> dict[str, str]:
    """Names for the client ids that user changes record, so the diff reads "Acme", not a UUID."""
    ids: set[uuid.UUID] = set()
    for entry in entries:
        for values in (entry.before, entry.after):
            for raw in (values or {}).get("client_ids") or []:
                try:
                    ids.add(uuid.UUID(str(raw)))
                except ValueError:
                    continue
    if not ids:
        return {}
    found = (await session.execute(select(Client.id, Client.name).where(Client.id.in_(ids)))).all()
    return {str(client_id): name for client_id, name in found}


def diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None, names: dict[str, str] | None = None
) -> list[Change]:
    """The keys whose value differs, old → new; a create shows every value new, a delete every value gone."""
    before, after, names = before or {}, after or {}, names or {}
    changes: list[Change] = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key, ABSENT), after.get(key, ABSENT)
        shown_old, shown_new = _display(key, old, names), _display(key, new, names)
        if old != new and shown_old != shown_new:
            changes.append(Change(key, shown_old, shown_new))
    return changes


def _display(key: str, value: Any, names: dict[str, str]) -> str:
    if value is ABSENT or value is None:
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        if key == "client_ids":
            value = sorted(names.get(str(item), f"(deleted client {str(item)[:8]})") for item in value)
        return ", ".join(str(item) for item in value) if value else "none"
    return str(value)

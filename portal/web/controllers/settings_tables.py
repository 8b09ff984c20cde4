"""Priorities, statuses, asset groups and asset types: one table each, edited row by row.

Their routes are handled alike (see ``SettingsController``); an ``EditTable`` says what differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.settings import asset_types, priorities, statuses
from portal.web.controllers.settings_forms import asset_group_name, asset_type_input, priority_input, status_input

InputT = TypeVar("InputT")
TableContext = Callable[[AsyncSession, Scope], Awaitable[dict[str, Any]]]


class Named(Protocol):
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class EditTable(Generic[InputT]):
    """A table of reference data edited row by row, with an add form under it."""

    section: str  # its template is settings/<section>.html
    url: str
    title: str  # how messages name one: "Asset group “OT” added."
    context: TableContext  # what the template lists
    parse: Callable[[FormMultiDict], InputT]  # a field that does not parse raises ValidationError
    create: Callable[[AsyncSession, Scope, InputT], Awaitable[Named]]
    update: Callable[[AsyncSession, Scope, uuid.UUID, InputT], Awaitable[Named]]
    delete: Callable[[AsyncSession, Scope, uuid.UUID], Awaitable[None]]


def _rows(listing: Callable[[AsyncSession, Scope], Awaitable[Sequence[Any]]]) -> TableContext:
    async def context(db_session: AsyncSession, access: Scope) -> dict[str, Any]:
        return {"rows": await listing(db_session, access)}

    return context


async def _asset_types_context(db_session: AsyncSession, access: Scope) -> dict[str, Any]:
    groups = await asset_types.list_asset_groups(db_session, access)
    return {
        "rows": await asset_types.list_asset_types(db_session, access),
        "groups": [row.group for row in groups],  # each row, and the add form, picks one
    }


PRIORITIES = EditTable(
    section="priorities",
    url="/settings/priorities",
    title="Priority",
    context=_rows(priorities.list_priorities),
    parse=priority_input,
    create=priorities.create_priority,
    update=priorities.update_priority,
    delete=priorities.delete_priority,
)
STATUSES = EditTable(
    section="statuses",
    url="/settings/statuses",
    title="Status",
    context=_rows(statuses.list_statuses),
    parse=status_input,
    create=statuses.create_status,
    update=statuses.update_status,
    delete=statuses.delete_status,
)
ASSET_GROUPS = EditTable(
    section="asset_groups",
    url="/settings/asset-groups",
    title="Asset group",
    context=_rows(asset_types.list_asset_groups),
    parse=asset_group_name,
    create=asset_types.create_asset_group,
    update=asset_types.update_asset_group,
    delete=asset_types.delete_asset_group,
)
ASSET_TYPES = EditTable(
    section="asset_types",
    url="/settings/asset-types",
    title="Asset type",
    context=_asset_types_context,
    parse=asset_type_input,
    create=asset_types.create_asset_type,
    update=asset_types.update_asset_type,
    delete=asset_types.delete_asset_type,
)

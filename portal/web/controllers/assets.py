"""Asset pages: the list across the user's clients, one asset, its edit and status forms.

The list helpers here also serve the Assets tab of a client's page.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypedDict
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.assets.models import Asset, AssetType
from portal.domain.assets.service import (
    PAGE_SIZE,
    STATUSES,
    get_asset,
    list_asset_types,
    list_assets,
    set_asset_status,
    update_asset,
)
from portal.domain.clients.models import Client
from portal.domain.clients.service import client_choices, list_sites
from portal.domain.errors import ValidationError
from portal.web.forms import text, texts
from portal.web.pages import page

# Matches no row: a malformed id in a form is reported beside its field instead of being ignored.
_UNKNOWN = uuid.UUID(int=0)


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _form_uuid(value: object) -> uuid.UUID | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return _UNKNOWN


@dataclass(frozen=True)
class AssetFilters:
    """What an asset list is narrowed to, as read from (and written back to) its query string."""

    q: str = ""
    status: str = ""
    client_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    asset_type_id: uuid.UUID | None = None
    after: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        q: str | None = None,
        status: str | None = None,
        client: str | None = None,
        site: str | None = None,
        asset_type: str | None = None,
        after: str | None = None,
    ) -> AssetFilters:
        # A filter that makes no sense ("All" sends an empty value) is no filter.
        return cls(
            q=(q or "").strip(),
            status=status if status in STATUSES else "",
            client_id=_uuid_or_none(client),
            site_id=_uuid_or_none(site),
            asset_type_id=_uuid_or_none(asset_type),
            after=after or None,
        )

    @property
    def narrowed(self) -> bool:
        return bool(self.q or self.status or self.client_id or self.site_id or self.asset_type_id)

    def query(self) -> str:
        pairs = {
            "q": self.q,
            "status": self.status,
            "client": self.client_id,
            "site": self.site_id,
            "type": self.asset_type_id,
            "after": self.after,
        }
        return urlencode({key: str(value) for key, value in pairs.items() if value})


async def asset_list_context(
    session: AsyncSession, access: Scope, list_url: str, filters: AssetFilters, *, client: Client | None = None
) -> dict[str, Any]:
    """Everything ``assets/_list.html`` and the filter form need; ``client`` set on a client's Assets tab."""
    if client is not None:
        filters = replace(filters, client_id=client.id)
    result = await list_assets(
        session,
        access,
        client_id=filters.client_id,
        site_id=filters.site_id,
        q=filters.q,
        status=filters.status or None,
        asset_type_id=filters.asset_type_id,
        after=filters.after,
    )
    # The client is in the tab's URL path already; only the global list carries it in the query.
    link_filters = replace(filters, client_id=None) if client is not None else filters

    def url(after: str | None) -> str:
        query = replace(link_filters, after=after).query()
        return f"{list_url}?{query}" if query else list_url

    return {
        "assets_page": result,
        "filters": filters,
        "list_url": list_url,
        "first_url": url(None) if filters.after else None,
        "next_url": url(result.next_cursor) if result.next_cursor else None,
        "page_size": PAGE_SIZE,
        "show_client": client is None,
        "type_groups": type_groups(await list_asset_types(session)),
        "sites": [summary.site for summary in await list_sites(session, access, client.id)] if client else [],
        "clients": await client_choices(session, access) if client is None else [],
        "statuses": STATUSES,
    }


class AssetFields(TypedDict):
    """What staff edit on an asset, as ``create_asset`` and ``update_asset`` take it."""

    site_id: uuid.UUID | None
    asset_type_id: uuid.UUID | None
    name: str
    hostname: str
    serial: str
    device_uuid: str


@dataclass(frozen=True)
class AssetForm:
    """The asset form's fields, parsed; ``raw`` keeps what was typed, to show again beside errors."""

    fields: AssetFields
    raw: dict[str, str]

    @classmethod
    def read(cls, form: FormMultiDict) -> AssetForm:
        raw = texts(form, "site_id", "asset_type_id", "name", "hostname", "serial", "device_uuid", "status")
        fields = AssetFields(
            site_id=_form_uuid(raw["site_id"]),
            asset_type_id=_form_uuid(raw["asset_type_id"]),
            name=raw["name"],
            hostname=raw["hostname"],
            serial=raw["serial"],
            device_uuid=raw["device_uuid"],
        )
        return cls(fields, raw)


def type_groups(asset_types: list[AssetType]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Asset types as (group, [(id, name)]) for an <optgroup> picker; the input is sorted by group."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for asset_type in asset_types:
        groups.setdefault(asset_type.group.name, []).append((str(asset_type.id), asset_type.name))
    return list(groups.items())


def imported_fields(asset: Asset) -> list[tuple[str, str]]:
    """The vendor's fields as sorted key/value text; nested values as compact JSON."""
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))
        for key, value in sorted((asset.fields or {}).items())
    ]


class AssetController(Controller):
    path = "/assets"

    @get("/", name="assets")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        q: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        client: FromQuery[str | None] = None,
        asset_type: Annotated[str | None, QueryParameter(name="type")] = None,
        after: FromQuery[str | None] = None,
    ) -> Template:
        filters = AssetFilters.parse(q=q, status=status, client=client, asset_type=asset_type, after=after)
        listing = await asset_list_context(db_session, access, "/assets", filters)
        return page(request, "assets/index.html", partial="assets/_list.html", nav="clients", **listing)

    async def _show(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        asset_id: uuid.UUID,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        asset = await get_asset(db_session, access, asset_id)
        can_edit = access.can_work_tickets
        return page(
            request,
            "assets/show.html",
            nav="clients",
            status_code=status_code,
            asset=asset,
            fields=imported_fields(asset),
            can_edit=can_edit,
            sites=[summary.site for summary in await list_sites(db_session, access, asset.client_id)]
            if can_edit
            else [],
            type_groups=type_groups(await list_asset_types(db_session)) if can_edit else [],
            values=values,
            errors=errors or {},
        )

    @get("/{asset_id:uuid}", name="asset")
    async def show(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._show(request, db_session, access, asset_id)

    @post("/{asset_id:uuid}", name="asset_update")
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = AssetForm.read(await request.form())
        try:
            asset = await update_asset(db_session, access, asset_id, **form.fields)
        except ValidationError as exc:
            return await self._show(
                request, db_session, access, asset_id, values=form.raw, errors=exc.fields, status_code=422
            )
        flash(request, f"Asset “{asset.name}” saved.", category="success")
        return Redirect(path=f"/assets/{asset.id}", status_code=303)

    @post("/{asset_id:uuid}/status", name="asset_status")
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_id: FromPath[uuid.UUID],
    ) -> Redirect:
        form = await request.form()
        asset = await set_asset_status(db_session, access, asset_id, text(form, "status"))
        flash(request, f"Asset “{asset.name}” is now {asset.status}.", category="success")
        return Redirect(path=f"/assets/{asset.id}", status_code=303)

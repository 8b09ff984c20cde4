"""SentinelOne connections' Customers tab (administrators only): the account/site ↔ client mapping table,
the matching method, and the "Import customers" / "Import sites" buttons.

The table reads SentinelOne live (accounts and sites nobody mapped are listed); the imports run
here, in the request, because they are small and the person waits for their outcome.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.clients.service import client_choices
from portal.domain.errors import ValidationError
from portal.domain.integrations import client_links, service
from portal.domain.integrations.models import Connection
from portal.domain.sync.connector import SyncRuntime, open_connection
from portal.integrations.errors import VendorError
from portal.integrations.sentinelone import customers
from portal.integrations.sentinelone.client import SentinelOneApi
from portal.web.controllers.integrations import connection_tab, connection_url
from portal.web.controllers.integrations_forms import site_options
from portal.web.controllers.settings_forms import uuid_or_none
from portal.web.forms import text
from portal.web.guards import requires_admin

AnyRequest = Request[Any, Any, Any]
TAB = "sentinelone_customers"


def customers_url(connection_id: uuid.UUID) -> str:
    return connection_url(connection_id, "customers")


async def _sentinelone(db_session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> Connection:
    connection = await service.get_connection(db_session, access, connection_id)
    if connection.vendor != "sentinelone":
        raise ValidationError({"vendor": "This page is for SentinelOne connections."})
    return connection


def _api(runtime: SyncRuntime, connection: Connection) -> SentinelOneApi:
    api = open_connection(runtime, connection).api
    assert isinstance(api, SentinelOneApi)
    return api


def as_submitted(mappings: dict[str, Any]) -> dict[str, str]:
    """Stored mappings as their form would submit them (tables as ``<key>.<row>.<column>`` cells)."""
    submitted: dict[str, str] = {}
    for key, value in mappings.items():
        if isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    submitted |= {f"{key}.{index}.{column}": str(cell) for column, cell in row.items()}
        elif value is not None:
            submitted[key] = str(value)
    return submitted


class SentinelOneController(Controller):
    path = "/integrations/connections/{connection_id:uuid}/customers"
    guards = [requires_admin]

    @get("/", name="sentinelone_customers")
    async def customers_tab(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        sync_runtime: NamedDependency[SyncRuntime],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        connection = await _sentinelone(db_session, access, connection_id)
        table = await customers.mapping_table(db_session, access, _api(sync_runtime, connection), connection)
        clients = await client_choices(db_session, access, active_only=True)
        sites = await client_links.site_choices(db_session, access)
        return await connection_tab(
            request,
            db_session,
            access,
            connection.id,
            TAB,
            table=table,
            client_options=[(str(client.id), client.name) for client in clients],
            site_groups=[(client.name, site_options(sites.get(client.id, []))) for client in clients],
        )

    async def _import(
        self, request: AnyRequest, db_session: AsyncSession, access: Scope, runtime: SyncRuntime,
        connection_id: uuid.UUID, what: str,
    ) -> Redirect:  # fmt: skip
        connection = await _sentinelone(db_session, access, connection_id)
        api = _api(runtime, connection)
        try:
            if what == "sites":
                result = await customers.import_sites(db_session, access, api, connection)
            else:
                result = await customers.import_customers(db_session, access, api, connection)
        except ValidationError as exc:
            flash(request, next(iter(exc.fields.values()), exc.message), category="warning")
        except VendorError as exc:
            flash(request, f"SentinelOne could not be read: {exc.describe()}", category="error")
        else:
            noun = "sites" if what == "sites" or connection.mappings.get("matching_method") == "site" else "clients"
            flash(
                request,
                f"Imported {what}: {result.summary(noun)}",
                category="warning" if result.problems else "success",
            )
        return Redirect(path=customers_url(connection_id), status_code=303)

    @post("/import-customers", name="sentinelone_import_customers")
    async def import_customers(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        sync_runtime: NamedDependency[SyncRuntime],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        return await self._import(request, db_session, access, sync_runtime, connection_id, "customers")

    @post("/import-sites", name="sentinelone_import_sites")
    async def import_sites(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        sync_runtime: NamedDependency[SyncRuntime],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        return await self._import(request, db_session, access, sync_runtime, connection_id, "sites")

    @post("/method", name="sentinelone_matching_method")
    async def matching_method(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        form = await request.form()
        connection = await _sentinelone(db_session, access, connection_id)
        # The other mappings are submitted again as stored, so only the method changes.
        stored = as_submitted(connection.mappings)
        try:
            await service.update_mappings(
                db_session, access, connection.id, stored | {"matching_method": text(form, "matching_method")}
            )
        except ValidationError as exc:
            flash(request, exc.fields.get("matching_method") or "; ".join(exc.fields.values()), category="warning")
        else:
            flash(request, "Matching method saved.", category="success")
        return Redirect(path=customers_url(connection.id), status_code=303)

    @post("/map", name="sentinelone_map")
    async def map_scope(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        form = await request.form()
        connection = await _sentinelone(db_session, access, connection_id)
        try:
            link = await customers.map_scope(
                db_session,
                access,
                connection,
                kind=text(form, "kind"),
                remote_id=text(form, "remote_id"),
                remote_name=text(form, "remote_name"),
                client_id=uuid_or_none(text(form, "client_id")),
                site_id=uuid_or_none(text(form, "site_id")) if text(form, "site_id") else None,
            )
        except ValidationError as exc:
            flash(request, "; ".join(exc.fields.values()) or exc.message, category="warning")
        else:
            flash(request, f"{link.remote_name or link.remote_scope} mapped to {link.client.name}.", category="success")
        return Redirect(path=customers_url(connection.id), status_code=303)

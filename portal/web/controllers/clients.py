"""Client pages: the list, a new client, and each client's tabs (overview, sites, assets, tickets, integrations)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.assets.service import create_asset
from portal.domain.clients.service import (
    add_site,
    client_counts,
    create_client,
    deactivate_client,
    get_client,
    list_clients,
    list_sites,
    reactivate_client,
    set_main_site,
    update_client,
    update_site,
)
from portal.domain.errors import ValidationError
from portal.domain.integrations.client_links import add_link
from portal.domain.integrations.service import get_connection, list_connections, manifest_of
from portal.domain.sync.health import client_link_health
from portal.web.controllers.assets import AssetFilters, AssetForm, asset_list_context
from portal.web.controllers.integrations_forms import link_input, site_options
from portal.web.controllers.settings_forms import typed_values, uuid_or_none
from portal.web.forms import text, texts
from portal.web.guards import requires_admin
from portal.web.pages import is_htmx, page


def _client_form(form: FormMultiDict) -> dict[str, str]:
    return texts(form, "name", "reference", "notes")


def _site_form(form: FormMultiDict) -> dict[str, str]:
    return texts(form, "name", "address")


class ClientController(Controller):
    path = "/clients"

    @get("/", name="clients")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        q: FromQuery[str | None] = None,
    ) -> Template:
        clients = await list_clients(db_session, access, q)
        return page(
            request,
            "clients/index.html",
            partial="clients/_list.html",
            nav="clients",
            clients=clients,
            q=(q or "").strip(),
            can_manage=access.is_admin,
        )

    @get("/new", name="client_new", guards=[requires_admin])
    async def new(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "clients/new.html", nav="clients", values={}, errors={})

    @post("/", name="client_create", guards=[requires_admin])
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
    ) -> Template | Redirect:
        values = _client_form(await request.form())
        try:
            client = await create_client(db_session, access, values["name"], values["reference"], values["notes"])
        except ValidationError as exc:
            return page(
                request,
                "clients/new.html",
                partial="clients/_client_form.html",
                nav="clients",
                values=values,
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"Client “{client.name}” created, with its main site.", category="success")
        return Redirect(path=f"/clients/{client.id}", status_code=303)

    # ------------------------------------------------------------ tabs

    async def _tab(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        client_id: uuid.UUID,
        tab: str,
        *,
        partial: str | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        client = await get_client(db_session, access, client_id)
        counts = await client_counts(db_session, access, client.id)
        return page(
            request,
            f"clients/{tab}.html",
            partial=partial,
            nav="clients",
            status_code=status_code,
            client=client,
            counts=counts,
            tab=tab,
            can_manage=access.is_admin,
            can_edit=access.can_work_tickets,
            **context,
        )

    @get("/{client_id:uuid}", name="client")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._tab(request, db_session, access, client_id, "overview", values=None, errors={})

    @post("/{client_id:uuid}", name="client_update", guards=[requires_admin])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        values = _client_form(await request.form())
        try:
            await update_client(
                db_session,
                access,
                client_id,
                name=values["name"],
                reference=values["reference"],
                notes=values["notes"],
            )
        except ValidationError as exc:
            return await self._tab(
                request,
                db_session,
                access,
                client_id,
                "overview",
                partial="clients/_client_form.html",
                values=values,
                errors=exc.fields,
                status_code=422,
            )
        flash(request, "Client details saved.", category="success")
        return Redirect(path=f"/clients/{client_id}", status_code=303)

    @post("/{client_id:uuid}/deactivate", name="client_deactivate", guards=[requires_admin])
    async def deactivate(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Redirect:
        client = await deactivate_client(db_session, access, client_id)
        flash(request, f"“{client.name}” is now inactive.", category="info")
        return Redirect(path=f"/clients/{client_id}", status_code=303)

    @post("/{client_id:uuid}/reactivate", name="client_reactivate", guards=[requires_admin])
    async def reactivate(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Redirect:
        client = await reactivate_client(db_session, access, client_id)
        flash(request, f"“{client.name}” is active again.", category="success")
        return Redirect(path=f"/clients/{client_id}", status_code=303)

    # ------------------------------------------------------------ sites

    async def _sites(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        client_id: uuid.UUID,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        edit_site: uuid.UUID | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        sites = await list_sites(db_session, access, client_id)
        return await self._tab(
            request,
            db_session,
            access,
            client_id,
            "sites",
            partial="clients/_sites.html",
            status_code=status_code,
            sites=sites,
            values=values or {},
            errors=errors or {},
            edit_site=edit_site,
            notice=notice,
        )

    async def _site_changed(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        client_id: uuid.UUID,
        message: str,
    ) -> Template | Redirect:
        """The refreshed sites with ``message`` for an HTMX swap; else a redirect to them, the message flashed."""
        if is_htmx(request):
            return await self._sites(request, db_session, access, client_id, notice=message)
        flash(request, message, category="success")
        return Redirect(path=f"/clients/{client_id}/sites", status_code=303)

    @get("/{client_id:uuid}/sites", name="client_sites")
    async def sites(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._sites(request, db_session, access, client_id)

    @post("/{client_id:uuid}/sites", name="client_site_add")
    async def add_site(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        values = _site_form(await request.form())
        try:
            site = await add_site(db_session, access, client_id, values["name"], values["address"])
        except ValidationError as exc:
            return await self._sites(
                request, db_session, access, client_id, values=values, errors=exc.fields, status_code=422
            )
        return await self._site_changed(request, db_session, access, client_id, f"Site “{site.name}” added.")

    @post("/{client_id:uuid}/sites/{site_id:uuid}", name="client_site_update")
    async def update_site(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
        site_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        values = _site_form(await request.form())
        try:
            site = await update_site(
                db_session, access, client_id, site_id, name=values["name"], address=values["address"]
            )
        except ValidationError as exc:
            return await self._sites(
                request,
                db_session,
                access,
                client_id,
                values=values,
                errors=exc.fields,
                edit_site=site_id,
                status_code=422,
            )
        return await self._site_changed(request, db_session, access, client_id, f"Site “{site.name}” saved.")

    @post("/{client_id:uuid}/sites/{site_id:uuid}/main", name="client_site_main")
    async def make_main(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
        site_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        site = await set_main_site(db_session, access, client_id, site_id)
        return await self._site_changed(request, db_session, access, client_id, f"“{site.name}” is now the main site.")

    # ------------------------------------------------------------ assets, tickets, integrations

    async def _assets(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        client_id: uuid.UUID,
        filters: AssetFilters,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        client = await get_client(db_session, access, client_id)
        listing = await asset_list_context(db_session, access, f"/clients/{client.id}/assets", filters, client=client)
        return await self._tab(
            request,
            db_session,
            access,
            client.id,
            "assets",
            partial="assets/_list.html",
            status_code=status_code,
            values=values or {},
            errors=errors or {},
            **listing,
        )

    @get("/{client_id:uuid}/assets", name="client_assets")
    async def assets(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
        q: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        site: FromQuery[str | None] = None,
        asset_type: Annotated[str | None, QueryParameter(name="type")] = None,
        after: FromQuery[str | None] = None,
    ) -> Template:
        filters = AssetFilters.parse(q=q, status=status, site=site, asset_type=asset_type, after=after)
        return await self._assets(request, db_session, access, client_id, filters)

    @post("/{client_id:uuid}/assets", name="client_asset_add")
    async def add_asset(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = AssetForm.read(await request.form())
        try:
            asset = await create_asset(
                db_session, access, client_id, **form.fields, status=form.raw["status"] or "active"
            )
        except ValidationError as exc:
            return await self._assets(
                request,
                db_session,
                access,
                client_id,
                AssetFilters(),
                values=form.raw,
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"Asset “{asset.name}” added.", category="success")
        return Redirect(path=f"/assets/{asset.id}", status_code=303)

    @get("/{client_id:uuid}/tickets", name="client_tickets")
    async def tickets(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._tab(request, db_session, access, client_id, "tickets")

    async def _integrations(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: Scope,
        client_id: uuid.UUID,
        *,
        chosen_id: uuid.UUID | None = None,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        links = await client_link_health(db_session, access, client_id)
        linking: dict[str, Any] = {}
        if access.is_admin:
            connections = await list_connections(db_session, access)
            chosen = next((connection for connection in connections if connection.id == chosen_id), None)
            sites = await list_sites(db_session, access, client_id)
            linking = {
                "connections": connections,
                "chosen": chosen,
                "chosen_manifest": manifest_of(chosen) if chosen else None,
                "site_options": site_options(row.site for row in sites),
            }
        return await self._tab(
            request,
            db_session,
            access,
            client_id,
            "integrations",
            status_code=status_code,
            links=links,
            now=utcnow(),
            values=values or {},
            errors=errors or {},
            **linking,
        )

    @get("/{client_id:uuid}/integrations", name="client_integrations")
    async def integrations(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
        connection: FromQuery[str | None] = None,
    ) -> Template:
        chosen_id = uuid_or_none(connection) if connection else None
        return await self._integrations(request, db_session, access, client_id, chosen_id=chosen_id)

    @post("/{client_id:uuid}/integrations", name="client_integration_link", guards=[requires_admin])
    async def link_integration(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        client_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        client = await get_client(db_session, access, client_id)  # out of scope: 404 before the form is read
        form = await request.form()
        connection_id = uuid_or_none(text(form, "connection_id"))
        if connection_id is None:
            errors = {"connection_id": "Choose a connection."}
            return await self._integrations(request, db_session, access, client.id, errors=errors, status_code=422)
        connection = await get_connection(db_session, access, connection_id)
        try:
            await add_link(db_session, access, connection.id, client.id, link_input(form, manifest_of(connection)))
        except ValidationError as exc:
            return await self._integrations(
                request,
                db_session,
                access,
                client.id,
                chosen_id=connection.id,
                values=typed_values(form),
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"{client.name} linked to “{connection.name}”.", category="success")
        return Redirect(path=f"/clients/{client.id}/integrations", status_code=303)

"""Integrations (administrators only): vendor connections, with their setup, mappings, client links,
sync runs, watermarks and request logs.

A connection's tabs are full pages on direct load and swap ``#connection-tab`` in place from the
tab bar (HTMX). Forms post normally and redirect; a refused form comes back with the messages
beside its fields (422). Small actions (sync now, test, re-sync) answer with a notice.
The web process only queues sync work by name (:mod:`workers.queue`), never runs it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.clients.service import client_choices
from portal.domain.errors import ValidationError
from portal.domain.integrations import client_links, service
from portal.domain.integrations.manual_sync import item_resync, manual_sync
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync import health
from portal.domain.sync.connector import SyncRuntime, check_connection
from portal.domain.sync.models import RunOutcome, SyncTrigger
from portal.domain.sync.watermarks import get_sync_state, list_sync_states, set_watermark
from portal.integrations.catalog import MANIFESTS
from portal.integrations.manifest import Manifest
from portal.integrations.oauth import has_tokens, redirect_uri
from portal.web.controllers.integrations_forms import (
    link_input,
    schedule_input,
    shown_again,
    site_options,
    watermark_input,
)
from portal.web.controllers.settings_forms import typed_values, uuid_or_none
from portal.web.controllers.vendor_tabs import VENDOR_TABS
from portal.web.forms import text
from portal.web.guards import requires_admin
from portal.web.notices import notice, safe_back
from portal.web.pages import page
from workers.queue import JobQueue, enqueue_item_sync, enqueue_sync

NAV = "integrations"
NO_STORE = {"Cache-Control": "no-store"}  # a page showing a new webhook secret must not be kept anywhere
TABS = (
    ("setup", "", "Setup"),
    ("mappings", "/mappings", "Mappings"),
    ("clients", "/clients", "Clients"),
    ("runs", "/runs", "Sync runs"),
    ("watermarks", "/watermarks", "Watermarks"),
    ("requests", "/requests", "Outbound requests"),
    ("events", "/events", "Inbound events"),
)
OUTCOMES = tuple(outcome.value for outcome in RunOutcome)

AnyRequest = Request[Any, Any, Any]
PageNumber = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]


def connection_url(connection_id: uuid.UUID, tab: str = "") -> str:
    return f"/integrations/connections/{connection_id}" + (f"/{tab}" if tab else "")


def webhook_url(settings: Settings, connection_id: uuid.UUID) -> str:
    return settings.public_url.rstrip("/") + f"/hooks/{connection_id}"


def _stored_form(connection: Connection) -> dict[str, Any]:
    return {"name": connection.name, **connection.config}


@dataclass(frozen=True)
class Refused:
    """A form sent back (422) with what was typed, its messages, and which form it was on the page
    (a row's id, or "new" for an add form) so only that one shows them."""

    values: dict[str, Any]
    errors: dict[str, str]
    form: str | None = None

    @classmethod
    def of(cls, form: FormMultiDict, exc: ValidationError, which: str | None = None) -> Refused:
        return cls(typed_values(form), exc.fields, which)


def tabs_for(vendor: str) -> tuple[tuple[str, str, str], ...]:
    """The generic tabs, with the vendor's own (see :mod:`portal.web.controllers.vendor_tabs`) after Clients."""
    extra = VENDOR_TABS.get(vendor, ())
    at = next(index for index, (key, _, _) in enumerate(TABS) if key == "clients") + 1
    return TABS[:at] + extra + TABS[at:]


async def connection_tab(
    request: AnyRequest,
    db_session: AsyncSession,
    access: Scope,
    connection_id: uuid.UUID,
    tab: str,
    *,
    status_code: int = 200,
    refused: Refused | None = None,
    **context: Any,
) -> Template:
    """A connection's page on ``tab`` (also for vendor controllers' own tabs); ``refused``: a form sent back."""
    connection = await service.get_connection(db_session, access, connection_id)
    form_state: dict[str, Any] = {"values": {}, "errors": {}, "error_for": None}
    if refused is not None:
        status_code = 422
        context |= {"values": refused.values, "errors": refused.errors, "error_for": refused.form}
    return page(
        request,
        "integrations/connection.html",
        partial="integrations/_tab.html",
        nav=NAV,
        connection=connection,
        manifest=service.manifest_of(connection),
        health=await health.connection_health(db_session, access, connection.id),
        tab=tab,
        tabs=tabs_for(connection.vendor),
        now=utcnow(),
        status_code=status_code,
        **(form_state | context),
    )


class IntegrationsController(Controller):
    path = "/integrations"
    guards = [requires_admin]

    # ------------------------------------------------------------ the list and new connections

    @get("/", name="integrations")
    async def index(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return page(
            request,
            "integrations/index.html",
            nav=NAV,
            rows=await health.overview(db_session, access),
            manifests=list(MANIFESTS.values()),
        )

    def _new_page(
        self,
        request: AnyRequest,
        settings: Settings,
        manifest: Manifest,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return page(
            request,
            "integrations/new.html",
            nav=NAV,
            manifest=manifest,
            values=values or {},
            errors=errors or {},
            secrets_set={},
            redirect_uri=redirect_uri(settings),
            status_code=status_code,
        )

    @get("/new", name="integration_new")
    async def new(
        self, request: AnyRequest, settings: NamedDependency[Settings], vendor: FromQuery[str] = ""
    ) -> Template | Redirect:
        manifest = MANIFESTS.get(vendor)
        if manifest is None:
            return Redirect(path="/integrations#add", status_code=303)
        return self._new_page(request, settings, manifest)

    @post("/", name="integration_create")
    async def create(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
    ) -> Template | Redirect:
        form = await request.form()
        vendor = text(form, "vendor")
        try:
            connection = await service.create_connection(
                db_session, access, secret_box, vendor, text(form, "name"), typed_values(form)
            )
        except ValidationError as exc:
            manifest = MANIFESTS.get(vendor)
            if manifest is None:
                return Redirect(path="/integrations#add", status_code=303)
            values = shown_again(form, manifest.fields)
            return self._new_page(request, settings, manifest, values=values, errors=exc.fields, status_code=422)
        next_step = "press Connect to sign in, then" if connection.status != "connected" else "next,"
        flash(
            request,
            f"Connection “{connection.name}” created: {next_step} set its mappings and link clients.",
            category="success",
        )
        return Redirect(path=connection_url(connection.id), status_code=303)

    # ------------------------------------------------------------ a connection's tabs

    async def _tab(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        connection_id: uuid.UUID,
        tab: str,
        *,
        status_code: int = 200,
        refused: Refused | None = None,
        **context: Any,
    ) -> Template:
        """The tab; ``context`` is what it shows (``values`` the stored form values), ``refused`` a form sent back."""
        return await connection_tab(
            request, db_session, access, connection_id, tab, status_code=status_code, refused=refused, **context
        )

    async def _setup(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        settings: Settings,
        box: SecretBox,
        connection_id: uuid.UUID,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        schedule_values: dict[str, Any] | None = None,
        schedule_errors: dict[str, str] | None = None,
        new_webhook_secret: str | None = None,
        status_code: int = 200,
    ) -> Template:
        connection = await service.get_connection(db_session, access, connection_id)
        manifest = service.manifest_of(connection)
        secrets = service.stored_secrets(box, connection)
        response = await self._tab(
            request,
            db_session,
            access,
            connection.id,
            "setup",
            status_code=status_code,
            values=_stored_form(connection) if values is None else values,
            errors=errors or {},
            secrets_set={spec.key: bool(secrets.get(spec.key)) for spec in manifest.fields if spec.sensitive},
            signed_in=has_tokens(secrets),
            schedule_values=schedule_values,
            schedule_errors=schedule_errors or {},
            redirect_uri=redirect_uri(settings),
            webhook_url=webhook_url(settings, connection.id),
            has_webhook_secret=bool(secrets.get(service.WEBHOOK_SECRET)),
            new_webhook_secret=new_webhook_secret,
        )
        if new_webhook_secret:
            response.headers.update(NO_STORE)
        return response

    @get("/connections/{connection_id:uuid}", name="integration_connection")
    async def setup(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._setup(request, db_session, access, settings, secret_box, connection_id)

    @post("/connections/{connection_id:uuid}", name="integration_connection_update")
    async def update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            connection = await service.update_connection(
                db_session, access, secret_box, connection_id, text(form, "name"), typed_values(form)
            )
        except ValidationError as exc:
            manifest = service.manifest_of(await service.get_connection(db_session, access, connection_id))
            return await self._setup(
                request,
                db_session,
                access,
                settings,
                secret_box,
                connection_id,
                values=shown_again(form, manifest.fields),
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"“{connection.name}” saved.", category="success")
        return Redirect(path=connection_url(connection.id), status_code=303)

    @post("/connections/{connection_id:uuid}/schedules", name="integration_schedules")
    async def schedules(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        connection = await service.get_connection(db_session, access, connection_id)
        try:
            await service.update_schedules(
                db_session, access, connection.id, schedule_input(form, service.manifest_of(connection))
            )
        except ValidationError as exc:
            return await self._setup(
                request,
                db_session,
                access,
                settings,
                secret_box,
                connection_id,
                schedule_values=typed_values(form),
                schedule_errors=exc.fields,
                status_code=422,
            )
        flash(request, "Schedules saved.", category="success")
        return Redirect(path=connection_url(connection.id) + "#schedules", status_code=303)

    @post("/connections/{connection_id:uuid}/webhook-secret", name="integration_webhook_secret")
    async def rotate_webhook_secret(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        secret = await service.rotate_webhook_secret(db_session, access, secret_box, connection_id)
        # Rendered here rather than after a redirect: the secret exists only in this response.
        return await self._setup(
            request, db_session, access, settings, secret_box, connection_id, new_webhook_secret=secret
        )

    @post("/connections/{connection_id:uuid}/enable", name="integration_enable")
    async def enable(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        connection = await service.set_connection_enabled(db_session, access, secret_box, connection_id, enabled=True)
        flash(request, f"“{connection.name}” is enabled.", category="success")
        return Redirect(path=connection_url(connection.id), status_code=303)

    @post("/connections/{connection_id:uuid}/disable", name="integration_disable")
    async def disable(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        connection = await service.set_connection_enabled(db_session, access, secret_box, connection_id, enabled=False)
        flash(request, f"“{connection.name}” is disabled: nothing syncs or is sent back.", category="info")
        return Redirect(path=connection_url(connection.id), status_code=303)

    @post("/connections/{connection_id:uuid}/delete", name="integration_delete")
    async def delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Redirect:
        connection = await service.get_connection(db_session, access, connection_id)
        name = connection.name
        await service.delete_connection(db_session, access, connection.id)
        flash(request, f"Connection “{name}” deleted. Tickets it imported stay.", category="success")
        return Redirect(path="/integrations", status_code=303)

    @post("/connections/{connection_id:uuid}/test", name="integration_test")
    async def test_connection(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        sync_runtime: NamedDependency[SyncRuntime],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        connection = await service.get_connection(db_session, access, connection_id)
        check = await check_connection(db_session, sync_runtime, connection.id)
        if check.ok:
            return notice(request, f"Connection works: {check.message}", back=connection_url(connection.id))
        return notice(
            request, f"Connection test failed: {check.message}", back=connection_url(connection.id), category="error"
        )

    # ---- mappings

    async def _mappings(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        connection_id: uuid.UUID,
        refused: Refused | None = None,
    ) -> Template:
        connection = await service.get_connection(db_session, access, connection_id)
        fields = service.manifest_of(connection).mapping_fields
        return await self._tab(
            request,
            db_session,
            access,
            connection.id,
            "mappings",
            refused=refused,
            values=dict(connection.mappings),
            choices=await service.mapping_choices(db_session, fields),
        )

    @get("/connections/{connection_id:uuid}/mappings", name="integration_mappings")
    async def mappings(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._mappings(request, db_session, access, connection_id)

    @post("/connections/{connection_id:uuid}/mappings", name="integration_mappings_update")
    async def save_mappings(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            await service.update_mappings(db_session, access, connection_id, typed_values(form))
        except ValidationError as exc:
            return await self._mappings(request, db_session, access, connection_id, Refused.of(form, exc))
        flash(request, "Mappings saved.", category="success")
        return Redirect(path=connection_url(connection_id, "mappings"), status_code=303)

    # ---- client links

    async def _clients(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        connection_id: uuid.UUID,
        refused: Refused | None = None,
    ) -> Template:
        clients = await client_choices(db_session, access, active_only=True)
        sites = await client_links.site_choices(db_session, access)
        options = {client_id: site_options(client_sites) for client_id, client_sites in sites.items()}
        return await self._tab(
            request,
            db_session,
            access,
            connection_id,
            "clients",
            refused=refused,
            client_options=[(str(client.id), client.name) for client in clients],
            site_options=options,
            site_groups=[(client.name, options.get(client.id, [])) for client in clients],
        )

    @get("/connections/{connection_id:uuid}/clients", name="integration_clients")
    async def clients(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._clients(request, db_session, access, connection_id)

    @post("/connections/{connection_id:uuid}/clients", name="integration_link_add")
    async def add_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        connection = await service.get_connection(db_session, access, connection_id)
        manifest = service.manifest_of(connection)
        client_id = uuid_or_none(text(form, "client_id"))
        try:
            if client_id is None:
                raise ValidationError({"client_id": "Choose a client."})
            link = await client_links.add_link(db_session, access, connection.id, client_id, link_input(form, manifest))
        except ValidationError as exc:
            return await self._clients(request, db_session, access, connection.id, Refused.of(form, exc, "new"))
        flash(request, f"{link.client.name} linked to “{connection.name}”.", category="success")
        return Redirect(path=connection_url(connection.id, "clients"), status_code=303)

    @post("/links/{link_id:uuid}", name="integration_link_update")
    async def update_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        link_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        link = await client_links.get_link(db_session, access, link_id)
        try:
            await client_links.update_link(
                db_session, access, link.id, link_input(form, service.manifest_of(link.connection))
            )
        except ValidationError as exc:
            refused = Refused.of(form, exc, str(link.id))
            return await self._clients(request, db_session, access, link.connection_id, refused)
        flash(request, f"Link of {link.client.name} saved.", category="success")
        return Redirect(path=connection_url(link.connection_id, "clients"), status_code=303)

    async def _link_enabled(
        self, request: AnyRequest, db_session: AsyncSession, access: Scope, link_id: uuid.UUID, *, enabled: bool
    ) -> Redirect:
        form = await request.form()
        link = await client_links.set_link_enabled(db_session, access, link_id, enabled=enabled)
        state = "enabled" if enabled else "disabled: it no longer syncs"
        flash(request, f"Link of {link.client.name} {state}.", category="success" if enabled else "info")
        return Redirect(path=safe_back(form, connection_url(link.connection_id, "clients")), status_code=303)

    @post("/links/{link_id:uuid}/enable", name="integration_link_enable")
    async def enable_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        link_id: FromPath[uuid.UUID],
    ) -> Redirect:
        return await self._link_enabled(request, db_session, access, link_id, enabled=True)

    @post("/links/{link_id:uuid}/disable", name="integration_link_disable")
    async def disable_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        link_id: FromPath[uuid.UUID],
    ) -> Redirect:
        return await self._link_enabled(request, db_session, access, link_id, enabled=False)

    @post("/links/{link_id:uuid}/delete", name="integration_link_delete")
    async def remove_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        link_id: FromPath[uuid.UUID],
    ) -> Redirect:
        form = await request.form()
        link = await client_links.remove_link(db_session, access, link_id)
        flash(request, f"{link.client.name} unlinked. Tickets already imported stay.", category="success")
        return Redirect(path=safe_back(form, connection_url(link.connection_id, "clients")), status_code=303)

    # ---- sync now, re-sync an item

    async def _sync_now(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        queue: JobQueue,
        form: FormMultiDict,
        *,
        back: str,
        connection_id: uuid.UUID | None = None,
        link_id: uuid.UUID | None = None,
    ) -> Template | Redirect:
        try:
            wanted = await manual_sync(
                db_session, access, text(form, "entity"), connection_id=connection_id, link_id=link_id
            )
        except ValidationError as exc:
            return notice(request, exc.message, back=safe_back(form, back), category="warning")
        queued = await enqueue_sync(
            queue,
            wanted.connection_id,
            wanted.link_id,
            wanted.entity,
            trigger=SyncTrigger.MANUAL.value,
            user_id=access.user_id,
        )
        message = f"Sync of {wanted.label} queued." if queued.queued else f"Sync of {wanted.label} is already queued."
        return notice(request, message, back=safe_back(form, back), category="success" if queued.queued else "info")

    @post("/connections/{connection_id:uuid}/sync", name="integration_sync")
    async def sync_connection(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        queue: NamedDependency[JobQueue],
        connection_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        back = connection_url(connection_id)
        return await self._sync_now(request, db_session, access, queue, form, back=back, connection_id=connection_id)

    @post("/links/{link_id:uuid}/sync", name="integration_link_sync")
    async def sync_link(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        queue: NamedDependency[JobQueue],
        link_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        return await self._sync_now(request, db_session, access, queue, form, back="/sync-health", link_id=link_id)

    @post("/runs/{run_id:uuid}/resync", name="integration_item_resync")
    async def resync_item(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        queue: NamedDependency[JobQueue],
        run_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        back = f"/sync-health/runs/{run_id}"
        try:
            item = await item_resync(db_session, access, run_id, text(form, "remote_id"))
        except ValidationError as exc:
            return notice(request, exc.message, back=back, category="warning")
        queued = await enqueue_item_sync(queue, item.connection_id, item.link_id, item.entity, item.remote_id)
        state = "queued" if queued.queued else "is already queued"
        return notice(request, f"Re-sync of {item.remote_id} {state}.", back=back)

    # ---- runs, watermarks and logs

    @get("/connections/{connection_id:uuid}/runs", name="integration_runs")
    async def runs(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
        outcome: FromQuery[str | None] = None,
        page_number: PageNumber = 1,
    ) -> Template:
        outcome = outcome if outcome in OUTCOMES else None
        runs = await health.recent_runs(
            db_session, access, connection_id=connection_id, outcome=outcome, page=page_number
        )
        return await self._tab(
            request, db_session, access, connection_id, "runs", runs=runs, outcome=outcome, outcomes=OUTCOMES
        )

    async def _watermarks(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        connection_id: uuid.UUID,
        refused: Refused | None = None,
    ) -> Template:
        rows = await list_sync_states(db_session, access, connection_id)
        return await self._tab(request, db_session, access, connection_id, "watermarks", refused=refused, rows=rows)

    @get("/connections/{connection_id:uuid}/watermarks", name="integration_watermarks")
    async def watermarks(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._watermarks(request, db_session, access, connection_id)

    @post("/sync-states/{state_id:uuid}", name="integration_watermark")
    async def set_watermark(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        state_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        row = await get_sync_state(db_session, access, state_id)  # 404 before anything is read from the form
        try:
            state = await set_watermark(db_session, access, state_id, watermark_input(form))
        except ValidationError as exc:
            refused = Refused.of(form, exc, str(state_id))
            return await self._watermarks(request, db_session, access, row.state.connection_id, refused)
        what = "cleared: the next run starts from the first-sync window" if state.watermark is None else "moved"
        flash(request, f"Watermark of {state.entity} {what}.", category="success")
        return Redirect(path=connection_url(state.connection_id, "watermarks"), status_code=303)

    @get("/connections/{connection_id:uuid}/requests", name="integration_requests")
    async def requests(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
        before: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Template:
        found = await health.outbound_requests(db_session, access, connection_id, before=before)
        return await self._tab(request, db_session, access, connection_id, "requests", requests=found, before=before)

    @get("/connections/{connection_id:uuid}/events", name="integration_events")
    async def events(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
        page_number: PageNumber = 1,
    ) -> Template:
        found = await health.inbound_events(db_session, access, connection_id, page=page_number)
        return await self._tab(request, db_session, access, connection_id, "events", events=found)

"""Sentinel's own pages: the tenants tab (sign-in per customer tenant, admin consent, the Logic App to
create), the workspace picker of the client link form, and the incident panel of a ticket.

The tab and the picker are for administrators (they manage connections and links); the ticket
panel is for whoever may see the ticket (it is loaded through the ticket, so a user limited to
some clients gets a 404 for any other client's ticket), and sending to Sentinel needs ticket work.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.integrations import service
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.connector import SyncRuntime, open_connection
from portal.domain.tickets import service as tickets
from portal.integrations import oauth
from portal.integrations.errors import VendorError
from portal.integrations.sentinel import mapping
from portal.integrations.sentinel.api import SentinelApi, tenant_key
from portal.integrations.sentinel.manifest import CLOUDS, arm_scope, log_analytics_scope
from portal.integrations.sentinel.outbound import send_to_sentinel, sentinel_links
from portal.integrations.sentinel.webhook import SECRET_HEADERS
from portal.integrations.tenant_oauth import valid_tenant
from portal.web.controllers.integrations import connection_tab, webhook_url
from portal.web.controllers.oauth import PENDING_SESSION_KEY
from portal.web.forms import text
from portal.web.guards import requires_admin, requires_ticket_work
from portal.web.notices import notice
from portal.web.pages import is_htmx

AnyRequest = Request[Any, Any, Any]
TAB = "sentinel_tenants"
MAX_SUBSCRIPTIONS = 20  # the picker lists workspaces of this many subscriptions at most


async def _sentinel(db_session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> Connection:
    connection = await service.get_connection(db_session, access, connection_id)
    if connection.vendor != "sentinel":
        raise NotFoundError("connection")
    return connection


def _api(runtime: SyncRuntime, connection: Connection) -> SentinelApi:
    api = open_connection(runtime, connection).api
    assert isinstance(api, SentinelApi)
    return api


def _cloud(connection: Connection) -> str:
    cloud = str(connection.config.get("cloud") or "public")
    return cloud if cloud in CLOUDS else "public"


def permissions(cloud: str) -> list[tuple[str, str, str]]:
    """What to grant the app registration: (API, permission, why)."""
    return [
        ("Azure Service Management", arm_scope(cloud), "Read and update incidents, list subscriptions and workspaces"),
        (
            "Log Analytics API",
            log_analytics_scope(cloud),
            "Read workspace data (delegated, not an application permission)",
        ),
        ("Microsoft Graph", "offline_access", "Keep access without signing in again (refresh tokens)"),
    ]


class SentinelController(Controller):
    guards = [requires_admin]

    @get("/integrations/connections/{connection_id:uuid}/tenants", name="sentinel_tenants")
    async def tenants_tab(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        secret_box: NamedDependency[SecretBox],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        connection = await _sentinel(db_session, access, connection_id)
        secrets = service.stored_secrets(secret_box, connection)
        try:
            login = oauth.login_base(service.manifest_of(connection), connection.config)
        except ValueError:
            login = ""
        return await connection_tab(
            request,
            db_session,
            access,
            connection.id,
            TAB,
            tenants=sorted(oauth.accounts(secrets).items()),
            redirect_uri=oauth.redirect_uri(settings),
            permissions=permissions(_cloud(connection)),
            login_base=login,
            webhook_url=webhook_url(settings, connection.id),
            secret_header=SECRET_HEADERS[0],
            has_webhook_secret=bool(secrets.get(service.WEBHOOK_SECRET)),
        )

    @post("/integrations/connections/{connection_id:uuid}/tenants/admin-consent", name="sentinel_admin_consent")
    async def admin_consent(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        settings: NamedDependency[Settings],
        connection_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        """Send a customer tenant's administrator to grant the app tenant-wide (their tenant blocks user consent)."""
        connection = await _sentinel(db_session, access, connection_id)
        tenant = text(await request.form(), "tenant")
        back = f"/integrations/connections/{connection.id}/tenants"
        if not valid_tenant(tenant) or tenant.lower() in {"common", "organizations", "consumers"}:
            return notice(request, "Enter the customer's tenant id (a GUID) or domain.", back=back, category="error")
        user: User = request.user
        try:
            url, pending = oauth.begin_admin_consent(
                connection.id, connection.vendor, service.manifest_of(connection), connection.config,
                oauth.redirect_uri(settings), user_id=user.id, tenant=tenant,
                scope=arm_scope(_cloud(connection)).replace("/user_impersonation", "/.default"),
            )  # fmt: skip
        except ValueError as exc:
            return notice(request, f"Cannot ask for consent: {exc}.", back=back, category="error")
        entries = oauth.add_pending(request.session.get(PENDING_SESSION_KEY), pending)
        request.set_session({**request.session, PENDING_SESSION_KEY: entries})
        if is_htmx(request):
            return Response(content="", status_code=200, headers={"HX-Redirect": url})
        return Redirect(path=url, status_code=303)

    @get("/integrations/sentinel/{connection_id:uuid}/workspaces", name="sentinel_workspaces")
    async def workspaces(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        secret_box: NamedDependency[SecretBox],
        sync_runtime: NamedDependency[SyncRuntime],
        connection_id: FromPath[uuid.UUID],
    ) -> Template:
        """The picker: the workspaces the tenant's signed-in account can see, through ARM."""
        connection = await _sentinel(db_session, access, connection_id)
        prefix = "".join(ch for ch in request.query_params.get("prefix", "") if ch.isalnum() or ch in "-_")[:80]
        tenant = (request.query_params.get("tenant_id") or "").strip()
        context: dict[str, Any] = {"connection": connection, "prefix": prefix, "tenant": tenant, "found": []}
        if not valid_tenant(tenant):
            return Template(
                "integrations/_sentinel_picker.html", context={**context, "problem": "Enter the tenant id first."}
            )
        if tenant_key(service.stored_secrets(secret_box, connection), tenant) is None:
            problem = "Nobody has signed in for this tenant yet: sign in for it on the connection's Tenants tab."
            return Template("integrations/_sentinel_picker.html", context={**context, "problem": problem})
        client = _api(sync_runtime, connection).tenant(tenant)
        found: list[tuple[mapping.SubscriptionRecord, list[mapping.WorkspaceRecord]]] = []
        try:
            subscriptions = [mapping.read_subscription(raw) for raw in await client.list_subscriptions()]
            for subscription in subscriptions[:MAX_SUBSCRIPTIONS]:
                listed = await client.list_workspaces(subscription.subscription_id)
                found.append((subscription, [mapping.read_workspace(raw) for raw in listed]))
        except VendorError as exc:
            return Template("integrations/_sentinel_picker.html", context={**context, "problem": exc.describe()})
        except mapping.SentinelMappingError as exc:
            return Template("integrations/_sentinel_picker.html", context={**context, "problem": str(exc)})
        return Template("integrations/_sentinel_picker.html", context={**context, "found": found, "problem": ""})

    @get("/integrations/sentinel/{connection_id:uuid}/pick", name="sentinel_pick")
    async def pick(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        connection_id: FromPath[uuid.UUID],
        request: AnyRequest,
    ) -> Template:
        """Fill the link form's workspace fields with the picked workspace (out-of-band swaps by id)."""
        await _sentinel(db_session, access, connection_id)
        query = request.query_params
        prefix = "".join(ch for ch in query.get("prefix", "") if ch.isalnum() or ch in "-_")[:80]
        values = {key: (query.get(key) or "")[:255] for key in ("subscription_id", "resource_group", "workspace_name")}
        return Template("integrations/_sentinel_pick.html", context={"prefix": prefix, "values": values})


class SentinelTicketController(Controller):
    path = "/tickets/{ticket_id:uuid}/sentinel"

    @get("/", name="ticket_sentinel")
    async def panel(
        self,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        sync_runtime: NamedDependency[SyncRuntime],
        ticket_id: FromPath[uuid.UUID],
    ) -> Template:
        """The incident's alerts and entities, read from Sentinel now; for a ticket raised here, “Send to Sentinel”."""
        detail = await tickets.get_ticket(db_session, access, ticket_id)  # 404 outside the user's clients
        context: dict[str, Any] = {"ticket": detail.ticket, "alerts": [], "entities": [], "problem": "", "links": []}
        link = detail.link
        if link is None:
            if detail.ticket.source in ("manual", "api") and access.can_work_tickets:
                choices = await sentinel_links(db_session, detail.ticket.client_id)
                context["links"] = [
                    (str(item.id), f"{conn.name}: {item.settings.get('workspace_name', '')}") for item, conn in choices
                ]
            return Template("tickets/_sentinel_panel.html", context=context)
        connection = await db_session.get(Connection, link.connection_id)
        if connection is None or connection.vendor != "sentinel" or link.remote_type != mapping.INCIDENT:
            return Template("tickets/_sentinel_panel.html", context={**context, "unrelated": True})
        try:
            workspace, name = mapping.split_incident_remote_id(link.remote_id)
            client = _api(sync_runtime, connection).tenant(workspace.tenant)
            context["alerts"] = [mapping.read_alert(raw) for raw in await client.list_alerts(workspace, name)]
            context["entities"] = [mapping.read_entity(raw) for raw in await client.list_entities(workspace, name)]
        except VendorError as exc:
            context["problem"] = exc.describe()
        except mapping.SentinelMappingError as exc:
            context["problem"] = str(exc)
        context["incident_url"] = link.remote_url
        return Template("tickets/_sentinel_panel.html", context={**context, "linked": True})

    @post("/send", name="ticket_sentinel_send", guards=[requires_ticket_work])
    async def send(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        back = f"/tickets/{ticket_id}"
        form = await request.form()
        try:
            link_id = uuid.UUID(text(form, "link_id"))
        except ValueError:
            return notice(request, "Choose the Sentinel workspace to send the ticket to.", back=back, category="error")
        try:
            await send_to_sentinel(db_session, access, ticket_id, link_id)
        except ValidationError as exc:
            await db_session.rollback()
            return notice(request, next(iter(exc.fields.values()), exc.message), back=back, category="error")
        return notice(
            request, "The ticket is being sent to Sentinel as a new incident; it is linked to it now.", back=back
        )

"""Settings (administrators only): users, ticket reference data, asset types, and the audit log.

Every page works as plain forms and redirects; the audit log's filters and pages also swap in
place through HTMX. Validation errors re-render the form with messages beside the fields (422).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.accounts import admin as users
from portal.domain.accounts.models import Role, User
from portal.domain.errors import ValidationError
from portal.domain.settings import ticket_types
from portal.domain.settings.audit_log import AuditFilter, audit_filter_options, query_audit_log
from portal.domain.settings.overview import settings_overview
from portal.domain.tickets.models import Priority, Status
from portal.web.controllers.settings_forms import (
    field_input,
    iso_date,
    staff_input,
    ticket_type_input,
    typed_values,
    uuid_or_none,
)
from portal.web.controllers.settings_tables import ASSET_GROUPS, ASSET_TYPES, PRIORITIES, STATUSES, EditTable
from portal.web.forms import text
from portal.web.guards import requires_admin
from portal.web.pages import page

NAV = "settings"
NO_STORE = {"Cache-Control": "no-store"}  # pages showing a one-time password must not be kept anywhere

AnyRequest = Request[Any, Any, Any]


class SettingsController(Controller):
    path = "/settings"
    guards = [requires_admin]

    @get("/", name="settings")
    async def index(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        overview = await settings_overview(db_session, access)
        return page(request, "settings/index.html", nav=NAV, section="index", overview=overview)

    # ---- users ----

    @get("/users", name="settings_users")
    async def users_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        listing = await users.list_users(db_session, access)
        return page(request, "settings/users.html", nav=NAV, section="users", listing=listing)

    async def _new_user_page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        *,
        values: dict[str, str] | None = None,
        chosen: frozenset[uuid.UUID] = frozenset(),
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return page(
            request,
            "settings/user_new.html",
            partial="settings/_user_form.html",
            nav=NAV,
            section="users",
            roles=list(Role),
            clients=await users.list_clients_for_scope(db_session, access),
            values=values or {"role": Role.ANALYST.value, "scope": "all"},
            chosen=chosen,
            errors=errors or {},
            user=None,
            status_code=status_code,
        )

    @get("/users/new", name="settings_user_new")
    async def user_new(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._new_user_page(request, db_session, access)

    @post("/users", name="settings_user_create")
    async def user_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        data = staff_input(form)
        try:
            created = await users.create_staff_user(
                db_session, access, text(form, "email"), data, password=text(form, "password") or None
            )
        except ValidationError as exc:
            values = typed_values(form)
            values.pop("password", None)
            return await self._new_user_page(
                request, db_session, access, values=values, chosen=data.client_ids, errors=exc.fields, status_code=422
            )
        if created.generated_password is None:
            flash(request, f"User {created.user.email} created.", category="success")
            return Redirect(path=f"/settings/users/{created.user.id}", status_code=303)
        # Rendered here rather than after a redirect: the generated password exists only in this response.
        return await self._user_page(
            request, db_session, access, created.user, issued_password=created.generated_password, created=True
        )

    async def _user_page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        user: User,
        *,
        values: dict[str, str] | None = None,
        chosen: frozenset[uuid.UUID] | None = None,
        errors: dict[str, str] | None = None,
        issued_password: str | None = None,
        created: bool = False,
        status_code: int = 200,
    ) -> Template:
        response = page(
            request,
            "settings/user_detail.html",
            partial="settings/_user_form.html",
            nav=NAV,
            section="users",
            user=user,
            roles=list(Role),
            clients=await users.list_clients_for_scope(db_session, access),
            values=values
            or {
                "display_name": user.display_name,
                "role": user.role,
                "scope": "all" if user.all_clients else "limited",
            },
            chosen=user.client_ids if chosen is None else chosen,
            errors=errors or {},
            issued_password=issued_password,
            created=created,
            is_self=user.id == access.user_id,
            status_code=201 if created else status_code,
        )
        if issued_password:
            response.headers.update(NO_STORE)
        return response

    @get("/users/{user_id:uuid}", name="settings_user")
    async def user_detail(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        user_id: FromPath[uuid.UUID],
    ) -> Template:
        user = await users.get_user(db_session, access, user_id)
        return await self._user_page(request, db_session, access, user)

    @post("/users/{user_id:uuid}", name="settings_user_update")
    async def user_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        user_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        data = staff_input(form)
        try:
            user = await users.update_user(db_session, access, user_id, data)
        except ValidationError as exc:
            user = await users.get_user(db_session, access, user_id)
            return await self._user_page(
                request,
                db_session,
                access,
                user,
                values=typed_values(form),
                chosen=data.client_ids,
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"Saved {user.email}.", category="success")
        if user.id == access.user_id and user.role != Role.ADMIN.value:
            return Redirect(path="/", status_code=303)  # no longer allowed in settings
        return Redirect(path=f"/settings/users/{user.id}", status_code=303)

    @post("/users/{user_id:uuid}/deactivate", name="settings_user_deactivate")
    async def user_deactivate(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        user_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            user = await users.deactivate_user(db_session, access, user_id)
        except ValidationError as exc:
            user = await users.get_user(db_session, access, user_id)
            return await self._user_page(request, db_session, access, user, errors=exc.fields, status_code=422)
        flash(request, f"{user.email} is deactivated and signed out.", category="success")
        return Redirect(path=f"/settings/users/{user.id}", status_code=303)

    @post("/users/{user_id:uuid}/reactivate", name="settings_user_reactivate")
    async def user_reactivate(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        user = await users.reactivate_user(db_session, access, user_id)
        flash(request, f"{user.email} can sign in again.", category="success")
        return Redirect(path=f"/settings/users/{user.id}", status_code=303)

    @post("/users/{user_id:uuid}/password", name="settings_user_password")
    async def user_password(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        user_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        chosen = text(form, "password") if text(form, "method") == "set" else None
        try:
            generated = await users.reset_password(db_session, access, user_id, chosen or None)
        except ValidationError as exc:
            user = await users.get_user(db_session, access, user_id)
            return await self._user_page(request, db_session, access, user, errors=exc.fields, status_code=422)
        user = await users.get_user(db_session, access, user_id)
        if generated is None:
            flash(request, f"Password for {user.email} changed.", category="success")
            return Redirect(path=f"/settings/users/{user.id}", status_code=303)
        return await self._user_page(request, db_session, access, user, issued_password=generated)

    # ---- ticket types ----

    async def _reference_choices(self, db_session: AsyncSession) -> dict[str, Any]:
        return {
            "priority_choices": (await db_session.scalars(select(Priority).order_by(Priority.rank))).all(),
            "status_choices": (
                await db_session.scalars(select(Status).where(Status.is_closed.is_(False)).order_by(Status.rank))
            ).all(),
        }

    async def _ticket_types_page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return page(
            request,
            "settings/ticket_types.html",
            nav=NAV,
            section="ticket_types",
            rows=await ticket_types.list_ticket_types(db_session, access),
            values=values or {},
            errors=errors or {},
            status_code=status_code,
            **await self._reference_choices(db_session),
        )

    @get("/ticket-types", name="settings_ticket_types")
    async def ticket_types_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._ticket_types_page(request, db_session, access)

    @post("/ticket-types", name="settings_ticket_type_create")
    async def ticket_type_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await ticket_types.create_ticket_type(db_session, access, ticket_type_input(form))
        except ValidationError as exc:
            return await self._ticket_types_page(
                request, db_session, access, values=typed_values(form), errors=exc.fields, status_code=422
            )
        flash(request, f"Ticket type “{created.name}” created. Add its custom fields here.", category="success")
        return Redirect(path=f"/settings/ticket-types/{created.id}", status_code=303)

    async def _ticket_type_page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        ticket_type_id: FromPath[uuid.UUID],
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        field_values: dict[str, str] | None = None,
        field_errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        ticket_type = await ticket_types.get_ticket_type(db_session, access, ticket_type_id)
        return page(
            request,
            "settings/ticket_type.html",
            nav=NAV,
            section="ticket_types",
            ticket_type=ticket_type,
            tickets=await ticket_types.ticket_usage(db_session, ticket_type.id),
            kinds=ticket_types.FIELD_KINDS,
            values=values
            or {
                "name": ticket_type.name,
                "default_priority_id": str(ticket_type.default_priority_id),
                "default_status_id": str(ticket_type.default_status_id),
                "classification_required_on_close": "on" if ticket_type.classification_required_on_close else "",
            },
            errors=errors or {},
            field_values=field_values or {"kind": "text"},
            field_errors=field_errors or {},
            status_code=status_code,
            **await self._reference_choices(db_session),
        )

    @get("/ticket-types/{ticket_type_id:uuid}", name="settings_ticket_type")
    async def ticket_type_detail(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_type_id: FromPath[uuid.UUID],
    ) -> Template:
        return await self._ticket_type_page(request, db_session, access, ticket_type_id)

    @post("/ticket-types/{ticket_type_id:uuid}", name="settings_ticket_type_update")
    async def ticket_type_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await ticket_types.update_ticket_type(db_session, access, ticket_type_id, ticket_type_input(form))
        except ValidationError as exc:
            return await self._ticket_type_page(
                request,
                db_session,
                access,
                ticket_type_id,
                values=typed_values(form),
                errors=exc.fields,
                status_code=422,
            )
        flash(request, f"Ticket type “{updated.name}” saved.", category="success")
        return Redirect(path=f"/settings/ticket-types/{ticket_type_id}", status_code=303)

    @post("/ticket-types/{ticket_type_id:uuid}/delete", name="settings_ticket_type_delete")
    async def ticket_type_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            await ticket_types.delete_ticket_type(db_session, access, ticket_type_id)
        except ValidationError as exc:
            return await self._ticket_type_page(
                request, db_session, access, ticket_type_id, errors=exc.fields, status_code=422
            )
        flash(request, "Ticket type deleted.", category="success")
        return Redirect(path="/settings/ticket-types", status_code=303)

    @post("/ticket-types/{ticket_type_id:uuid}/fields", name="settings_ticket_type_field_add")
    async def ticket_type_field_add(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            field = await ticket_types.add_custom_field(db_session, access, ticket_type_id, field_input(form))
        except ValidationError as exc:
            return await self._ticket_type_page(
                request,
                db_session,
                access,
                ticket_type_id,
                field_values=typed_values(form),
                field_errors=exc.fields,
                status_code=422,
            )
        flash(request, f"Field “{field['label']}” added (key {field['key']}).", category="success")
        return Redirect(path=f"/settings/ticket-types/{ticket_type_id}#custom-fields", status_code=303)

    @post("/ticket-types/{ticket_type_id:uuid}/fields/{key:str}/delete", name="settings_ticket_type_field_delete")
    async def ticket_type_field_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        ticket_type_id: FromPath[uuid.UUID],
        key: FromPath[str],
    ) -> Template | Redirect:
        try:
            await ticket_types.remove_custom_field(db_session, access, ticket_type_id, key)
        except ValidationError as exc:
            return await self._ticket_type_page(
                request, db_session, access, ticket_type_id, field_errors=exc.fields, status_code=422
            )
        flash(request, f"Field “{key}” removed. Tickets keep the values they had.", category="success")
        return Redirect(path=f"/settings/ticket-types/{ticket_type_id}#custom-fields", status_code=303)

    # ---- priorities, statuses, asset groups, asset types: one table each, edited row by row ----

    async def _table_page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        table: EditTable[Any],
        *,
        refused: ValidationError | None = None,
        error_for: str | None = None,
        form: FormMultiDict | None = None,
    ) -> Template:
        """``error_for`` is the id of the row whose form was refused ("new" for the add form)."""
        return page(
            request,
            f"settings/{table.section}.html",
            nav=NAV,
            section=table.section,
            error_for=error_for,
            values=typed_values(form) if form is not None else {},
            errors=refused.fields if refused else {},
            status_code=422 if refused else 200,
            **await table.context(db_session, access),
        )

    async def _add_row(
        self, request: AnyRequest, db_session: AsyncSession, access: Scope, table: EditTable[Any]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await table.create(db_session, access, table.parse(form))
        except ValidationError as exc:
            return await self._table_page(request, db_session, access, table, refused=exc, error_for="new", form=form)
        flash(request, f"{table.title} “{created.name}” added.", category="success")
        return Redirect(path=table.url, status_code=303)

    async def _save_row(
        self, request: AnyRequest, db_session: AsyncSession, access: Scope, table: EditTable[Any], row_id: uuid.UUID
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await table.update(db_session, access, row_id, table.parse(form))
        except ValidationError as exc:
            return await self._table_page(
                request, db_session, access, table, refused=exc, error_for=str(row_id), form=form
            )
        flash(request, f"{table.title} “{updated.name}” saved.", category="success")
        return Redirect(path=table.url, status_code=303)

    async def _delete_row(
        self, request: AnyRequest, db_session: AsyncSession, access: Scope, table: EditTable[Any], row_id: uuid.UUID
    ) -> Template | Redirect:
        try:
            await table.delete(db_session, access, row_id)
        except ValidationError as exc:
            return await self._table_page(request, db_session, access, table, refused=exc, error_for=str(row_id))
        flash(request, f"{table.title} deleted.", category="success")
        return Redirect(path=table.url, status_code=303)

    @get("/priorities", name="settings_priorities")
    async def priorities_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, PRIORITIES)

    @post("/priorities", name="settings_priority_create")
    async def priority_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        return await self._add_row(request, db_session, access, PRIORITIES)

    @post("/priorities/{priority_id:uuid}", name="settings_priority_update")
    async def priority_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        priority_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._save_row(request, db_session, access, PRIORITIES, priority_id)

    @post("/priorities/{priority_id:uuid}/delete", name="settings_priority_delete")
    async def priority_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        priority_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._delete_row(request, db_session, access, PRIORITIES, priority_id)

    @get("/statuses", name="settings_statuses")
    async def statuses_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, STATUSES)

    @post("/statuses", name="settings_status_create")
    async def status_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        return await self._add_row(request, db_session, access, STATUSES)

    @post("/statuses/{status_id:uuid}", name="settings_status_update")
    async def status_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        status_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._save_row(request, db_session, access, STATUSES, status_id)

    @post("/statuses/{status_id:uuid}/delete", name="settings_status_delete")
    async def status_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        status_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._delete_row(request, db_session, access, STATUSES, status_id)

    @get("/asset-groups", name="settings_asset_groups")
    async def asset_groups_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, ASSET_GROUPS)

    @post("/asset-groups", name="settings_asset_group_create")
    async def asset_group_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        return await self._add_row(request, db_session, access, ASSET_GROUPS)

    @post("/asset-groups/{asset_group_id:uuid}", name="settings_asset_group_update")
    async def asset_group_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_group_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._save_row(request, db_session, access, ASSET_GROUPS, asset_group_id)

    @post("/asset-groups/{asset_group_id:uuid}/delete", name="settings_asset_group_delete")
    async def asset_group_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_group_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._delete_row(request, db_session, access, ASSET_GROUPS, asset_group_id)

    @get("/asset-types", name="settings_asset_types")
    async def asset_types_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, ASSET_TYPES)

    @post("/asset-types", name="settings_asset_type_create")
    async def asset_type_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        return await self._add_row(request, db_session, access, ASSET_TYPES)

    @post("/asset-types/{asset_type_id:uuid}", name="settings_asset_type_update")
    async def asset_type_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._save_row(request, db_session, access, ASSET_TYPES, asset_type_id)

    @post("/asset-types/{asset_type_id:uuid}/delete", name="settings_asset_type_delete")
    async def asset_type_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        return await self._delete_row(request, db_session, access, ASSET_TYPES, asset_type_id)

    # ---- audit log ----

    @get("/audit", name="settings_audit")
    async def audit(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        action: FromQuery[str | None] = None,
        object_type: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        page_number: Annotated[int, QueryParameter(name="page", ge=1, le=100_000)] = 1,
    ) -> Template:
        errors: dict[str, str] = {}
        actor_id = uuid_or_none(actor) if actor else None
        if actor and actor_id is None:
            errors["actor"] = "Unknown user."
        filters = AuditFilter(
            action=(action or "").strip() or None,
            object_type=object_type or None,
            actor_id=actor_id,
            since=iso_date(since, "since", errors),
            until=iso_date(until, "until", errors),
        )
        results = await query_audit_log(db_session, access, filters, page=page_number)
        query = {
            key: value
            for key, value in (
                ("action", filters.action),
                ("object_type", filters.object_type),
                ("actor", str(actor_id) if actor_id else None),
                ("since", filters.since.isoformat() if filters.since else None),
                ("until", filters.until.isoformat() if filters.until else None),
            )
            if value
        }
        return page(
            request,
            "settings/audit.html",
            partial="settings/_audit_results.html",
            nav=NAV,
            section="audit",
            filters=filters,
            query=query,
            results=results,
            options=await audit_filter_options(db_session, access),
            errors=errors,
        )

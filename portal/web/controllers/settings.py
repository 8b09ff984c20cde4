"""Settings (administrators only): users, ticket reference data, asset types, and the audit log.

Every page works as plain forms and redirects; the audit log's filters and pages also swap in
place through HTMX. Validation errors re-render the form with messages beside the fields (422).
"""

from __future__ import annotations

import uuid
from datetime import date
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
from portal.domain.settings import asset_types, priorities, statuses, ticket_types
from portal.domain.settings.audit_log import AuditFilter, audit_filter_options, query_audit_log
from portal.domain.settings.overview import settings_overview
from portal.domain.tickets.models import Priority, Status
from portal.web.guards import requires_admin
from portal.web.pages import page

NAV = "settings"
NO_STORE = {"Cache-Control": "no-store"}  # pages showing a one-time password must not be kept anywhere

AnyRequest = Request[Any, Any, Any]


# ---- form parsing: typed values out, or messages for the fields that would not parse ----


def _text(form: FormMultiDict, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _flag(form: FormMultiDict, key: str) -> bool:
    return _text(form, key) in ("on", "true", "1", "yes")


def _int(form: FormMultiDict, key: str, errors: dict[str, str], *, optional: bool = False) -> int | None:
    raw = _text(form, key).strip()
    if not raw:
        if not optional:
            errors[key] = "Enter a whole number."
        return None
    try:
        return int(raw)
    except ValueError:
        errors[key] = "Enter a whole number" + (", or leave it empty." if optional else ".")
        return None


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def _values(form: FormMultiDict) -> dict[str, str]:
    """What was typed, to put back in the form beside the errors."""
    return {key: value for key, value in form.items() if isinstance(value, str) and key != "_csrf_token"}


def _staff_input(form: FormMultiDict) -> users.StaffUserInput:
    ids = {_uuid(raw) for raw in form.getall("client_ids", []) if isinstance(raw, str)}
    return users.StaffUserInput(
        display_name=_text(form, "display_name"),
        role=_text(form, "role"),
        all_clients=_text(form, "scope") != "limited",
        client_ids=frozenset(client_id for client_id in ids if client_id is not None),
    )


def _priority_input(form: FormMultiDict) -> priorities.PriorityInput:
    errors: dict[str, str] = {}
    rank = _int(form, "rank", errors)
    response = _int(form, "sla_response_minutes", errors, optional=True)
    resolve = _int(form, "sla_resolve_minutes", errors, optional=True)
    if errors:
        raise ValidationError(errors)
    assert rank is not None
    return priorities.PriorityInput(_text(form, "name"), rank, response, resolve)


def _status_input(form: FormMultiDict) -> statuses.StatusInput:
    errors: dict[str, str] = {}
    rank = _int(form, "rank", errors, optional=True)
    if errors:
        raise ValidationError(errors)
    return statuses.StatusInput(
        name=_text(form, "name"),
        is_closed=_flag(form, "is_closed"),
        is_resolved=_flag(form, "is_resolved"),
        rank=rank or 0,
    )


def _ticket_type_input(form: FormMultiDict) -> ticket_types.TicketTypeInput:
    return ticket_types.TicketTypeInput(
        name=_text(form, "name"),
        default_priority_id=_uuid(_text(form, "default_priority_id")),
        default_status_id=_uuid(_text(form, "default_status_id")),
        classification_required_on_close=_flag(form, "classification_required_on_close"),
    )


def _field_input(form: FormMultiDict) -> ticket_types.FieldInput:
    return ticket_types.FieldInput(
        label=_text(form, "label"),
        kind=_text(form, "kind"),
        choices=tuple(line for line in _text(form, "choices").splitlines() if line.strip()),
        required_on_close=_flag(form, "required_on_close"),
    )


def _asset_type_input(form: FormMultiDict) -> asset_types.AssetTypeInput:
    return asset_types.AssetTypeInput(name=_text(form, "name"), group_id=_uuid(_text(form, "group_id")))


def _date(raw: str | None, key: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[key] = "Use a date like 2026-01-31."
        return None


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
        data = _staff_input(form)
        try:
            created = await users.create_staff_user(
                db_session, access, _text(form, "email"), data, password=_text(form, "password") or None
            )
        except ValidationError as exc:
            values = _values(form)
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
        data = _staff_input(form)
        try:
            user = await users.update_user(db_session, access, user_id, data)
        except ValidationError as exc:
            user = await users.get_user(db_session, access, user_id)
            return await self._user_page(
                request,
                db_session,
                access,
                user,
                values=_values(form),
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
        chosen = _text(form, "password") if _text(form, "method") == "set" else None
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
            created = await ticket_types.create_ticket_type(db_session, access, _ticket_type_input(form))
        except ValidationError as exc:
            return await self._ticket_types_page(
                request, db_session, access, values=_values(form), errors=exc.fields, status_code=422
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
            updated = await ticket_types.update_ticket_type(
                db_session, access, ticket_type_id, _ticket_type_input(form)
            )
        except ValidationError as exc:
            return await self._ticket_type_page(
                request, db_session, access, ticket_type_id, values=_values(form), errors=exc.fields, status_code=422
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
            field = await ticket_types.add_custom_field(db_session, access, ticket_type_id, _field_input(form))
        except ValidationError as exc:
            return await self._ticket_type_page(
                request,
                db_session,
                access,
                ticket_type_id,
                field_values=_values(form),
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
        section: str,
        *,
        error_for: str | None = None,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        """``error_for`` is the id of the row whose form failed ("new" for the add form)."""
        context: dict[str, Any]
        if section == "priorities":
            context = {"rows": await priorities.list_priorities(db_session, access)}
        elif section == "statuses":
            context = {"rows": await statuses.list_statuses(db_session, access)}
        elif section == "asset_groups":
            context = {"rows": await asset_types.list_asset_groups(db_session, access)}
        else:
            groups = await asset_types.list_asset_groups(db_session, access)
            context = {
                "rows": await asset_types.list_asset_types(db_session, access),
                "groups": [row.group for row in groups],
            }
        return page(
            request,
            f"settings/{section}.html",
            nav=NAV,
            section=section,
            error_for=error_for,
            values=values or {},
            errors=errors or {},
            status_code=status_code,
            **context,
        )

    async def _refused(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        access: Scope,
        section: str,
        exc: ValidationError,
        error_for: str,
        form: FormMultiDict | None = None,
    ) -> Template:
        return await self._table_page(
            request,
            db_session,
            access,
            section,
            error_for=error_for,
            values=_values(form) if form is not None else None,
            errors=exc.fields,
            status_code=422,
        )

    @get("/priorities", name="settings_priorities")
    async def priorities_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, "priorities")

    @post("/priorities", name="settings_priority_create")
    async def priority_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await priorities.create_priority(db_session, access, _priority_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "priorities", exc, "new", form)
        flash(request, f"Priority “{created.name}” added.", category="success")
        return Redirect(path="/settings/priorities", status_code=303)

    @post("/priorities/{priority_id:uuid}", name="settings_priority_update")
    async def priority_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        priority_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await priorities.update_priority(db_session, access, priority_id, _priority_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "priorities", exc, str(priority_id), form)
        flash(request, f"Priority “{updated.name}” saved.", category="success")
        return Redirect(path="/settings/priorities", status_code=303)

    @post("/priorities/{priority_id:uuid}/delete", name="settings_priority_delete")
    async def priority_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        priority_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            await priorities.delete_priority(db_session, access, priority_id)
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "priorities", exc, str(priority_id))
        flash(request, "Priority deleted.", category="success")
        return Redirect(path="/settings/priorities", status_code=303)

    @get("/statuses", name="settings_statuses")
    async def statuses_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, "statuses")

    @post("/statuses", name="settings_status_create")
    async def status_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await statuses.create_status(db_session, access, _status_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "statuses", exc, "new", form)
        flash(request, f"Status “{created.name}” added.", category="success")
        return Redirect(path="/settings/statuses", status_code=303)

    @post("/statuses/{status_id:uuid}", name="settings_status_update")
    async def status_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        status_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await statuses.update_status(db_session, access, status_id, _status_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "statuses", exc, str(status_id), form)
        flash(request, f"Status “{updated.name}” saved.", category="success")
        return Redirect(path="/settings/statuses", status_code=303)

    @post("/statuses/{status_id:uuid}/delete", name="settings_status_delete")
    async def status_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        status_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            await statuses.delete_status(db_session, access, status_id)
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "statuses", exc, str(status_id))
        flash(request, "Status deleted.", category="success")
        return Redirect(path="/settings/statuses", status_code=303)

    @get("/asset-groups", name="settings_asset_groups")
    async def asset_groups_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, "asset_groups")

    @post("/asset-groups", name="settings_asset_group_create")
    async def asset_group_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await asset_types.create_asset_group(db_session, access, _text(form, "name"))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_groups", exc, "new", form)
        flash(request, f"Asset group “{created.name}” added.", category="success")
        return Redirect(path="/settings/asset-groups", status_code=303)

    @post("/asset-groups/{asset_group_id:uuid}", name="settings_asset_group_update")
    async def asset_group_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_group_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await asset_types.update_asset_group(db_session, access, asset_group_id, _text(form, "name"))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_groups", exc, str(asset_group_id), form)
        flash(request, f"Asset group “{updated.name}” saved.", category="success")
        return Redirect(path="/settings/asset-groups", status_code=303)

    @post("/asset-groups/{asset_group_id:uuid}/delete", name="settings_asset_group_delete")
    async def asset_group_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_group_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            await asset_types.delete_asset_group(db_session, access, asset_group_id)
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_groups", exc, str(asset_group_id))
        flash(request, "Asset group deleted.", category="success")
        return Redirect(path="/settings/asset-groups", status_code=303)

    @get("/asset-types", name="settings_asset_types")
    async def asset_types_list(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template:
        return await self._table_page(request, db_session, access, "asset_types")

    @post("/asset-types", name="settings_asset_type_create")
    async def asset_type_create(
        self, request: AnyRequest, db_session: NamedDependency[AsyncSession], access: NamedDependency[Scope]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            created = await asset_types.create_asset_type(db_session, access, _asset_type_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_types", exc, "new", form)
        flash(request, f"Asset type “{created.name}” added.", category="success")
        return Redirect(path="/settings/asset-types", status_code=303)

    @post("/asset-types/{asset_type_id:uuid}", name="settings_asset_type_update")
    async def asset_type_update(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            updated = await asset_types.update_asset_type(db_session, access, asset_type_id, _asset_type_input(form))
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_types", exc, str(asset_type_id), form)
        flash(request, f"Asset type “{updated.name}” saved.", category="success")
        return Redirect(path="/settings/asset-types", status_code=303)

    @post("/asset-types/{asset_type_id:uuid}/delete", name="settings_asset_type_delete")
    async def asset_type_delete(
        self,
        request: AnyRequest,
        db_session: NamedDependency[AsyncSession],
        access: NamedDependency[Scope],
        asset_type_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        try:
            await asset_types.delete_asset_type(db_session, access, asset_type_id)
        except ValidationError as exc:
            return await self._refused(request, db_session, access, "asset_types", exc, str(asset_type_id))
        flash(request, "Asset type deleted.", category="success")
        return Redirect(path="/settings/asset-types", status_code=303)

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
        actor_id = _uuid(actor) if actor else None
        if actor and actor_id is None:
            errors["actor"] = "Unknown user."
        filters = AuditFilter(
            action=(action or "").strip() or None,
            object_type=object_type or None,
            actor_id=actor_id,
            since=_date(since, "since", errors),
            until=_date(until, "until", errors),
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

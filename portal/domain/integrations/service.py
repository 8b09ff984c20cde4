"""Connections to vendors: setup, credentials, mappings, schedules and the webhook secret (admins only).

What a vendor needs is read from its manifest (:mod:`portal.integrations.manifest`): submitted
forms are validated against it, non-sensitive values land in ``Connection.config`` and sensitive
ones only in the encrypted ``secrets_ciphertext``. Secret values never reach the audit log: a
changed secret is recorded as "changed" and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from secrets import token_urlsafe
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.audit.service import record, record_change
from portal.domain.clients.models import Client, Site
from portal.domain.errors import NotFoundError, ValidationError
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.settings.common import clean_name, name_taken
from portal.domain.tickets.custom_fields import definitions as custom_field_definitions
from portal.domain.tickets.models import Priority, Status, TicketType
from portal.integrations.catalog import MANIFESTS
from portal.integrations.catalog import manifest as manifest_for
from portal.integrations.manifest import ConfigField, Manifest, validate
from portal.integrations.mapping_rules import mapping_problems
from portal.integrations.oauth import has_tokens

WEBHOOK_SECRET = "webhook_secret"  # noqa: S105  (the key under which the secret is stored, not a secret)
MAX_NAME = 120
MIN_MINUTES, MAX_MINUTES = 1, 1440
# What the audit log says of a secret: that it changed, never what it was or became.
SECRET_CHANGED = "changed"  # noqa: S105
SECRET_HIDDEN = "(hidden)"  # noqa: S105

Choices = dict[str, list[tuple[str, str]]]


@dataclass(frozen=True)
class ScheduleInput:
    """One entity's row of the schedules form, as typed."""

    enabled: bool
    minutes: str


def manifest_of(connection: Connection) -> Manifest:
    return manifest_for(connection.vendor)


def mapping_status(connection: Connection) -> list[str]:
    """Labels of the mandatory mappings still unset; the sync engine refuses to run until none are."""
    return manifest_of(connection).missing_mappings(connection.mappings)


# ---------------------------------------------------------------- reading


async def list_connections(session: AsyncSession, access: Scope) -> list[Connection]:
    access.require_admin()
    return list((await session.scalars(select(Connection).order_by(func.lower(Connection.name)))).all())


async def get_connection(session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> Connection:
    access.require_admin()
    connection = await session.get(Connection, connection_id)
    if connection is None:
        raise NotFoundError("connection")
    return connection


def stored_secrets(box: SecretBox, connection: Connection) -> dict[str, Any]:
    return box.open(connection.secrets_ciphertext)


# ---------------------------------------------------------------- audit views (never a secret value)


def _audit_view(connection: Connection) -> dict[str, Any]:
    return {"vendor": connection.vendor, "name": connection.name, "status": connection.status, **connection.config}


def _secret_marks(keys: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Before/after entries for secrets that changed: the fact of the change, never a value."""
    keys = list(keys)
    return dict.fromkeys(keys, SECRET_HIDDEN), dict.fromkeys(keys, SECRET_CHANGED)


async def _audit(
    session: AsyncSession,
    access: Scope,
    action: str,
    connection: Connection,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    await record_change(
        session,
        access,
        action,
        object_type="connection",
        object_id=connection.id,
        object_label=connection.name,
        before=before,
        after=after,
    )


# ---------------------------------------------------------------- create, update, enable, delete


async def _checked_name(
    session: AsyncSession, errors: dict[str, str], raw: str, existing: uuid.UUID | None = None
) -> str:
    name = clean_name(errors, raw, limit=MAX_NAME)
    if "name" not in errors and await name_taken(session, Connection.name, Connection.id, name, existing):
        errors["name"] = "Another connection already has this name."
    return name


async def _flush_name(session: AsyncSession) -> None:
    """Flush in a savepoint, so a name taken by a concurrent save is a field error, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationError({"name": "Another connection already has this name."}) from exc


def _initial_status(manifest: Manifest) -> tuple[str, str]:
    if manifest.oauth is not None:
        message = f"Not signed in yet: press Connect to authorise socdesk in {manifest.display_name}."
        return ConnectionStatus.NEEDS_REAUTH.value, message
    return ConnectionStatus.CONNECTED.value, ""


async def create_connection(
    session: AsyncSession,
    access: Scope,
    box: SecretBox,
    vendor: str,
    name: str,
    submitted: Mapping[str, str],
) -> Connection:
    """A new connection of ``vendor`` from its setup form; secrets are sealed, schedules start at the defaults."""
    access.require_admin()
    manifest = MANIFESTS.get(vendor)
    if manifest is None:
        raise ValidationError({"vendor": "Choose one of the listed vendors."})
    errors: dict[str, str] = {}
    name = await _checked_name(session, errors, name)
    checked = validate(manifest.fields, submitted)
    errors.update(checked.errors)
    if errors:
        raise ValidationError(errors)
    status, message = _initial_status(manifest)
    connection = Connection(
        vendor=vendor,
        name=name,
        status=status,
        status_message=message,
        config=checked.values,
        mappings={},
        schedules=manifest.default_schedules(),
        secrets_ciphertext=box.seal(checked.secrets),
    )
    session.add(connection)
    await _flush_name(session)
    await _audit(
        session,
        access,
        "integration.connection.create",
        connection,
        None,
        _audit_view(connection) | _secret_marks(checked.secrets)[1],
    )
    return connection


async def update_connection(
    session: AsyncSession,
    access: Scope,
    box: SecretBox,
    connection_id: uuid.UUID,
    name: str,
    submitted: Mapping[str, str],
) -> Connection:
    """Save the setup form; a secret left blank keeps the stored one."""
    connection = await get_connection(session, access, connection_id)
    manifest = manifest_of(connection)
    secrets = stored_secrets(box, connection)
    errors: dict[str, str] = {}
    name = await _checked_name(session, errors, name, connection.id)
    checked = validate(manifest.fields, submitted, stored_secrets=secrets)
    errors.update(checked.errors)
    if errors:
        raise ValidationError(errors)
    before = _audit_view(connection)
    changed_secrets = [key for key, value in checked.secrets.items() if secrets.get(key) != value]
    # Keys the form does not own (none today; an OAuth tenant id tomorrow) are kept as they are.
    own_keys = {spec.key for spec in manifest.fields}
    connection.name = name
    connection.config = {key: value for key, value in connection.config.items() if key not in own_keys} | checked.values
    if changed_secrets:
        connection.secrets_ciphertext = box.seal(secrets | checked.secrets)
    await _flush_name(session)
    hidden, changed = _secret_marks(changed_secrets)
    await _audit(
        session, access, "integration.connection.update", connection, before | hidden, _audit_view(connection) | changed
    )
    return connection


async def set_connection_enabled(
    session: AsyncSession, access: Scope, box: SecretBox, connection_id: uuid.UUID, *, enabled: bool
) -> Connection:
    """Disable (nothing syncs or is sent back) or enable again; an OAuth vendor never signed in needs Connect."""
    connection = await get_connection(session, access, connection_id)
    before = _audit_view(connection)
    if not enabled:
        connection.status, connection.status_message = ConnectionStatus.DISABLED.value, ""
    elif connection.status == ConnectionStatus.DISABLED.value:
        manifest = manifest_of(connection)
        if manifest.oauth is not None and not has_tokens(stored_secrets(box, connection)):
            connection.status, connection.status_message = _initial_status(manifest)
        else:
            connection.status, connection.status_message = ConnectionStatus.CONNECTED.value, ""
    action = "integration.connection.enable" if enabled else "integration.connection.disable"
    await _audit(session, access, action, connection, before, _audit_view(connection))
    return connection


async def delete_connection(session: AsyncSession, access: Scope, connection_id: uuid.UUID) -> None:
    """Delete the connection with its client links, sync states, logs and external links (tickets stay)."""
    connection = await get_connection(session, access, connection_id)
    await record(
        session,
        access,
        "integration.connection.delete",
        object_type="connection",
        object_id=connection.id,
        object_label=connection.name,
        before=_audit_view(connection),
    )
    await session.delete(connection)
    await session.flush()


# ---------------------------------------------------------------- mappings


async def _rows(session: AsyncSession, statement: Any) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in (await session.execute(statement)).all()]


async def mapping_choices(session: AsyncSession, fields: Iterable[ConfigField]) -> Choices:
    """The socdesk rows the ``choices_from`` fields (and table columns) among ``fields`` pick from, as (id, label)."""
    fields = list(fields)
    needed = {spec.choices_from for spec in fields} | {col.choices_from for spec in fields for col in spec.columns}
    choices: Choices = {}
    if "ticket_types" in needed:
        choices["ticket_types"] = await _rows(session, select(TicketType.id, TicketType.name).order_by(TicketType.name))
    if "priorities" in needed:
        choices["priorities"] = await _rows(session, select(Priority.id, Priority.name).order_by(Priority.rank))
    if "statuses" in needed:
        choices["statuses"] = await _rows(session, select(Status.id, Status.name).order_by(Status.rank, Status.name))
    if "agents" in needed:
        choices["agents"] = await _rows(
            session,
            select(User.id, User.display_name + " (" + User.email + ")")
            .where(User.is_active.is_(True), User.role.in_([Role.ADMIN.value, Role.ANALYST.value]))
            .order_by(func.lower(User.display_name), User.email),
        )
    if "ticket_custom_fields" in needed:
        # Keyed by the field's key: a key names the same value on every ticket type that defines it.
        labels: dict[str, str] = {}
        for type_name, raw in (await session.execute(select(TicketType.name, TicketType.custom_fields))).all():
            for definition in custom_field_definitions(raw):
                labels.setdefault(definition.key, f"{definition.label} ({type_name})")
        choices["ticket_custom_fields"] = sorted(labels.items(), key=lambda item: item[1].casefold())
    if "asset_types" in needed:
        choices["asset_types"] = await _rows(session, select(AssetType.id, AssetType.name).order_by(AssetType.name))
    if "asset_groups" in needed:
        choices["asset_groups"] = await _rows(session, select(AssetGroup.id, AssetGroup.name).order_by(AssetGroup.name))
    if "sites" in needed:
        choices["sites"] = await _rows(
            session,
            select(Site.id, Client.name + " / " + Site.name)
            .join(Client, Client.id == Site.client_id)
            .order_by(func.lower(Client.name), Site.is_main.desc(), Site.name),
        )
    return choices


async def update_mappings(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, submitted: Mapping[str, str]
) -> Connection:
    """Which socdesk ticket type, priorities, statuses... the vendor's records become."""
    connection = await get_connection(session, access, connection_id)
    fields = manifest_of(connection).mapping_fields
    checked = validate(fields, submitted, dynamic_choices=await mapping_choices(session, fields))
    errors = checked.errors or mapping_problems(connection.vendor, checked.values)
    if errors:
        raise ValidationError(errors)
    before = dict(connection.mappings)
    connection.mappings = checked.values
    await record_change(
        session,
        access,
        "integration.mappings.update",
        object_type="connection",
        object_id=connection.id,
        object_label=connection.name,
        before={spec.key: before.get(spec.key) for spec in fields},
        after={spec.key: checked.values.get(spec.key) for spec in fields},
    )
    return connection


# ---------------------------------------------------------------- schedules


async def update_schedules(
    session: AsyncSession, access: Scope, connection_id: uuid.UUID, submitted: Mapping[str, ScheduleInput]
) -> Connection:
    """Per entity: whether it runs on a schedule, and every how many minutes (1 to 1440)."""
    connection = await get_connection(session, access, connection_id)
    manifest = manifest_of(connection)
    errors: dict[str, str] = {}
    schedules: dict[str, dict[str, Any]] = {}
    for spec in manifest.entities:
        row = submitted.get(spec.name, ScheduleInput(enabled=False, minutes=str(spec.default_minutes)))
        try:
            minutes = int(row.minutes.strip())
        except ValueError:
            minutes = 0
        if not MIN_MINUTES <= minutes <= MAX_MINUTES:
            errors[f"{spec.name}_minutes"] = f"Enter a whole number of minutes from {MIN_MINUTES} to {MAX_MINUTES}."
        schedules[spec.name] = {"enabled": row.enabled, "minutes": minutes}
    if errors:
        raise ValidationError(errors)
    before = {name: dict(value) for name, value in connection.schedules.items()}
    connection.schedules = schedules
    await record_change(
        session,
        access,
        "integration.schedules.update",
        object_type="connection",
        object_id=connection.id,
        object_label=connection.name,
        before={name: before.get(name) for name in schedules},
        after=schedules,
    )
    return connection


# ---------------------------------------------------------------- webhook secret


def reconcile_schedules(manifest: Manifest, schedules: Mapping[str, Any]) -> dict[str, Any]:
    """The schedules once webhooks deliver changes: entities with ``webhook_minutes`` poll that
    seldom (a reconcile for lost deliveries), unless their interval was changed from the default."""
    updated = dict(schedules)
    for spec in manifest.entities:
        entry = dict(updated.get(spec.name) or {})
        if spec.webhook_minutes and entry.get("minutes", spec.default_minutes) == spec.default_minutes:
            updated[spec.name] = {
                "enabled": entry.get("enabled", spec.enabled_by_default),
                "minutes": spec.webhook_minutes,
            }
    return updated


async def rotate_webhook_secret(session: AsyncSession, access: Scope, box: SecretBox, connection_id: uuid.UUID) -> str:
    """A new webhook signing secret, stored encrypted and returned this once (to paste into the vendor)."""
    connection = await get_connection(session, access, connection_id)
    if not manifest_of(connection).webhook:
        raise ValidationError({"webhook": "This vendor does not send webhooks."})
    secret = token_urlsafe(32)
    connection.secrets_ciphertext = box.seal(stored_secrets(box, connection) | {WEBHOOK_SECRET: secret})
    if connection.webhook_secret_set_at is None:
        connection.schedules = reconcile_schedules(manifest_of(connection), connection.schedules)
    connection.webhook_secret_set_at = utcnow()
    hidden, changed = _secret_marks([WEBHOOK_SECRET])
    await record_change(
        session,
        access,
        "integration.webhook_secret.rotate",
        object_type="connection",
        object_id=connection.id,
        object_label=connection.name,
        before=hidden,
        after=changed,
    )
    return secret

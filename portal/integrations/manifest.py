"""What a vendor declares about itself; the setup forms, validation and masking follow from it."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


class FieldKind(enum.StrEnum):
    TEXT = "text"
    URL = "url"
    SECRET = "secret"  # noqa: S105  (a field kind, not a password)
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    TABLE = "table"  # rows of columns (a remote value -> a socdesk row, a path -> a custom field...)


@dataclass(frozen=True)
class TableColumn:
    """One column of a ``FieldKind.TABLE`` field: free text, or a choice like a CHOICE field's."""

    key: str
    label: str
    kind: FieldKind = FieldKind.TEXT  # TEXT or CHOICE
    choices: Sequence[tuple[str, str]] = ()
    choices_from: str = ""
    placeholder: str = ""


@dataclass(frozen=True)
class ConfigField:
    key: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = False
    hint: str = ""
    default: Any = None
    choices: Sequence[tuple[str, str]] = ()  # (value, label)
    minimum: int | None = None
    maximum: int | None = None
    # Choices that are socdesk's own rows, filled in when the form is built:
    # "ticket_types", "priorities", "statuses", "agents", "sites".
    choices_from: str = ""
    # TABLE fields: the columns; a row's first column is its key and must be unique. Stored as a
    # list of {column key: value}; submitted as "<key>.<row>.<column>" form fields.
    columns: Sequence[TableColumn] = ()
    max_rows: int = 50

    @property
    def sensitive(self) -> bool:
        """Sensitive values are stored encrypted and never shown back, logged or audited."""
        return self.kind is FieldKind.SECRET


@dataclass(frozen=True)
class EntitySpec:
    """Something the vendor syncs (incidents, threats, agents...)."""

    name: str
    label: str
    default_minutes: int = 15
    enabled_by_default: bool = True
    per_client: bool = True  # runs once per linked client; False: once per connection
    first_sync_days: int = 7  # how far back the first run looks
    overlap_seconds: int = 300  # re-read this much before the watermark (late indexing)
    # Once the connection receives webhooks, polling is only a reconcile safety net: this many
    # minutes becomes the schedule (unless someone set one). None: webhooks change nothing.
    webhook_minutes: int | None = None


@dataclass(frozen=True)
class OAuthSpec:
    """Authorization-code flow with PKCE; URLs are joined to the config value ``base_key``."""

    authorize_path: str
    token_path: str
    scopes: Sequence[str]
    base_key: str
    openid: bool = False  # ask for an id_token and send a nonce
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    vendor: str
    display_name: str
    summary: str
    fields: Sequence[ConfigField]
    client_fields: Sequence[ConfigField] = ()
    mapping_fields: Sequence[ConfigField] = ()
    entities: Sequence[EntitySpec] = ()
    oauth: OAuthSpec | None = None
    # The client field whose value is a link's remote scope (the tenant, site or workspace that
    # webhooks and imports name); unset: the first required text or choice field.
    scope_field: str = ""
    # A remote scope made of several client fields (a Sentinel workspace is subscription, resource
    # group and name): always derived from them, never typed. Takes precedence over scope_field.
    scope_of: Callable[[Mapping[str, Any]], str] | None = None
    webhook: bool = False
    # Ticket changes this vendor accepts back: comment, close, reopen, priority, create.
    outbound: frozenset[str] = frozenset()
    ticket_remote_type: str = ""  # the remote type tickets of this vendor link to
    setup_help: str = ""
    docs_url: str = ""

    def entity(self, name: str) -> EntitySpec:
        for spec in self.entities:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def missing_mappings(self, mappings: Mapping[str, Any]) -> list[str]:
        """Labels of the mandatory mappings not yet set: the sync refuses to run until they are."""
        unset: tuple[Any, ...] = (None, "", [])
        return [spec.label for spec in self.mapping_fields if spec.required and mappings.get(spec.key) in unset]

    def default_schedules(self) -> dict[str, dict[str, Any]]:
        return {
            spec.name: {"enabled": spec.enabled_by_default, "minutes": spec.default_minutes} for spec in self.entities
        }


@dataclass(frozen=True)
class Validated:
    values: dict[str, Any]  # non-sensitive, stored as JSON
    secrets: dict[str, str]  # sensitive, stored encrypted; only the ones the person typed
    errors: dict[str, str]


def _clean_one(spec: ConfigField, raw: str, choices: Sequence[tuple[str, str]]) -> tuple[Any, str | None]:
    if spec.kind is FieldKind.BOOLEAN:
        return raw.lower() in {"1", "true", "on", "yes"}, None
    if not raw:
        return None, (f"{spec.label} is required." if spec.required else None)
    if len(raw) > 4000:
        return None, f"{spec.label} is too long."
    if spec.kind is FieldKind.INTEGER:
        try:
            number = int(raw)
        except ValueError:
            return None, f"{spec.label} must be a whole number."
        if spec.minimum is not None and number < spec.minimum:
            return None, f"{spec.label} must be at least {spec.minimum}."
        if spec.maximum is not None and number > spec.maximum:
            return None, f"{spec.label} must be at most {spec.maximum}."
        return number, None
    if spec.kind is FieldKind.URL:
        parts = urlsplit(raw)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            return None, f"{spec.label} must be an http(s) address, e.g. https://console.example.com."
        if parts.query or parts.fragment or parts.username:
            return None, f"{spec.label} must be a plain address without credentials, query or fragment."
        return raw.rstrip("/"), None
    if spec.kind is FieldKind.CHOICE and raw not in {value for value, _ in choices}:
        return None, f"Choose one of the listed values for {spec.label}."
    return raw, None


def table_rows(spec: ConfigField, source: Mapping[str, Any]) -> list[dict[str, str]]:
    """A TABLE field's rows from stored values (a list under its key) or from a submitted form
    (flat ``<key>.<row>.<column>`` values, in row order); rows with every column blank are left out."""
    stored = source.get(spec.key)
    if isinstance(stored, list):
        return [
            {column.key: str(row.get(column.key) or "") for column in spec.columns}
            for row in stored
            if isinstance(row, Mapping)
        ]
    prefix = f"{spec.key}."
    by_row: dict[int, dict[str, str]] = {}
    for name, raw in source.items():
        if not name.startswith(prefix):
            continue
        index, _, column = name[len(prefix) :].partition(".")
        if index.isdigit() and any(column == col.key for col in spec.columns):
            by_row.setdefault(int(index), {})[column] = str(raw).strip()
    rows = [{col.key: by_row[index].get(col.key, "") for col in spec.columns} for index in sorted(by_row)]
    return [row for row in rows if any(row.values())]


def _clean_table(
    spec: ConfigField, submitted: Mapping[str, Any], dynamic: Mapping[str, Sequence[tuple[str, str]]]
) -> tuple[list[dict[str, str]], str | None]:
    rows = table_rows(spec, submitted)
    if len(rows) > spec.max_rows:
        return rows, f"{spec.label}: at most {spec.max_rows} rows."
    if spec.required and not rows:
        return rows, f"{spec.label} needs at least one row."
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        for column in spec.columns:
            value = row[column.key]
            if not value:
                return rows, f"{spec.label}, row {number}: fill in {column.label}, or clear the whole row."
            if len(value) > 1000:
                return rows, f"{spec.label}, row {number}: {column.label} is too long."
            choices = dynamic.get(column.choices_from, ()) if column.choices_from else column.choices
            if column.kind is FieldKind.CHOICE and value not in {choice for choice, _ in choices}:
                return rows, f"{spec.label}, row {number}: choose one of the listed values for {column.label}."
        key = row[spec.columns[0].key].casefold()
        if key in seen:
            return rows, f"{spec.label}, row {number}: {row[spec.columns[0].key]} is listed twice."
        seen.add(key)
    return rows, None


def validate(
    fields: Sequence[ConfigField],
    submitted: Mapping[str, str],
    *,
    stored_secrets: Mapping[str, Any] | None = None,
    dynamic_choices: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> Validated:
    """Check submitted form values against the manifest.

    A secret left blank keeps the stored one (forms never show secrets back), so "required"
    is satisfied by a value already on file. ``dynamic_choices`` supplies the choices of
    fields with ``choices_from`` (keyed by that name).
    """
    stored = stored_secrets or {}
    values: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in fields:
        raw = str(submitted.get(spec.key, "")).strip()
        if spec.sensitive:
            if raw:
                secrets[spec.key] = raw
            elif spec.required and not stored.get(spec.key):
                errors[spec.key] = f"{spec.label} is required."
            continue
        if spec.kind is FieldKind.TABLE:
            rows, problem = _clean_table(spec, submitted, dynamic_choices or {})
            if problem:
                errors[spec.key] = problem
            values[spec.key] = rows
            continue
        if not raw and spec.default is not None and spec.kind is not FieldKind.BOOLEAN:
            raw = str(spec.default)
        choices = (dynamic_choices or {}).get(spec.choices_from, ()) if spec.choices_from else spec.choices
        value, problem = _clean_one(spec, raw, choices)
        if problem:
            errors[spec.key] = problem
        elif value is not None:
            values[spec.key] = value
    return Validated(values=values, secrets=secrets, errors=errors)


def masked(fields: Sequence[ConfigField], values: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, str]:
    """What a page may show: plain values as they are, secrets only as set / not set."""
    shown: dict[str, str] = {}
    for spec in fields:
        if spec.sensitive:
            shown[spec.key] = "•••••• (set)" if secrets.get(spec.key) else "not set"
        elif spec.kind is FieldKind.TABLE:
            count = len(table_rows(spec, values))
            shown[spec.key] = f"{count} row" + ("" if count == 1 else "s")
        else:
            value = values.get(spec.key, spec.default)
            shown[spec.key] = "" if value is None else str(value)
    return shown

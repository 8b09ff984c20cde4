"""The integrations forms, read: manifest-driven values, client links, schedules and watermarks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from litestar.datastructures import FormMultiDict

from portal.domain.clients.models import Site
from portal.domain.errors import ValidationError
from portal.domain.integrations.client_links import LinkInput
from portal.domain.integrations.service import ScheduleInput
from portal.integrations.manifest import ConfigField, FieldKind, Manifest
from portal.web.controllers.settings_forms import flag, typed_values, uuid_or_none
from portal.web.forms import text

WATERMARK_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def shown_again(form: FormMultiDict, fields: Sequence[ConfigField]) -> dict[str, str]:
    """What was typed, to show beside the errors: everything but the secrets (never sent back)."""
    secret_keys = {spec.key for spec in fields if spec.sensitive}
    return {key: value for key, value in typed_values(form).items() if key not in secret_keys}


def site_options(sites: Iterable[Site]) -> list[tuple[str, str]]:
    """A link form's site choices, the main site marked."""
    return [(str(site.id), site.name + (" (main)" if site.is_main else "")) for site in sites]


def _client_settings(form: FormMultiDict, manifest: Manifest) -> dict[str, str]:
    """The client fields as typed; a table field's cells come as ``<key>.<row>.<column>``."""
    settings = {spec.key: text(form, spec.key) for spec in manifest.client_fields if spec.kind is not FieldKind.TABLE}
    tables = tuple(f"{spec.key}." for spec in manifest.client_fields if spec.kind is FieldKind.TABLE)
    if tables:
        settings |= {key: value for key, value in typed_values(form).items() if key.startswith(tables)}
    return settings


def link_input(form: FormMultiDict, manifest: Manifest) -> LinkInput:
    return LinkInput(
        site_id=uuid_or_none(text(form, "site_id")) if text(form, "site_id") else None,
        remote_scope=text(form, "remote_scope"),
        remote_name=text(form, "remote_name"),
        settings=_client_settings(form, manifest),
    )


def schedule_input(form: FormMultiDict, manifest: Manifest) -> dict[str, ScheduleInput]:
    """``<entity>_enabled`` (a checkbox) and ``<entity>_minutes`` for each entity of the vendor."""
    return {
        spec.name: ScheduleInput(enabled=flag(form, f"{spec.name}_enabled"), minutes=text(form, f"{spec.name}_minutes"))
        for spec in manifest.entities
    }


def watermark_input(form: FormMultiDict) -> datetime | None:
    """A UTC time as typed (a ``datetime-local`` input), or None for "clear"."""
    raw = text(form, "watermark").strip()
    if text(form, "clear") or not raw:
        return None
    for pattern in WATERMARK_FORMATS:
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValidationError({"watermark": "Use a UTC time like 2026-01-31T08:30."})

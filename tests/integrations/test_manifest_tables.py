"""TABLE manifest fields: rows read from a form or from storage, validated, rendered back."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from portal.integrations.manifest import (
    ConfigField,
    FieldKind,
    Manifest,
    TableColumn,
    masked,
    table_rows,
    validate,
)

PROJECT = Path(__file__).resolve().parents[2]

FIELDS = (
    ConfigField(
        "custom_fields",
        "Custom field mappings",
        FieldKind.TABLE,
        columns=(
            TableColumn("path", "Incident property"),
            TableColumn("field", "Ticket custom field", FieldKind.CHOICE, choices_from="ticket_custom_fields"),
        ),
        max_rows=3,
    ),
)
CHOICES = {"ticket_custom_fields": [("tenant", "Tenant (Alert)"), ("product", "Product (Alert)")]}


def test_rows_come_from_the_form_in_row_order_and_blank_rows_are_dropped() -> None:
    submitted = {
        "custom_fields.10.path": "properties.providerName",
        "custom_fields.10.field": "product",
        "custom_fields.2.path": " properties.labels ",
        "custom_fields.2.field": "tenant",
        "custom_fields.3.path": "",
        "custom_fields.3.field": "",
        "custom_fields.x.path": "ignored: not a row number",
        "custom_fields.4.other": "ignored: not a column",
        "other": "ignored",
    }
    checked = validate(FIELDS, submitted, dynamic_choices=CHOICES)
    assert checked.errors == {}
    assert checked.values == {
        "custom_fields": [
            {"path": "properties.labels", "field": "tenant"},
            {"path": "properties.providerName", "field": "product"},
        ]
    }


def test_stored_rows_read_back_the_same() -> None:
    stored = {"custom_fields": [{"path": "a", "field": "tenant"}, "not a row"]}
    assert table_rows(FIELDS[0], stored) == [{"path": "a", "field": "tenant"}]


def test_a_half_filled_row_names_the_row_and_the_missing_column() -> None:
    checked = validate(FIELDS, {"custom_fields.0.path": "a", "custom_fields.0.field": ""}, dynamic_choices=CHOICES)
    assert checked.errors == {
        "custom_fields": "Custom field mappings, row 1: fill in Ticket custom field, or clear the whole row."
    }


def test_an_unknown_choice_is_refused() -> None:
    checked = validate(FIELDS, {"custom_fields.0.path": "a", "custom_fields.0.field": "nope"}, dynamic_choices=CHOICES)
    assert checked.errors["custom_fields"].endswith("choose one of the listed values for Ticket custom field.")


def test_a_key_listed_twice_is_refused_whatever_its_case() -> None:
    submitted = {
        "custom_fields.0.path": "Props.A",
        "custom_fields.0.field": "tenant",
        "custom_fields.1.path": "props.a",
        "custom_fields.1.field": "product",
    }
    checked = validate(FIELDS, submitted, dynamic_choices=CHOICES)
    assert checked.errors == {"custom_fields": "Custom field mappings, row 2: props.a is listed twice."}


def test_too_many_rows_are_refused() -> None:
    submitted = {f"custom_fields.{n}.{col}": f"v{n}" for n in range(4) for col in ("path", "field")}
    checked = validate(FIELDS, submitted, dynamic_choices={"ticket_custom_fields": [(f"v{n}", "") for n in range(4)]})
    assert checked.errors == {"custom_fields": "Custom field mappings: at most 3 rows."}


def test_a_required_table_needs_a_row_and_counts_as_a_missing_mapping() -> None:
    required = (ConfigField("pairs", "Pairs", FieldKind.TABLE, required=True, columns=(TableColumn("k", "Key"),)),)
    assert validate(required, {}).errors == {"pairs": "Pairs needs at least one row."}
    manifest = Manifest(vendor="x", display_name="X", summary="", fields=(), mapping_fields=required)
    assert manifest.missing_mappings({"pairs": []}) == ["Pairs"]
    assert manifest.missing_mappings({"pairs": [{"k": "v"}]}) == []


def test_masking_counts_rows() -> None:
    assert masked(FIELDS, {"custom_fields": [{"path": "a", "field": "b"}]}, {}) == {"custom_fields": "1 row"}


def _render(values: dict[str, object], errors: dict[str, str]) -> str:
    env = Environment(loader=FileSystemLoader(PROJECT / "templates"), autoescape=True)
    env.globals["table_rows"] = table_rows
    template = env.from_string(
        '{% from "integrations/_macros.html" import config_fields %}'
        "{{ config_fields(fields, values, errors, id_prefix='m-', choices=choices) }}"
    )
    return template.render(fields=FIELDS, values=values, errors=errors, choices=CHOICES)


def test_the_form_shows_stored_rows_selected_plus_blank_rows_up_to_the_limit() -> None:
    html = _render({"custom_fields": [{"path": "properties.labels", "field": "tenant"}]}, {})
    assert 'name="custom_fields.0.path" id="m-custom_fields-0-path" value="properties.labels"' in html
    assert '<option value="tenant" selected>Tenant (Alert)</option>' in html
    assert 'name="custom_fields.2.path"' in html  # 1 stored + blanks, capped at max_rows (3)
    assert 'name="custom_fields.3.path"' not in html


def test_a_refused_form_shows_what_was_typed_and_the_message() -> None:
    html = _render({"custom_fields.0.path": "typed.path", "custom_fields.0.field": ""}, {"custom_fields": "Row 1: no."})
    assert 'value="typed.path"' in html
    assert '<p class="field-error" id="m-custom_fields-error">Row 1: no.</p>' in html


def test_the_scope_field_names_a_links_remote_scope() -> None:
    from portal.domain.integrations.client_links import default_remote_scope

    fields = (ConfigField("tenant", "Tenant", required=True), ConfigField("workspace", "Workspace", required=True))
    conventional = Manifest(vendor="x", display_name="X", summary="", fields=(), client_fields=fields)
    explicit = Manifest(
        vendor="x", display_name="X", summary="", fields=(), client_fields=fields, scope_field="workspace"
    )
    settings = {"tenant": "t-1", "workspace": "ws-1"}
    assert default_remote_scope(conventional, settings) == "t-1"
    assert default_remote_scope(explicit, settings) == "ws-1"

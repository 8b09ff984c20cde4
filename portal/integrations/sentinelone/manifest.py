from __future__ import annotations

from portal.integrations.manifest import ConfigField, EntitySpec, FieldKind, Manifest, TableColumn

VERDICT_CHOICES = (
    ("true_positive", "True positive"),
    ("suspicious", "Suspicious"),
    ("false_positive", "False positive"),
    ("undefined", "Undefined"),
)
# socdesk closure classification -> the SentinelOne analyst verdict it becomes (each one editable).
VERDICT_DEFAULTS = {
    "TruePositive": "true_positive",
    "BenignPositive": "suspicious",
    "FalsePositive": "false_positive",
    "Undetermined": "undefined",
}
ASSET_FIELDS = (
    ("device_uuid", "Device UUID (the agent UUID)"),
    ("serial", "Serial number"),
    ("hostname", "Host name"),
    ("name", "Asset name"),
)
RULE_OPERATORS = (
    ("equals", "equals"),
    ("not_equals", "does not equal"),
    ("contains", "contains"),
    ("starts_with", "starts with"),
    ("is_set", "has any value"),
    ("names_type", "names the type (its value is the type's name)"),
)

SETUP_HELP = (
    "Enter the address you open the SentinelOne console at and an API token. A console user's token "
    "expires after about a month; a service user's lasts as long as you choose, so prefer one: in the "
    "console open Settings → Users → Service users → Actions → Create new service user, set its expiry, "
    "give it Account scope and a role that can view endpoints, accounts, threats and alerts and resolve "
    "them, then copy the token it shows once. (A console user's token: your profile → Actions → API token "
    "operations → Generate API token; that user needs Admin rights.) Test connection shows whose token it is "
    "and when it expires; sync health warns 7 days before."
)

MANIFEST = Manifest(
    vendor="sentinelone",
    display_name="SentinelOne",
    summary="Endpoints as assets, threats and alerts as tickets, resolved in SentinelOne when closed here.",
    fields=(
        ConfigField(
            "console_url",
            "Console address",
            FieldKind.URL,
            required=True,
            hint="The address of your SentinelOne console, e.g. https://usea1-example.sentinelone.net.",
        ),
        ConfigField("api_token", "API token", FieldKind.SECRET, required=True, hint="A service user's token is best."),
        ConfigField(
            "page_size",
            "Page size",
            FieldKind.INTEGER,
            default=200,
            minimum=1,
            maximum=1000,
            hint="Records per request (SentinelOne allows up to 1000).",
        ),
        ConfigField(
            "alert_lookback_days",
            "Alert look-back (days)",
            FieldKind.INTEGER,
            default=3,
            minimum=1,
            maximum=30,
            hint="Alerts can only be filtered by creation time: changes to alerts this recent are followed.",
        ),
    ),
    client_fields=(
        ConfigField(
            "s1_id",
            "SentinelOne account or site id",
            required=True,
            hint="The numeric id of the account (or site) whose endpoints, threats and alerts are this client's.",
        ),
        ConfigField(
            "kind",
            "It is a SentinelOne",
            FieldKind.CHOICE,
            default="account",
            choices=(("account", "Account"), ("site", "Site")),
        ),
    ),
    scope_field="s1_id",
    mapping_fields=(
        ConfigField(
            "matching_method",
            "Customer matching method",
            FieldKind.CHOICE,
            required=True,
            default="account",
            choices=(("account", "SentinelOne account → client"), ("site", "SentinelOne site → client")),
            hint="One SentinelOne account per customer, or one account with a site per customer.",
        ),
        ConfigField(
            "ticket_type",
            "Ticket type for threats and alerts",
            FieldKind.CHOICE,
            required=True,
            choices_from="ticket_types",
            hint="Priority, status and the rest default from this type.",
        ),
        ConfigField(
            "default_user",
            "Assign new tickets to",
            FieldKind.CHOICE,
            choices_from="agents",
            hint="A generic user is best; leave blank for unassigned.",
        ),
        ConfigField(
            "default_site",
            "Default site",
            FieldKind.CHOICE,
            choices_from="sites",
            hint="Where endpoints, threats and alerts of an unmapped SentinelOne site go (threats are flagged).",
        ),
        *(
            ConfigField(
                f"verdict_{classification}",
                f"Verdict when closed as {label}",
                FieldKind.CHOICE,
                default=VERDICT_DEFAULTS[classification],
                choices=VERDICT_CHOICES,
            )
            for classification, label in (
                ("TruePositive", "true positive"),
                ("BenignPositive", "benign positive"),
                ("FalsePositive", "false positive"),
                ("Undetermined", "undetermined (or unclassified)"),
            )
        ),
        ConfigField(
            "asset_match_field",
            "Asset matching field",
            FieldKind.CHOICE,
            default="device_uuid",
            choices=ASSET_FIELDS,
            hint="The asset field that identifies an endpoint; existing assets with the same value are updated.",
        ),
        ConfigField(
            "keep_asset_site",
            "Don't update the site of existing or matched assets",
            FieldKind.BOOLEAN,
            hint="An asset keeps the site it was first given, wherever the endpoint moves in SentinelOne.",
        ),
        ConfigField(
            "field_mappings",
            "Asset field mappings",
            FieldKind.TABLE,
            columns=(
                TableColumn("s1_field", "SentinelOne field", placeholder="e.g. osName or networkInterfaces.0.inet.0"),
                TableColumn("asset_field", "socdesk field", placeholder="hostname, serial, name, or a custom field"),
            ),
            hint="By default uuid → device UUID, computerName → name and host name, serialNumber → serial; "
            "any other socdesk field name is kept as a custom (imported) field.",
        ),
        ConfigField(
            "type_method",
            "Determining an asset's type",
            FieldKind.CHOICE,
            default="same",
            choices=(
                ("same", "The same type for all assets"),
                ("field", "A SentinelOne field names each asset's type"),
                ("rules", "Rules on field values"),
            ),
        ),
        ConfigField("default_asset_type", "Default asset type", FieldKind.CHOICE, choices_from="asset_types"),
        ConfigField(
            "type_field", "Field naming the type", hint="e.g. machineType; a type that does not exist is created."
        ),
        ConfigField(
            "default_asset_group",
            "Asset group for new types",
            FieldKind.CHOICE,
            choices_from="asset_groups",
            hint="Types created from a field's value go in this group.",
        ),
        ConfigField(
            "type_rules",
            "Asset type rules",
            FieldKind.TABLE,
            columns=(
                TableColumn("rule", "Rule", placeholder="a name, e.g. Laptops"),
                TableColumn("field", "SentinelOne field", placeholder="e.g. machineType"),
                TableColumn("operator", "Match", FieldKind.CHOICE, choices=RULE_OPERATORS),
                TableColumn("value", "Value", placeholder="e.g. laptop (any text for 'names the type')"),
                TableColumn("asset_type", "Asset type", FieldKind.CHOICE, choices_from="asset_types"),
            ),
            hint="The first rule that matches decides; none: the default type.",
        ),
        ConfigField(
            "dont_create_assets", "Don't create new assets", FieldKind.BOOLEAN, hint="Only update matched ones."
        ),
        ConfigField(
            "new_asset_status",
            "Status of new assets",
            FieldKind.CHOICE,
            default="active",
            choices=(("active", "Active"), ("inactive", "Inactive")),
        ),
        ConfigField(
            "deactivate_deleted",
            "Deactivate assets deleted in SentinelOne",
            FieldKind.BOOLEAN,
            hint="On scheduled endpoint syncs: an asset whose endpoint is gone becomes inactive.",
        ),
    ),
    entities=(
        EntitySpec("threats", "Threats", default_minutes=5, per_client=False, first_sync_days=7, overlap_seconds=300),
        EntitySpec("alerts", "Alerts", default_minutes=5, per_client=False, first_sync_days=3, overlap_seconds=300),
        EntitySpec("agents", "Endpoints (assets)", default_minutes=1440, per_client=False, first_sync_days=3650),
    ),
    outbound=frozenset({"comment", "close", "reopen", "status"}),
    ticket_remote_type="threat",
    setup_help=SETUP_HELP,
)

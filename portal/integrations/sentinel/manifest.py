"""What a Sentinel connection asks for: the Entra app, the cloud, the API version, the mappings."""

from __future__ import annotations

from portal.domain.tickets.classification import LABELS, Classification, ClassificationReason
from portal.integrations.manifest import ConfigField, EntitySpec, FieldKind, Manifest, TableColumn
from portal.integrations.tenant_oauth import CloudPreset, TenantOAuthSpec

DEFAULT_API_VERSION = "2025-06-01"
SEVERITIES = ("High", "Medium", "Low", "Informational")
STATUSES = ("New", "Active", "Closed")

# Per cloud: the identity platform, ARM, and the resources the delegated scopes name.
CLOUDS: dict[str, tuple[str, str, str, str]] = {
    # key: (label, login base, ARM base, Log Analytics resource)
    "public": ("Azure (public)", "https://login.microsoftonline.com", "https://management.azure.com",
               "https://api.loganalytics.io"),
    "usgov": ("Azure US Government", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
              "https://api.loganalytics.us"),
    "china": ("Azure China (21Vianet)", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn",
              "https://api.loganalytics.azure.cn"),
}  # fmt: skip


def arm_scope(cloud: str) -> str:
    return f"{CLOUDS.get(cloud, CLOUDS['public'])[2]}/user_impersonation"


def log_analytics_scope(cloud: str) -> str:
    return f"{CLOUDS.get(cloud, CLOUDS['public'])[3]}/Data.Read"


def _preset(cloud: str) -> CloudPreset:
    _, login, _, _ = CLOUDS[cloud]
    return CloudPreset(
        login_base=login,
        # Consent is collected for both resources at once; the token endpoint takes one at a time.
        scopes=("openid", "profile", "offline_access", arm_scope(cloud), log_analytics_scope(cloud)),
        token_scopes=(arm_scope(cloud), "offline_access", "openid", "profile"),
    )


def workspace_scope(subscription: str, resource_group: str, workspace: str) -> str:
    """A workspace as a link's remote scope and in remote ids: lower case, as ARM compares ids."""
    return f"{subscription.strip()}/{resource_group.strip()}/{workspace.strip()}".lower()


def default_arm_base(cloud: str) -> str:
    return CLOUDS.get(cloud, CLOUDS["public"])[2]


_CLASSIFICATIONS = tuple((value.value, LABELS[value]) for value in Classification)
_REASONS = tuple((value.value, LABELS[value]) for value in ClassificationReason)

CUSTOM_FIELDS = ConfigField(
    "custom_fields", "Custom field mappings", FieldKind.TABLE,
    columns=(
        TableColumn("path", "Incident property path", placeholder="properties.additionalData.tactics"),
        TableColumn("field", "Ticket custom field", FieldKind.CHOICE, choices_from="ticket_custom_fields"),
    ),
    hint="Copy an incident value into a custom field of the ticket (lists are joined with commas).",
)  # fmt: skip

MANIFEST = Manifest(
    vendor="sentinel",
    display_name="Microsoft Sentinel",
    summary="Incidents of each client's Sentinel workspace as tickets; comments and closures sync both ways.",
    fields=(
        ConfigField(
            "client_id",
            "Application (client) id",
            required=True,
            hint="Of a multi-tenant app registration in your own Entra ID tenant.",
        ),
        ConfigField("client_secret", "Client secret", FieldKind.SECRET, required=True, hint="A secret of that app."),
        ConfigField(
            "cloud",
            "Cloud",
            FieldKind.CHOICE,
            required=True,
            default="public",
            choices=tuple((key, label) for key, (label, _, _, _) in CLOUDS.items()),
            hint="Presets the sign-in and Azure Resource Manager addresses below.",
        ),
        ConfigField(
            "login_url",
            "Sign-in address",
            FieldKind.URL,
            hint="Leave blank for the cloud's own (e.g. https://login.microsoftonline.com).",
        ),
        ConfigField(
            "arm_url",
            "Azure Resource Manager address",
            FieldKind.URL,
            hint="Leave blank for the cloud's own (e.g. https://management.azure.com).",
        ),
        ConfigField(
            "api_version",
            "SecurityInsights api-version",
            default=DEFAULT_API_VERSION,
            hint=f"The Microsoft.SecurityInsights API version; {DEFAULT_API_VERSION} unless you need another.",
        ),
        ConfigField(
            "page_size",
            "Incidents per request",
            FieldKind.INTEGER,
            default=200,
            minimum=1,
            maximum=1000,
            hint="$top of each list call (Sentinel allows at most 1000).",
        ),
    ),
    client_fields=(
        ConfigField("tenant_id", "Tenant id", required=True, hint="The customer's Entra ID tenant (a GUID)."),
        ConfigField("subscription_id", "Subscription id", required=True),
        ConfigField("resource_group", "Resource group", required=True),
        ConfigField("workspace_name", "Workspace name", required=True, hint="The Log Analytics workspace of Sentinel."),
        ConfigField(
            "comments_only",
            "Only import comments",
            FieldKind.BOOLEAN,
            hint="Never create tickets from incidents; only add Sentinel comments to tickets already linked.",
        ),
    ),
    mapping_fields=(
        ConfigField(
            "ticket_type",
            "Ticket type for Sentinel incidents",
            FieldKind.CHOICE,
            required=True,
            choices_from="ticket_types",
        ),
        ConfigField(
            "default_classification",
            "Default closure classification",
            FieldKind.CHOICE,
            required=True,
            choices=_CLASSIFICATIONS,
            hint="Used when a ticket is closed without a classification.",
        ),
        ConfigField(
            "default_reason",
            "Default classification reason",
            FieldKind.CHOICE,
            choices=_REASONS,
            hint="Must suit the default classification (none for Undetermined).",
        ),
        ConfigField(
            "priority_High", "Priority for High severity", FieldKind.CHOICE, required=True, choices_from="priorities"
        ),
        ConfigField(
            "priority_Medium",
            "Priority for Medium severity",
            FieldKind.CHOICE,
            required=True,
            choices_from="priorities",
        ),
        ConfigField(
            "priority_Low",
            "Priority for Low severity",
            FieldKind.CHOICE,
            required=True,
            choices_from="priorities",
        ),
        ConfigField(
            "priority_Informational",
            "Priority for Informational severity",
            FieldKind.CHOICE,
            required=True,
            choices_from="priorities",
        ),
        ConfigField(
            "status_New",
            "Status for New incidents",
            FieldKind.CHOICE,
            choices_from="statuses",
            hint="Both ways: a ticket moved to this status sets its incident back to New.",
        ),
        ConfigField(
            "status_Active",
            "Status for Active incidents",
            FieldKind.CHOICE,
            choices_from="statuses",
            hint="Both ways: a ticket moved to this status sets its incident Active.",
        ),
        ConfigField(
            "match_owner",
            "Match the incident owner to a staff member",
            FieldKind.BOOLEAN,
            default=True,
            hint="By email (or user principal name), else by display name.",
        ),
        CUSTOM_FIELDS,
    ),
    entities=(
        EntitySpec(
            "incidents", "Incidents", default_minutes=15, first_sync_days=7, overlap_seconds=300, webhook_minutes=60
        ),
    ),
    oauth=TenantOAuthSpec(
        authorize_path="/{tenant}/oauth2/v2.0/authorize",
        token_path="/{tenant}/oauth2/v2.0/token",  # noqa: S106  (a URL path, not a password)
        scopes=_preset("public").scopes,
        token_scopes=_preset("public").token_scopes,
        base_key="login_url",
        openid=True,
        extra_authorize_params={"response_mode": "query", "prompt": "select_account"},
        default_tenant="organizations",
        account_claim="tid",
        preset_key="cloud",
        presets={cloud: _preset(cloud) for cloud in CLOUDS},
    ),
    webhook=True,
    outbound=frozenset({"comment", "close", "reopen", "priority", "status", "create"}),
    ticket_remote_type="incident",
    scope_of=lambda settings: workspace_scope(
        str(settings.get("subscription_id") or ""),
        str(settings.get("resource_group") or ""),
        str(settings.get("workspace_name") or ""),
    ),
    setup_help=(
        "Register a multi-tenant application in your Entra ID tenant with a Web redirect address (below) "
        "and the delegated permissions listed, create a client secret, enter both here and save. Then sign in "
        "once for each customer tenant with an account that holds Microsoft Sentinel Responder (or Contributor) "
        "on the customer's workspace."
    ),
    docs_url="https://learn.microsoft.com/rest/api/securityinsights/incidents",
)

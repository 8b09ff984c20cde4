from __future__ import annotations

from portal.integrations.manifest import ConfigField, EntitySpec, FieldKind, Manifest, OAuthSpec

MANIFEST = Manifest(
    vendor="acme",
    display_name="Acme Cases (test vendor)",
    summary="A built-in case-management API used to prove and demonstrate the sync engine.",
    fields=(
        ConfigField("api_url", "API address", FieldKind.URL, required=True, hint="Base address of the Acme API."),
        ConfigField(
            "login_url", "Sign-in address", FieldKind.URL, required=True, hint="Base address of Acme's OAuth server."
        ),
        ConfigField("client_id", "Application (client) id", required=True),
        ConfigField("client_secret", "Client secret", FieldKind.SECRET, required=True),
        ConfigField(
            "page_size", "Page size", FieldKind.INTEGER, default=100, minimum=1, maximum=500, hint="Cases per request."
        ),
    ),
    client_fields=(
        ConfigField("tenant", "Acme tenant", required=True, hint="The Acme tenant whose cases belong to this client."),
        ConfigField("comments_only", "Only import comments", FieldKind.BOOLEAN, hint="Never create tickets."),
    ),
    mapping_fields=(
        ConfigField(
            "ticket_type", "Ticket type for cases", FieldKind.CHOICE, required=True, choices_from="ticket_types"
        ),
        ConfigField("priority_high", "Priority for high severity", FieldKind.CHOICE, choices_from="priorities"),
        ConfigField("priority_medium", "Priority for medium severity", FieldKind.CHOICE, choices_from="priorities"),
        ConfigField("priority_low", "Priority for low severity", FieldKind.CHOICE, choices_from="priorities"),
    ),
    entities=(EntitySpec("cases", "Cases", default_minutes=15, first_sync_days=7, overlap_seconds=300),),
    oauth=OAuthSpec(
        authorize_path="/oauth/authorize",
        token_path="/oauth/token",  # noqa: S106  (a URL path, not a password)
        scopes=("openid", "cases.read", "cases.write", "offline_access"),
        base_key="login_url",
        openid=True,
    ),
    webhook=True,
    outbound=frozenset({"comment", "close", "reopen", "priority"}),
    ticket_remote_type="case",
    setup_help=(
        "Register socdesk as an application in Acme with the redirect address shown below, "
        "then enter its client id and secret and sign in."
    ),
)

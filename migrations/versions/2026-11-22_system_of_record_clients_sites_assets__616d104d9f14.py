"""system of record: clients, sites, assets, tickets, scopes, tokens, audit

Revision ID: 616d104d9f14
Revises: ca002d7e1300
Create Date: 2026-11-22 04:37:44.676441+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "616d104d9f14"
down_revision: str | None = "ca002d7e1300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset_groups",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_asset_groups_name")),
    )
    op.create_table(
        "clients",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_clients_name")),
    )
    op.create_table(
        "external_links",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("local_type", sa.String(length=32), nullable=False),
        sa.Column("local_id", sa.Uuid(), nullable=False),
        sa.Column("remote_type", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=512), nullable=False),
        sa.Column("remote_url", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_links")),
    )
    op.create_index("ix_external_links_local", "external_links", ["local_type", "local_id"], unique=False)
    op.create_index(
        "uq_external_links_remote", "external_links", ["connection_id", "remote_type", "remote_id"], unique=True
    )
    op.create_table(
        "priorities",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("sla_response_minutes", sa.Integer(), nullable=True),
        sa.Column("sla_resolve_minutes", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priorities")),
        sa.UniqueConstraint("name", name=op.f("uq_priorities_name")),
        sa.UniqueConstraint("rank", name=op.f("uq_priorities_rank")),
    )
    op.create_table(
        "statuses",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("is_closed", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_resolved", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("rank", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("NOT is_resolved OR is_closed", name=op.f("ck_statuses_resolved_implies_closed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statuses")),
        sa.UniqueConstraint("name", name=op.f("uq_statuses_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "asset_types",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["asset_groups.id"], name=op.f("fk_asset_types_group_id_asset_groups"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_types")),
        sa.UniqueConstraint("name", name=op.f("uq_asset_types_name")),
    )
    op.create_index(op.f("ix_asset_types_group_id"), "asset_types", ["group_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("object_label", sa.String(length=500), server_default="", nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_audit_log_client_id_clients"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_client_id"), "audit_log", ["client_id"], unique=False)
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"], unique=False)
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"], unique=False)
    op.create_table(
        "sites",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_main", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_sites_client_id_clients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index(op.f("ix_sites_client_id"), "sites", ["client_id"], unique=False)
    op.create_index("uq_sites_client_id_name", "sites", ["client_id", "name"], unique=True)
    op.create_index(
        "uq_sites_one_main_per_client", "sites", ["client_id"], unique=True, postgresql_where=sa.text("is_main")
    )
    op.create_table(
        "ticket_types",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("default_priority_id", sa.Uuid(), nullable=False),
        sa.Column("default_status_id", sa.Uuid(), nullable=False),
        sa.Column("custom_fields", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("classification_required_on_close", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["default_priority_id"],
            ["priorities.id"],
            name=op.f("fk_ticket_types_default_priority_id_priorities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["default_status_id"],
            ["statuses.id"],
            name=op.f("fk_ticket_types_default_status_id_statuses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_types")),
        sa.UniqueConstraint("name", name=op.f("uq_ticket_types_name")),
    )
    op.create_table(
        "user_clients",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_user_clients_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_clients_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_user_clients")),
    )
    op.create_index(op.f("ix_user_clients_client_id"), "user_clients", ["client_id"], unique=False)
    op.create_table(
        "assets",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("asset_type_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("serial", sa.String(length=255), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("device_uuid", sa.String(length=64), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f("ck_assets_status_known")),
        sa.ForeignKeyConstraint(
            ["asset_type_id"], ["asset_types.id"], name=op.f("fk_assets_asset_type_id_asset_types"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_assets_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_assets_site_id_sites"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    op.create_index(op.f("ix_assets_asset_type_id"), "assets", ["asset_type_id"], unique=False)
    op.create_index("ix_assets_client_id_name", "assets", ["client_id", "name"], unique=False)
    op.create_index("ix_assets_hostname", "assets", ["hostname"], unique=False)
    op.create_index("ix_assets_serial", "assets", ["serial"], unique=False)
    op.create_index(op.f("ix_assets_site_id"), "assets", ["site_id"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False, start=1001), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_type_id", sa.Uuid(), nullable=False),
        sa.Column("priority_id", sa.Uuid(), nullable=False),
        sa.Column("status_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("details", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.String(length=32), server_default="manual", nullable=False),
        sa.Column("custom_fields", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("classification", sa.String(length=64), nullable=True),
        sa.Column("classification_reason", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "source IN ('manual', 'api', 'sentinel', 'sentinelone', 'kaseya', 'visionone')",
            name=op.f("ck_tickets_source_known"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_tickets_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_tickets_asset_id_assets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tickets_client_id_clients"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["priority_id"], ["priorities.id"], name=op.f("fk_tickets_priority_id_priorities"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_tickets_site_id_sites"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["status_id"], ["statuses.id"], name=op.f("fk_tickets_status_id_statuses"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_type_id"],
            ["ticket_types.id"],
            name=op.f("fk_tickets_ticket_type_id_ticket_types"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_tickets_number")),
    )
    op.create_index("ix_tickets_agent_id", "tickets", ["agent_id"], unique=False)
    op.create_index("ix_tickets_asset_id", "tickets", ["asset_id"], unique=False)
    op.create_index("ix_tickets_client_id_updated_at", "tickets", ["client_id", "updated_at"], unique=False)
    op.create_index("ix_tickets_opened_at_id", "tickets", ["opened_at", "id"], unique=False)
    op.create_index("ix_tickets_status_id_opened_at", "tickets", ["status_id", "opened_at"], unique=False)
    op.create_index("ix_tickets_updated_at_id", "tickets", ["updated_at", "id"], unique=False)
    op.create_table(
        "ticket_actions",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("external_author", sa.String(length=255), nullable=True),
        sa.Column("sync_to_source", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("visibility", sa.String(length=16), server_default="internal", nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('note', 'status_change', 'priority_change', 'assignment', 'closure', 'reopen', 'created')",
            name=op.f("ck_ticket_actions_kind_known"),
        ),
        sa.CheckConstraint("visibility IN ('internal', 'external')", name=op.f("ck_ticket_actions_visibility_known")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_ticket_actions_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_actions_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_actions")),
    )
    op.create_index(
        "ix_ticket_actions_ticket_id_created_at", "ticket_actions", ["ticket_id", "created_at"], unique=False
    )
    op.add_column("users", sa.Column("all_clients", sa.Boolean(), server_default="true", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "all_clients")
    op.drop_index("ix_ticket_actions_ticket_id_created_at", table_name="ticket_actions")
    op.drop_table("ticket_actions")
    op.drop_index("ix_tickets_status_id_opened_at", table_name="tickets")
    op.drop_index("ix_tickets_updated_at_id", table_name="tickets")
    op.drop_index("ix_tickets_opened_at_id", table_name="tickets")
    op.drop_index("ix_tickets_client_id_updated_at", table_name="tickets")
    op.drop_index("ix_tickets_asset_id", table_name="tickets")
    op.drop_index("ix_tickets_agent_id", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_assets_site_id"), table_name="assets")
    op.drop_index("ix_assets_serial", table_name="assets")
    op.drop_index("ix_assets_hostname", table_name="assets")
    op.drop_index("ix_assets_client_id_name", table_name="assets")
    op.drop_index(op.f("ix_assets_asset_type_id"), table_name="assets")
    op.drop_table("assets")
    op.drop_index(op.f("ix_user_clients_client_id"), table_name="user_clients")
    op.drop_table("user_clients")
    op.drop_table("ticket_types")
    op.drop_index("uq_sites_one_main_per_client", table_name="sites", postgresql_where=sa.text("is_main"))
    op.drop_index("uq_sites_client_id_name", table_name="sites")
    op.drop_index(op.f("ix_sites_client_id"), table_name="sites")
    op.drop_table("sites")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_index("ix_audit_log_created_at", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_client_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_asset_types_group_id"), table_name="asset_types")
    op.drop_table("asset_types")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("statuses")
    op.drop_table("priorities")
    op.drop_index("uq_external_links_remote", table_name="external_links")
    op.drop_index("ix_external_links_local", table_name="external_links")
    op.drop_table("external_links")
    op.drop_table("clients")
    op.drop_table("asset_groups")

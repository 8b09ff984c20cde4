"""dashboard: covering index for the open-ticket figures

Revision ID: c3e8f5a1d2b4
Revises: b7d41c2e9a10
Create Date: 2026-12-02 07:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3e8f5a1d2b4"
down_revision: str | None = "b7d41c2e9a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_status_id_cover",
        "tickets",
        ["status_id"],
        unique=False,
        postgresql_include=["priority_id", "client_id", "agent_id", "opened_at", "first_response_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_status_id_cover", table_name="tickets")

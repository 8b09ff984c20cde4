"""dashboard: index tickets by closing time

Revision ID: b7d41c2e9a10
Revises: ed35b05bfe4f
Create Date: 2026-12-02 06:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d41c2e9a10"
down_revision: str | None = "ed35b05bfe4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tickets_closed_at", table_name="tickets")

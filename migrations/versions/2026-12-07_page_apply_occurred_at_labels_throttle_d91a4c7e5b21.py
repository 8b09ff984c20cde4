"""page-level apply: actions keep the source's time, links the source's name, states the vendor's wait

Revision ID: d91a4c7e5b21
Revises: c3e8f5a1d2b4
Create Date: 2026-12-07 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d91a4c7e5b21"
down_revision: str | None = "c3e8f5a1d2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ticket_actions",
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    # Every action so far happened when it was recorded.
    op.execute("UPDATE ticket_actions SET occurred_at = created_at")
    op.create_index("ix_ticket_actions_ticket_id_occurred_at", "ticket_actions", ["ticket_id", "occurred_at"])
    op.drop_index("ix_ticket_actions_ticket_id_created_at", table_name="ticket_actions")
    op.add_column("external_links", sa.Column("remote_label", sa.String(length=255), nullable=True))
    op.add_column("sync_states", sa.Column("throttled_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("sync_states", "throttled_until")
    op.drop_column("external_links", "remote_label")
    op.create_index("ix_ticket_actions_ticket_id_created_at", "ticket_actions", ["ticket_id", "created_at"])
    op.drop_index("ix_ticket_actions_ticket_id_occurred_at", table_name="ticket_actions")
    op.drop_column("ticket_actions", "occurred_at")

from __future__ import annotations

import uuid

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey


class ExternalLink(UUIDPrimaryKey, Timestamps, Base):
    """Which remote object a local row mirrors.

    One remote object maps to one local row per connection: the unique key is what makes
    repeated or concurrent imports idempotent. ``connection_id`` gains its foreign key when
    connections arrive with the integrations framework.
    """

    __tablename__ = "external_links"
    __table_args__ = (
        Index("uq_external_links_remote", "connection_id", "remote_type", "remote_id", unique=True),
        Index("ix_external_links_local", "local_type", "local_id"),
    )

    connection_id: Mapped[uuid.UUID]
    local_type: Mapped[str] = mapped_column(String(32))  # client, site, asset, ticket, ticket_action
    local_id: Mapped[uuid.UUID]
    remote_type: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(512))
    remote_url: Mapped[str | None] = mapped_column(Text)

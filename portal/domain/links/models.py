from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey


class ExternalLink(UUIDPrimaryKey, Timestamps, Base):
    """Which remote object a local row mirrors.

    One remote object maps to one local row per connection: the unique key is what makes
    repeated or concurrent imports idempotent. A link is also how echoes are recognised: what
    socdesk wrote remotely (a comment) is linked to the local row it came from, so the next
    import finds it already known. ``fingerprint`` is a hash of the remote fields last applied,
    so an import of an unchanged object changes nothing.
    """

    __tablename__ = "external_links"
    __table_args__ = (
        Index("uq_external_links_remote", "connection_id", "remote_type", "remote_id", unique=True),
        Index("ix_external_links_local", "local_type", "local_id"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    local_type: Mapped[str] = mapped_column(String(32))  # client, site, asset, ticket, ticket_action
    local_id: Mapped[uuid.UUID]
    remote_type: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(512))
    remote_url: Mapped[str | None] = mapped_column(Text)
    # The source's own name for the object, as people say it ("Incident 42", a threat's name).
    remote_label: Mapped[str | None] = mapped_column(String(255))
    remote_modified_at: Mapped[datetime | None]
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16), default="remote", server_default="remote")  # remote | local

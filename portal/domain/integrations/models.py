"""Connections to customers' security tools, and which socdesk clients each one serves."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey

if TYPE_CHECKING:
    from portal.domain.clients.models import Client, Site


class ConnectionStatus(enum.StrEnum):
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    ERROR = "error"
    DISABLED = "disabled"


class Connection(UUIDPrimaryKey, Timestamps, Base):
    """One console, tenant or app of a vendor. Many per vendor (multi-tenant MSPs).

    ``config`` holds the manifest's non-sensitive fields (base URLs, options); everything
    sensitive (API tokens, client secrets, OAuth tokens, the webhook secret) lives only in
    ``secrets_ciphertext``, encrypted with :mod:`portal.domain.integrations.secrets`.
    ``schedules`` is ``{entity: {"enabled": bool, "minutes": int}}``.
    """

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint("status IN ('connected', 'needs_reauth', 'error', 'disabled')", name="status_known"),
    )

    vendor: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.CONNECTED.value)
    status_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    mappings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    schedules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    secrets_ciphertext: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Read from the vendor (token details) or the OAuth grant; drives the expiry warning.
    credential_expires_at: Mapped[datetime | None]
    access_token_expires_at: Mapped[datetime | None]
    webhook_secret_set_at: Mapped[datetime | None]

    client_links: Mapped[list[ClientLink]] = relationship(
        back_populates="connection", cascade="all, delete-orphan", order_by="ClientLink.created_at"
    )


class ClientLink(UUIDPrimaryKey, Timestamps, Base):
    """A socdesk client served by a connection, with the vendor's per-client settings.

    ``remote_scope`` names the remote side of the mapping (a Sentinel workspace, a SentinelOne
    account or site, a Kaseya organisation); one client may be fed by several remote scopes.
    """

    __tablename__ = "connection_clients"
    __table_args__ = (
        Index("uq_connection_clients_scope", "connection_id", "client_id", "remote_scope", unique=True),
        Index("ix_connection_clients_client_id", "client_id"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    remote_scope: Mapped[str] = mapped_column(String(255), default="", server_default="")
    remote_name: Mapped[str] = mapped_column(String(255), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(default=True, server_default="true")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    connection: Mapped[Connection] = relationship(back_populates="client_links")
    client: Mapped[Client] = relationship()
    site: Mapped[Site | None] = relationship()

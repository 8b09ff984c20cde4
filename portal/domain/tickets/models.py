from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey, utcnow

if TYPE_CHECKING:
    from portal.domain.accounts.models import User
    from portal.domain.assets.models import Asset
    from portal.domain.clients.models import Client, Site


class TicketSource(enum.StrEnum):
    MANUAL = "manual"
    API = "api"
    SENTINEL = "sentinel"
    SENTINELONE = "sentinelone"
    KASEYA = "kaseya"
    VISIONONE = "visionone"
    ACME = "acme"  # the built-in test vendor that proves the sync engine


class ActionKind(enum.StrEnum):
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    PRIORITY_CHANGE = "priority_change"
    DETAILS_CHANGE = "details_change"
    ASSIGNMENT = "assignment"
    CLOSURE = "closure"
    REOPEN = "reopen"
    CREATED = "created"


class Visibility(enum.StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


class Priority(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "priorities"

    name: Mapped[str] = mapped_column(String(60), unique=True)
    rank: Mapped[int] = mapped_column(unique=True)  # 1 is the most urgent
    sla_response_minutes: Mapped[int | None]
    sla_resolve_minutes: Mapped[int | None]


class Status(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "statuses"
    __table_args__ = (CheckConstraint("NOT is_resolved OR is_closed", name="resolved_implies_closed"),)

    name: Mapped[str] = mapped_column(String(60), unique=True)
    is_closed: Mapped[bool] = mapped_column(default=False, server_default="false")
    is_resolved: Mapped[bool] = mapped_column(default=False, server_default="false")
    rank: Mapped[int] = mapped_column(default=0, server_default="0")


class TicketType(UUIDPrimaryKey, Timestamps, Base):
    """A kind of ticket, with its defaults and its own custom fields.

    ``custom_fields`` is a list of ``{"key", "label", "kind" (text|number|choice|date),
    "choices", "required_on_close"}``; see ``portal.domain.tickets.custom_fields``.
    """

    __tablename__ = "ticket_types"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    default_priority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("priorities.id", ondelete="RESTRICT"))
    default_status_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("statuses.id", ondelete="RESTRICT"))
    custom_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    classification_required_on_close: Mapped[bool] = mapped_column(default=False, server_default="false")

    default_priority: Mapped[Priority] = relationship(foreign_keys=[default_priority_id])
    default_status: Mapped[Status] = relationship(foreign_keys=[default_status_id])


class Ticket(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(
            "source IN ('manual', 'api', 'sentinel', 'sentinelone', 'kaseya', 'visionone', 'acme')",
            name="source_known",
        ),
        # The queue's keyset pagination and per-client counts read these.
        Index("ix_tickets_client_id_updated_at", "client_id", "updated_at"),
        Index("ix_tickets_status_id_opened_at", "status_id", "opened_at"),
        Index("ix_tickets_agent_id", "agent_id"),
        Index("ix_tickets_asset_id", "asset_id"),
        Index("ix_tickets_opened_at_id", "opened_at", "id"),
        Index("ix_tickets_updated_at_id", "updated_at", "id"),
        # The dashboard's time-to-close and closed-per-day figures read tickets by closing time.
        Index("ix_tickets_closed_at", "closed_at"),
        # Open tickets by priority, client, assignee and SLA clock, read from the index alone.
        Index(
            "ix_tickets_status_id_cover",
            "status_id",
            postgresql_include=["priority_id", "client_id", "agent_id", "opened_at", "first_response_at"],
        ),
    )

    number: Mapped[int] = mapped_column(BigInteger, Identity(start=1001), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    ticket_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket_types.id", ondelete="RESTRICT"))
    priority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("priorities.id", ondelete="RESTRICT"))
    status_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("statuses.id", ondelete="RESTRICT"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(500))
    details: Mapped[str] = mapped_column(Text, default="", server_default="")
    source: Mapped[str] = mapped_column(String(32), default=TicketSource.MANUAL.value, server_default="manual")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    classification: Mapped[str | None] = mapped_column(String(64))
    classification_reason: Mapped[str | None] = mapped_column(String(128))

    client: Mapped[Client] = relationship()
    site: Mapped[Site] = relationship()
    asset: Mapped[Asset | None] = relationship()
    ticket_type: Mapped[TicketType] = relationship()
    priority: Mapped[Priority] = relationship()
    status: Mapped[Status] = relationship()
    agent: Mapped[User | None] = relationship()
    actions: Mapped[list[TicketAction]] = relationship(
        back_populates="ticket", order_by="TicketAction.occurred_at", cascade="all, delete-orphan"
    )


class TicketAction(UUIDPrimaryKey, Timestamps, Base):
    """Something that happened to a ticket: a note, a change, a closure.

    The author is a staff user, or an external system named in ``external_author``
    (e.g. the Sentinel analyst whose comment was imported).
    """

    __tablename__ = "ticket_actions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('note', 'status_change', 'priority_change', 'details_change', 'assignment', 'closure', 'reopen', "
            "'created')",
            name="kind_known",
        ),
        CheckConstraint("visibility IN ('internal', 'external')", name="visibility_known"),
        Index("ix_ticket_actions_ticket_id_occurred_at", "ticket_id", "occurred_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    external_author: Mapped[str | None] = mapped_column(String(255))
    sync_to_source: Mapped[bool] = mapped_column(default=False, server_default="false")
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.INTERNAL.value, server_default="internal")
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # When it happened where it happened: an imported comment keeps the time it was written at the
    # source (``created_at`` is when socdesk imported it). The timeline sorts by this.
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    ticket: Mapped[Ticket] = relationship(back_populates="actions")
    author: Mapped[User | None] = relationship()

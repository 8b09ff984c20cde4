"""The sync engine's own records: cursors, runs, the outbox, and the request/event/failure logs."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class SyncTrigger(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    WEBHOOK = "webhook"
    CLI = "cli"
    ITEM = "item"


class RunOutcome(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, but some items failed (recorded in ``problems``)
    FAILED = "failed"


class SyncState(UUIDPrimaryKey, Timestamps, Base):
    """Where one sync scope (connection x client link x entity) stands.

    ``watermark`` is the newest remote change time the last *completed* run committed; a run
    reads from ``watermark - overlap``. While a run is under way, ``page_token`` and
    ``run_high_water`` carry it from page to page; the watermark moves only when the run ends.
    """

    __tablename__ = "sync_states"
    __table_args__ = (
        Index(
            "uq_sync_states_scope",
            "connection_id",
            "client_link_id",
            "entity",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    client_link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connection_clients.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    watermark: Mapped[datetime | None]
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    page_token: Mapped[str | None] = mapped_column(Text)
    run_high_water: Mapped[datetime | None]
    newest_remote_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    consecutive_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    next_run_at: Mapped[datetime | None]
    # Until when the vendor asked us to wait (its Retry-After), while it throttles this scope.
    throttled_until: Mapped[datetime | None]


class SyncRun(UUIDPrimaryKey, Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'succeeded', 'partial', 'failed')", name="outcome_known"),
        CheckConstraint("trigger IN ('schedule', 'manual', 'webhook', 'cli', 'item')", name="trigger_known"),
        Index("ix_sync_runs_connection_id_started_at", "connection_id", "started_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    client_link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connection_clients.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(16))
    triggered_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16), default=RunOutcome.RUNNING.value)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    # Items that could not be applied: [{"remote_id", "error"}]; each can be re-synced by hand.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # The earliest change time among failed items: the watermark stays below it so they are retried.
    hold_watermark_before: Mapped[datetime | None]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up: shown on sync health, can be retried by hand


class OutboxMessage(UUIDPrimaryKey, Timestamps, Base):
    """A change made in socdesk that must reach the source, written in the same transaction.

    ``idempotency_key`` is stable across redeliveries: vendors that accept client-chosen ids
    get it as the remote id, so a retry after a crash cannot write twice.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_ticket_id", "ticket_id"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    ticket_action_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_actions.id", ondelete="SET NULL"))
    operation: Mapped[str] = mapped_column(String(40))  # comment, close, reopen, severity, create
    remote_type: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(512))  # the remote object the change applies to
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    idempotency_key: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    produced_remote_id: Mapped[str | None] = mapped_column(String(512))
    delivered_at: Mapped[datetime | None]


class OutboundRequest(Base):
    """Every call socdesk made to a vendor, redacted: no tokens, secrets or passwords."""

    __tablename__ = "outbound_requests"
    __table_args__ = (Index("ix_outbound_requests_connection_id_id", "connection_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    correlation_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error_kind: Mapped[str | None] = mapped_column(String(32))
    request_excerpt: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")


class InboundEvent(UUIDPrimaryKey, Base):
    """A webhook delivery as received, before and whatever its processing outcome."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        Index("uq_inbound_events_delivery", "connection_id", "delivery_id", unique=True),
        Index("ix_inbound_events_connection_id_received_at", "connection_id", "received_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery_id: Mapped[str] = mapped_column(String(200))
    signature: Mapped[str] = mapped_column(String(16))  # valid, invalid, missing
    size: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(32))  # queued, duplicate, rejected, ignored
    detail: Mapped[str] = mapped_column(Text, default="")
    body_excerpt: Mapped[str] = mapped_column(Text, default="")


class FailedJob(UUIDPrimaryKey, Base):
    """A background job that failed for good (arq keeps no dead letters)."""

    __tablename__ = "failed_jobs"
    __table_args__ = (Index("ix_failed_jobs_failed_at", "failed_at"),)

    task: Mapped[str] = mapped_column(String(80))
    job_id: Mapped[str] = mapped_column(String(300))
    args: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    tries: Mapped[int]
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retried_at: Mapped[datetime | None]
    retried_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

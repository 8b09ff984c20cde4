from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey


class WorkerHeartbeat(UUIDPrimaryKey, Timestamps, Base):
    """The last beat of each worker process, written by the worker's heartbeat cron job."""

    __tablename__ = "worker_heartbeats"

    worker_name: Mapped[str] = mapped_column(String(200), unique=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    last_beat_at: Mapped[datetime]
    beats: Mapped[int] = mapped_column(default=0, server_default="0")

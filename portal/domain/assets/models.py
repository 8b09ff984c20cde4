from __future__ import annotations

import enum
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey

if TYPE_CHECKING:
    from portal.domain.clients.models import Site


class AssetStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class AssetGroup(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "asset_groups"

    name: Mapped[str] = mapped_column(String(120), unique=True)


class AssetType(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "asset_types"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset_groups.id", ondelete="RESTRICT"), index=True)

    group: Mapped[AssetGroup] = relationship()


class Asset(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive')", name="status_known"),
        Index("ix_assets_client_id_name", "client_id", "name"),
        Index("ix_assets_hostname", "hostname"),
        Index("ix_assets_serial", "serial"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    asset_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset_types.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=AssetStatus.ACTIVE.value, server_default="active")
    serial: Mapped[str | None] = mapped_column(String(255))
    hostname: Mapped[str | None] = mapped_column(String(255))
    device_uuid: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    asset_type: Mapped[AssetType] = relationship()
    site: Mapped[Site] = relationship()

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey


class Client(UUIDPrimaryKey, Timestamps, Base):
    """A customer of the MSP."""

    __tablename__ = "clients"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    reference: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")

    sites: Mapped[list[Site]] = relationship(
        back_populates="client", order_by="(Site.is_main.desc(), Site.name)", cascade="all, delete-orphan"
    )


class Site(UUIDPrimaryKey, Timestamps, Base):
    """A location of a client; every client has exactly one main site."""

    __tablename__ = "sites"
    __table_args__ = (
        Index("uq_sites_client_id_name", "client_id", "name", unique=True),
        # At most one main site per client, enforced by the database.
        Index("uq_sites_one_main_per_client", "client_id", unique=True, postgresql_where=text("is_main")),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_main: Mapped[bool] = mapped_column(default=False, server_default="false")
    address: Mapped[str] = mapped_column(Text, default="", server_default="")

    client: Mapped[Client] = relationship(back_populates="sites")

"""JSON shapes of the public API (v1). Output models are built from ORM rows; inputs are validated here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Ref(Out):
    id: uuid.UUID
    name: str


class PriorityRef(Ref):
    rank: int


class StatusRef(Ref):
    is_closed: bool
    is_resolved: bool


class UserRef(Out):
    id: uuid.UUID
    display_name: str
    email: str


class ClientOut(Out):
    id: uuid.UUID
    name: str
    reference: str | None
    notes: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class SiteOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    is_main: bool
    address: str
    created_at: datetime
    updated_at: datetime


class AssetOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID
    asset_type: Ref
    name: str
    status: str
    serial: str | None
    hostname: str | None
    device_uuid: str | None
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TicketOut(Out):
    id: uuid.UUID
    number: int
    client_id: uuid.UUID
    site_id: uuid.UUID
    asset_id: uuid.UUID | None
    ticket_type: Ref
    summary: str
    details: str
    priority: PriorityRef
    status: StatusRef
    agent: UserRef | None
    source: str
    custom_fields: dict[str, Any]
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    classification: str | None
    classification_reason: str | None
    created_at: datetime
    updated_at: datetime


class ActionOut(Out):
    id: uuid.UUID
    ticket_id: uuid.UUID
    kind: str
    body: str
    author: UserRef | None
    external_author: str | None
    sync_to_source: bool
    visibility: str
    changes: dict[str, Any]
    created_at: datetime


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(default=None, max_length=64)
    notes: str = ""


class ClientPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    reference: str | None = Field(default=None, max_length=64)
    notes: str | None = None


class SiteIn(BaseModel):
    client_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    address: str = ""


class AssetIn(BaseModel):
    client_id: uuid.UUID
    site_id: uuid.UUID | None = None
    asset_type_id: uuid.UUID
    name: str = Field(min_length=1, max_length=255)
    hostname: str | None = None
    serial: str | None = None
    device_uuid: str | None = None
    status: Literal["active", "inactive"] = "active"


class AssetPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    site_id: uuid.UUID | None = None
    asset_type_id: uuid.UUID | None = None
    hostname: str | None = None
    serial: str | None = None
    device_uuid: str | None = None
    status: Literal["active", "inactive"] | None = None


class TicketIn(BaseModel):
    client_id: uuid.UUID
    site_id: uuid.UUID | None = None
    asset_id: uuid.UUID | None = None
    ticket_type_id: uuid.UUID
    summary: str = Field(min_length=1, max_length=500)
    details: str = ""
    priority_id: uuid.UUID | None = None
    status_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class TicketPatch(BaseModel):
    priority_id: uuid.UUID | None = None
    status_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    unassign: bool = Field(default=False, description="Set true to remove the assigned agent.")


class ActionIn(BaseModel):
    body: str = Field(min_length=1)
    visibility: Literal["internal", "external"] = "internal"
    sync_to_source: bool = False


class ReopenIn(BaseModel):
    note: str = ""


class CloseIn(BaseModel):
    status_id: uuid.UUID | None = None
    classification: str | None = None
    classification_reason: str | None = None
    note: str = ""
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Values for the ticket type's fields that are required on close."
    )

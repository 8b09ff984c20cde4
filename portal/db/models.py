"""Every mapped model, imported in one place so Alembic and tests see the whole schema."""

from portal.db.base import Base
from portal.domain.accounts.models import ApiToken, User, UserClient
from portal.domain.assets.models import Asset, AssetGroup, AssetType
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import FailedJob, InboundEvent, OutboundRequest, OutboxMessage, SyncRun, SyncState
from portal.domain.system.models import WorkerHeartbeat
from portal.domain.tickets.models import Priority, Status, Ticket, TicketAction, TicketType

__all__ = [
    "ApiToken",
    "Asset",
    "AssetGroup",
    "AssetType",
    "AuditEntry",
    "Base",
    "Client",
    "ClientLink",
    "Connection",
    "ExternalLink",
    "FailedJob",
    "InboundEvent",
    "OutboundRequest",
    "OutboxMessage",
    "Priority",
    "Site",
    "Status",
    "SyncRun",
    "SyncState",
    "Ticket",
    "TicketAction",
    "TicketType",
    "User",
    "UserClient",
    "WorkerHeartbeat",
]

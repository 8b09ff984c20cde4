"""What a vendor plugs into the sync engine.

A vendor supplies a :class:`Vendor`: its manifest, how to authenticate, an API client built on
:class:`~portal.integrations.http.VendorHttp`, one :class:`EntityHandler` per entity it syncs,
how to deliver outbox messages, and (optionally) how to read its webhooks. Cursors, paging
jobs, idempotent upserts, the outbox relay, logs, retries and health are the engine's.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from portal.integrations.http import Credentials, VendorHttp
from portal.integrations.manifest import EntitySpec, Manifest


@dataclass(frozen=True)
class RemoteItem:
    remote_type: str
    remote_id: str
    modified_at: datetime | None  # the vendor's own last-change time: what watermarks are made of
    data: Mapping[str, Any]
    # The vendor's own reading of ``data`` when fetching already made it (applying then need not read
    # the record again); never compared, never stored.
    reading: Any = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.remote_type, self.remote_id)


@dataclass(frozen=True)
class ItemProblem:
    """A record in a page that could not be read; recorded, the rest of the page goes on."""

    remote_id: str
    error: str
    # The record's change time when it could be read; unknown holds the whole watermark back.
    modified_at: datetime | None = None


@dataclass(frozen=True)
class RemotePage:
    items: Sequence[RemoteItem]
    next_token: str | None = None
    problems: Sequence[ItemProblem] = ()
    # The credential's expiry when the vendor told it while fetching: stored on the connection.
    credential_expires_at: datetime | None = None


class Applied(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass
class PageApplied:
    """What applying a page did to each of its items (by :attr:`RemoteItem.key`).

    An item is in ``outcomes`` or in ``problems`` (a record that could not be applied: the
    reason, said for a person), never both; the engine counts them and holds the watermark
    before every problem.
    """

    outcomes: dict[tuple[str, str], Applied] = field(default_factory=dict)
    problems: dict[tuple[str, str], str] = field(default_factory=dict)

    def done(self, item: RemoteItem, outcome: Applied) -> None:
        self.outcomes[item.key] = outcome
        self.problems.pop(item.key, None)

    def failed(self, item: RemoteItem, error: str) -> None:
        self.problems[item.key] = error
        self.outcomes.pop(item.key, None)

    def settled(self, item: RemoteItem) -> bool:
        return item.key in self.outcomes or item.key in self.problems


@dataclass(frozen=True)
class ConnectionView:
    """A connection as vendor code sees it: plain values, decrypted secrets, no ORM object."""

    id: uuid.UUID
    vendor: str
    name: str
    config: Mapping[str, Any]
    mappings: Mapping[str, Any]
    secrets: Mapping[str, Any]


@dataclass(frozen=True)
class LinkView:
    """A client link (connection x client x remote scope) with its per-client settings."""

    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID | None
    remote_scope: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class SyncTarget:
    connection: ConnectionView
    link: LinkView | None
    entity: EntitySpec
    run_id: uuid.UUID | None = None


class EntityHandler(Protocol):
    """One entity of a vendor: reading pages (and single objects) and applying a whole page at once.

    ``apply_page`` is set-based: it looks up what the page needs in a few queries, decides per
    item, and writes with multi-row statements (see ``docs/integrations.md``). A record it cannot
    apply is a problem in the result, never an exception; an exception means the page's writes
    failed, and the engine then applies the page again one item at a time, each in its own
    savepoint, to find and skip the offending item.
    """

    async def fetch_page(
        self, api: Any, target: SyncTarget, since: datetime | None, page_token: str | None
    ) -> RemotePage: ...

    async def fetch_one(self, api: Any, target: SyncTarget, remote_id: str) -> RemoteItem | None: ...

    async def apply_page(
        self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]
    ) -> PageApplied: ...


@dataclass(frozen=True)
class OutboundChange:
    """An outbox message as vendor code sees it."""

    id: uuid.UUID
    operation: str
    remote_type: str
    remote_id: str
    payload: Mapping[str, Any]
    idempotency_key: uuid.UUID
    ticket_id: uuid.UUID | None


@dataclass(frozen=True)
class Delivered:
    produced_remote_type: str | None = None
    produced_remote_id: str | None = None  # e.g. the remote comment id, recorded for echo suppression


@dataclass(frozen=True)
class WebhookWork:
    entity: str
    remote_id: str
    remote_scope: str = ""  # which client link it belongs to, when the payload says


@dataclass(frozen=True)
class WebhookReading:
    valid: bool
    delivery_id: str
    work: Sequence[WebhookWork] = ()
    detail: str = ""


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    credential_expires_at: datetime | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class TokenSource(Protocol):
    """Where OAuth credentials come from (see :mod:`portal.integrations.oauth`)."""

    def credentials(self, connection: ConnectionView, manifest: Manifest) -> Credentials: ...


class Vendor(Protocol):
    manifest: Manifest
    entities: Mapping[str, EntityHandler]

    def base_url(self, connection: ConnectionView) -> str: ...

    def credentials(self, connection: ConnectionView, tokens: TokenSource) -> Credentials: ...

    def client(self, http: VendorHttp, connection: ConnectionView) -> Any: ...

    async def check(self, api: Any, connection: ConnectionView) -> ConnectionCheck: ...

    async def deliver(self, api: Any, session: AsyncSession, change: OutboundChange) -> Delivered: ...

    def read_webhook(
        self, connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookReading: ...


class StaticCredentials:
    """An API token or key sent the same way on every call; it cannot refresh."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> Iterable[str]:
        return [value.split(" ", 1)[-1] for value in self._headers.values()]

"""Tickets that mirror remote records: a whole page applied at once, the same way for every vendor.

A vendor's handler reads its records and says what each one means for its ticket (a
:class:`TicketImage`: text, priority, open or closed and how, comments, owner, and how to
create it); :class:`TicketMirror` does the rest, set-based, for the page:

- one query finds every record's link; records whose fingerprint is unchanged, or whose read
  is older than the one applied last, are settled there and cost nothing more;
- one query loads (and locks) the tickets that changed; one reads which comments are known;
- the vendor's per-aspect fingerprint says what changed, so a priority or status staff set
  in socdesk is only overwritten when the source's own value for it changed;
- every write is one multi-row statement per table (:class:`~portal.domain.tickets.batch.TicketBatch`).

Comments come in once each and socdesk's own never come back: a comment already linked is
skipped, and one whose id is an outbox idempotency key (socdesk wrote it, then crashed before
recording the delivery) is recognised, linked to its note and its message marked delivered.
Every change is authored by the source, never by staff, so nothing is queued back: following a
remote change cannot echo.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import table_of, utcnow
from portal.db.bulk import insert_rows, probing, update_rows
from portal.domain.links.models import ExternalLink
from portal.domain.lookups import PageLookups
from portal.domain.sync.links import changed_aspects
from portal.domain.sync.models import OutboxMessage, OutboxStatus
from portal.domain.tickets.batch import TicketBatch, TicketState
from portal.domain.tickets.models import TicketSource
from portal.domain.tickets.service import NewTicket
from portal.integrations.base import Applied, PageApplied, RemoteItem

R = TypeVar("R")
LINKS = table_of(ExternalLink)
T = TypeVar("T")


@dataclass(frozen=True)
class RemoteComment:
    remote_id: str
    body: str
    author: str
    created_at: datetime | None = None  # when it was written at the source: its place on the timeline


@dataclass(frozen=True)
class RemoteClosure:
    """How the remote side closed its record, in socdesk's words."""

    classification: str | None
    reason: str | None
    note: str


@dataclass(frozen=True)
class Placement:
    """Where a record's new ticket goes, and what only its creation sets."""

    client_id: uuid.UUID
    ticket_type_id: uuid.UUID
    source: TicketSource
    opened_at: datetime | None
    site_id: uuid.UUID | None = None  # None: the client's main site
    asset_id: uuid.UUID | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketImage:
    """What one remote record says its ticket should be.

    ``new`` places the ticket when the record is not linked yet (None: never create one for
    it); it starts with the image's text, priority, owner and open status. On a later read only
    the aspects that changed are applied: ``content``
    (summary, details), ``severity`` (priority), ``owner`` (agent), ``status`` (closed or open,
    and which open status) and ``comments``.
    """

    author: str  # who the timeline names for what the record changes ("Microsoft Sentinel")
    summary: str
    details: str
    closed: bool
    closure: RemoteClosure
    reopen_note: str
    closed_what: str  # "The incident was closed in Sentinel": the start of a note when socdesk cannot follow
    retitle: bool = True  # False: a later change of the record's text leaves the ticket's summary as it is
    priority_id: uuid.UUID | None = None  # None: keep (a new ticket: its type's default)
    agent_id: uuid.UUID | None = None  # None: keep (a new ticket: unassigned)
    open_status_id: uuid.UUID | None = None  # the open status an open record maps to (None: keep / type's default)
    comments: Sequence[RemoteComment] = ()
    url: str | None = None
    label: str | None = None  # the source's own name for the record (incident number, threat name)
    new: Placement | None = None
    notes_on_create: Sequence[str] = ()

    def new_ticket(self) -> NewTicket:
        assert self.new is not None
        place = self.new
        return NewTicket(
            client_id=place.client_id,
            ticket_type_id=place.ticket_type_id,
            summary=self.summary,
            details=self.details,
            site_id=place.site_id,
            asset_id=place.asset_id,
            priority_id=self.priority_id,
            status_id=None if self.closed else self.open_status_id,
            agent_id=self.agent_id,
            source=place.source,
            custom_fields=place.custom_fields,
            opened_at=place.opened_at,
            external_author=self.author,
        )


@dataclass(frozen=True)
class Read(Generic[R]):
    """A page item as the vendor read it: its fingerprint and the vendor's own reading of it."""

    item: RemoteItem
    fingerprint: str
    value: R


def read_items(
    items: Iterable[RemoteItem], result: PageApplied, read: Callable[[RemoteItem], tuple[R, str]]
) -> list[Read[R]]:
    """Each item through the vendor's reader (its reading and fingerprint); one that cannot be read
    is a problem of the page, the rest go on."""
    reads: list[Read[R]] = []
    for item in items:
        try:
            value, fingerprint = read(item)
        except (ValueError, KeyError, TypeError) as exc:
            result.failed(item, str(exc) or type(exc).__name__)
            continue
        reads.append(Read(item, fingerprint, value))
    return reads


@dataclass(frozen=True)
class LinkRow:
    """What the mirror reads of a link (plain columns: a page's links are never ORM objects)."""

    id: uuid.UUID
    remote_type: str
    remote_id: str
    local_type: str
    local_id: uuid.UUID
    fingerprint: str | None
    remote_modified_at: datetime | None
    remote_url: str | None
    remote_label: str | None


_LINK_COLUMNS = [getattr(ExternalLink, f) for f in LinkRow.__dataclass_fields__]


@dataclass
class Changed(Generic[R]):
    read: Read[R]
    link: LinkRow
    ticket: TicketState
    aspects: set[str]


@dataclass
class Sorted(Generic[R]):
    fresh: list[Read[R]] = field(default_factory=list)
    changed: list[Changed[R]] = field(default_factory=list)


def mapped_ticket_type(mappings: Mapping[str, Any]) -> uuid.UUID:
    """The ticket type a connection's new tickets get (its ``ticket_type`` mapping)."""
    try:
        return uuid.UUID(str(mappings.get("ticket_type") or ""))
    except ValueError:
        raise ValueError("The connection's ticket type mapping is not set.") from None


def each(reads: Iterable[T], result: PageApplied, do: Callable[[T], None], item: Callable[[T], RemoteItem]) -> None:
    """``do`` for every read; one whose record cannot be mapped (a ValueError) is that item's problem."""
    for read in reads:
        try:
            do(read)
        except ValueError as exc:
            result.failed(item(read), str(exc))


def problem_text(errors: dict[str, str]) -> str:
    return "; ".join(f"{key}: {value}" for key, value in errors.items())


@dataclass
class _Work:
    read: Read[Any]
    image: TicketImage
    follow: set[str]
    ticket: TicketState | None = None
    link: LinkRow | None = None


class TicketMirror:
    def __init__(
        self,
        session: AsyncSession,
        connection_id: uuid.UUID,
        *,
        actor_label: str,
        comment_type: str,
        aspects: Sequence[str],
    ) -> None:
        self.session = session
        self.connection_id = connection_id
        self.comment_type = comment_type
        self.aspects = tuple(aspects)
        self.lookups = PageLookups(session)
        self.batch = TicketBatch(session, self.lookups, actor_label=actor_label)
        self._work: list[_Work] = []

    # -- what the page holds -------------------------------------------------------------------------

    async def sort(self, reads: Sequence[Read[R]], result: PageApplied) -> Sorted[R]:
        """Settle what needs nothing (unchanged, older, not a ticket, ticket gone); the rest is new or changed."""
        links = await self._links(reads)
        page: Sorted[R] = Sorted()
        pending: list[tuple[Read[R], LinkRow]] = []
        for read in reads:
            link = links.get(read.item.key)
            if link is None:
                page.fresh.append(read)
            elif link.local_type != "ticket":
                result.done(read.item, Applied.SKIPPED)
            elif link.fingerprint == read.fingerprint or _older(read.item.modified_at, link.remote_modified_at):
                # Unchanged, or an older read (overlap window, late webhook): never go back in time.
                result.done(read.item, Applied.UNCHANGED)
            else:
                pending.append((read, link))
        tickets = await self.batch.load(link.local_id for _, link in pending)
        for read, link in pending:
            ticket = tickets.get(link.local_id)
            if ticket is None:
                result.done(read.item, Applied.SKIPPED)  # the ticket was deleted in socdesk
                continue
            aspects = changed_aspects(link.fingerprint, read.fingerprint, self.aspects)
            page.changed.append(Changed(read, link, ticket, aspects))
        return page

    async def _links(self, reads: Sequence[Read[Any]]) -> dict[tuple[str, str], LinkRow]:
        ids_by_type: dict[str, set[str]] = {}
        for read in reads:
            ids_by_type.setdefault(read.item.remote_type, set()).add(read.item.remote_id)
        found: dict[tuple[str, str], LinkRow] = {}
        # One query a remote type (a page nearly always holds one): each id one probe of the unique
        # index on (connection, type, id).
        for remote_type, ids in ids_by_type.items():
            rows = await self.session.execute(
                probing(
                    _LINK_COLUMNS,
                    ExternalLink.remote_id,
                    ids,
                    ExternalLink.connection_id == self.connection_id,
                    ExternalLink.remote_type == remote_type,
                )
            )
            found.update({(row.remote_type, row.remote_id): LinkRow(*row) for row in rows})
        return found

    def create(self, read: Read[Any], image: TicketImage) -> None:
        if image.new is None:
            raise ValueError("A record the mirror is asked to create needs image.new.")
        self._work.append(_Work(read, image, follow=set(self.aspects)))

    def update(self, changed: Changed[Any], image: TicketImage, follow: Iterable[str] | None = None) -> None:
        """Apply the aspects in ``follow`` (by default every aspect that changed) to the linked ticket."""
        aspects = changed.aspects if follow is None else set(follow) & changed.aspects
        self._work.append(_Work(changed.read, image, aspects, changed.ticket, changed.link))

    # -- writing ---------------------------------------------------------------------------------------

    async def write(self, result: PageApplied) -> None:
        """Create, change, link and remember everything asked for, with a few multi-row statements."""
        await self._create_tickets(result)
        work = [w for w in self._work if w.ticket is not None and not result.settled(w.read.item)]
        await self._import_comments([w for w in work if "comments" in w.follow])
        for w in work:
            await self._follow(w)
            result.done(w.read.item, Applied.CREATED if w.link is None else Applied.UPDATED)
        await self._remember([w for w in work if w.link is not None])
        await self.batch.write()
        self._work.clear()

    async def _create_tickets(self, result: PageApplied) -> None:
        creating = [w for w in self._work if w.link is None]
        if not creating:
            return
        made = await self.batch.create([w.image.new_ticket() for w in creating])
        rows: list[dict[str, Any]] = []
        for w, state in zip(creating, made, strict=True):
            if isinstance(state, dict):
                result.failed(w.read.item, problem_text(state))
                continue
            w.ticket = state
            rows.append(self._link_row(w, state.id))
        # The link is the lock: of two syncs creating the same remote record's ticket at once, the
        # second finds the first one's link (the unique index) and makes nothing.
        inserted = set(
            await insert_rows(self.session, LINKS, rows, skip_conflicts=True, returning=("remote_type", "remote_id"))
        )
        for w in creating:
            if w.ticket is None:
                continue
            if w.read.item.key not in inserted:
                self.batch.discard(w.ticket)
                w.ticket = None
                result.failed(
                    w.read.item, "Another sync created this record's ticket at the same moment; it is read again."
                )
                continue
            for note in w.image.notes_on_create:
                self.batch.note(w.ticket, note, author=w.image.author)

    def _link_row(self, w: _Work, ticket_id: uuid.UUID) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": uuid.uuid4(),
            "connection_id": self.connection_id,
            "remote_type": w.read.item.remote_type,
            "remote_id": w.read.item.remote_id,
            "local_type": "ticket",
            "local_id": ticket_id,
            "remote_url": w.image.url,
            "remote_label": _label(w.image.label),
            "remote_modified_at": w.read.item.modified_at,
            "fingerprint": w.read.fingerprint,
            "origin": "remote",
            "created_at": now,
            "updated_at": now,
        }

    async def _follow(self, w: _Work) -> None:
        """The changed aspects, in the order the timeline shows them (comments came first)."""
        ticket, image, batch = w.ticket, w.image, self.batch
        assert ticket is not None
        ticket.source_time = w.read.item.modified_at
        if w.link is not None:
            if "severity" in w.follow and image.priority_id is not None:
                await batch.change_priority(ticket, image.priority_id, author=image.author)
            if "content" in w.follow:
                summary = image.summary if image.retitle else ticket.summary
                batch.update_details(ticket, summary=summary, details=image.details, author=image.author)
            if "owner" in w.follow and image.agent_id is not None:
                await batch.assign(ticket, image.agent_id, author=image.author)
        if "status" in w.follow:
            await self._follow_status(ticket, image, created=w.link is None)

    async def _follow_status(self, ticket: TicketState, image: TicketImage, *, created: bool) -> None:
        """Close the ticket when the record was closed, reopen it when it was reopened; an open
        record's mapped open status is taken. A closure socdesk may not make by itself (a
        classification or custom fields it must have) becomes a note saying so: a person finishes it."""
        batch = self.batch
        closed_here = await batch.is_closed(ticket)
        if image.closed and not closed_here:
            errors = await batch.close(
                ticket, classification=image.closure.classification, reason=image.closure.reason,
                note=image.closure.note, author=image.author,
            )  # fmt: skip
            if errors:
                problems = "; ".join(errors.values())
                batch.note(
                    ticket, f"{image.closed_what}, but socdesk cannot close this ticket by itself: {problems}",
                    author=image.author,
                )  # fmt: skip
            else:
                return
        elif not image.closed and closed_here:
            await batch.reopen(ticket, note=image.reopen_note, author=image.author)
        if not created and image.open_status_id is not None:
            await batch.change_status(ticket, image.open_status_id, author=image.author)

    async def _import_comments(self, work: Sequence[_Work]) -> None:
        wanted = [(w, c) for w in work for c in w.image.comments if c.body.strip()]
        if not wanted:
            return
        known = await self._known_comments({c.remote_id for _, c in wanted})
        echoes = await self._echoes({c.remote_id for _, c in wanted} - known)
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for w, comment in sorted(wanted, key=lambda pair: _comment_order(pair[1])):
            if comment.remote_id in known:
                continue
            known.add(comment.remote_id)
            echo = echoes.get(comment.remote_id)
            assert w.ticket is not None
            if echo is not None:
                action_id, origin = echo, "local"  # socdesk's own note: link it, never import it
            else:
                note = self.batch.note(w.ticket, comment.body, author=comment.author or w.image.author,
                                       occurred_at=comment.created_at)  # fmt: skip
                if note is None:
                    continue
                action_id, origin = note, "remote"
            rows.append(
                {
                    "id": uuid.uuid4(), "connection_id": self.connection_id, "remote_type": self.comment_type,
                    "remote_id": comment.remote_id, "local_type": "ticket_action", "local_id": action_id,
                    "origin": origin, "created_at": now, "updated_at": now,
                }
            )  # fmt: skip
        if rows:
            await insert_rows(self.session, LINKS, rows, skip_conflicts=True)

    async def _known_comments(self, remote_ids: set[str]) -> set[str]:
        rows = await self.session.scalars(
            probing(
                [ExternalLink.remote_id],
                ExternalLink.remote_id,
                remote_ids,
                ExternalLink.connection_id == self.connection_id,
                ExternalLink.remote_type == self.comment_type,
            )
        )
        return set(rows)

    async def _echoes(self, remote_ids: set[str]) -> dict[str, uuid.UUID]:
        """Comments socdesk wrote itself whose delivery was never recorded: marked delivered now."""
        keys = {key: remote_id for remote_id in remote_ids if (key := _uuid(remote_id)) is not None}
        if not keys:
            return {}
        messages = (
            await self.session.execute(
                select(OutboxMessage.id, OutboxMessage.idempotency_key, OutboxMessage.ticket_action_id)
                .where(OutboxMessage.connection_id == self.connection_id, OutboxMessage.idempotency_key.in_(keys))
                .with_for_update()
            )
        ).all()
        found = [m for m in messages if m.ticket_action_id is not None]
        if found:
            now = utcnow()
            delivered = {
                "status": OutboxStatus.DELIVERED.value,
                "delivered_at": now,
                "last_error": "",
                "updated_at": now,
            }
            await update_rows(
                self.session,
                table_of(OutboxMessage),
                [{"id": m.id, "produced_remote_id": keys[m.idempotency_key]} | delivered for m in found],
            )
        return {keys[m.idempotency_key]: m.ticket_action_id for m in found}

    async def _remember(self, work: Sequence[_Work]) -> None:
        """What each link last applied: the next read compares against it."""
        if not work:
            return
        now = utcnow()
        await update_rows(
            self.session,
            LINKS,
            [
                {
                    "id": w.link.id,
                    "fingerprint": w.read.fingerprint,
                    "remote_modified_at": w.read.item.modified_at,
                    "remote_url": w.image.url or w.link.remote_url,
                    "remote_label": _label(w.image.label) or w.link.remote_label,
                    "updated_at": now,
                }
                for w in work
                if w.link is not None
            ],
        )


def _label(label: str | None) -> str | None:
    return label.strip()[:255] or None if label else None


def _older(read_at: datetime | None, applied_at: datetime | None) -> bool:
    return read_at is not None and applied_at is not None and read_at < applied_at


def _comment_order(comment: RemoteComment) -> tuple[bool, datetime | None, str]:
    # Oldest first (undated ones after), so notes land on the timeline in the order they were written.
    return (comment.created_at is None, comment.created_at, comment.remote_id)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None

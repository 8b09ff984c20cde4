"""A ticket that mirrors a remote record: the moves every vendor's import makes the same way.

Importing comments once each (never socdesk's own coming back), following a remote closure or
reopening, and remembering what was applied on the link are written here once; a vendor's
handler says what its record means (which comments, closed or not, which classification) and
calls these. Every change is made as the vendor's system scope, which never queues anything
back to the vendor, so following a remote change cannot echo.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.links.models import ExternalLink
from portal.domain.sync.links import attach
from portal.domain.sync.outbox import known_or_echo
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Status, Ticket
from portal.integrations.base import Applied


@dataclass(frozen=True)
class RemoteComment:
    remote_id: str
    body: str
    author: str


@dataclass(frozen=True)
class RemoteClosure:
    """How the remote side closed its record, in socdesk's words."""

    classification: str | None
    reason: str | None
    note: str


async def is_closed(session: AsyncSession, ticket_id: uuid.UUID) -> bool | None:
    """Whether the ticket is closed; None when it no longer exists."""
    return await session.scalar(
        select(Status.is_closed).join(Ticket, Ticket.status_id == Status.id).where(Ticket.id == ticket_id)
    )


async def already_applied(
    session: AsyncSession, link: ExternalLink, fingerprint: str, modified_at: datetime | None
) -> Applied | None:
    """Why an import need not touch the ticket a link mirrors (it links something else, nothing
    changed, the read is older than the last one applied, the ticket is gone), or None when it must."""
    if link.local_type != "ticket":
        return Applied.SKIPPED
    if link.fingerprint == fingerprint:
        return Applied.UNCHANGED
    if link.remote_modified_at is not None and modified_at is not None and modified_at < link.remote_modified_at:
        return Applied.UNCHANGED  # an older read (overlap window, late webhook): never go back in time
    if await is_closed(session, link.local_id) is None:
        return Applied.SKIPPED
    return None


def remember(link: ExternalLink, fingerprint: str, modified_at: datetime | None, url: str | None = None) -> None:
    """What the link last applied: the next import compares against it and never goes back in time."""
    link.fingerprint = fingerprint
    link.remote_modified_at = modified_at
    if url is not None:
        link.remote_url = url


async def import_comments(
    session: AsyncSession,
    actor: Scope,
    connection_id: uuid.UUID,
    remote_type: str,
    ticket_id: uuid.UUID,
    comments: Iterable[RemoteComment],
) -> int:
    """Each remote comment as a ticket note, once; returns how many were added.

    A comment already linked (imported before) or written by socdesk itself under an outbox
    idempotency key is skipped, so a note synced out never comes back as a second note.
    """
    added = 0
    for comment in comments:
        if not comment.body.strip():
            continue  # nothing a note could say
        if await known_or_echo(session, connection_id, remote_type, comment.remote_id) is not None:
            continue
        action = await tickets.add_note(
            # A remote comment longer than a note may be is cut, not refused.
            session,
            actor,
            ticket_id,
            comment.body.strip()[: tickets.MAX_BODY],
            external_author=comment.author or None,
        )
        attach(
            session,
            connection_id=connection_id,
            remote_type=remote_type,
            remote_id=comment.remote_id,
            local_type="ticket_action",
            local_id=action.id,
        )
        added += 1
    return added


async def follow_closure(
    session: AsyncSession,
    actor: Scope,
    ticket_id: uuid.UUID,
    *,
    closed_remotely: bool,
    closure: RemoteClosure,
    reopen_note: str,
    author: str,
    what: str,
) -> bool | None:
    """Close the ticket when the remote record was closed, reopen it when it was reopened.

    ``what`` names the remote record for a person ("The incident was closed in Sentinel"). A
    closure socdesk may not make by itself (a ticket type whose custom fields must be filled on
    closing) becomes a note saying so instead: a person has to finish it. Returns whether the
    ticket is closed afterwards (None: the ticket is gone).
    """
    closed_here = await is_closed(session, ticket_id)
    if closed_here is None:
        return None
    if closed_remotely and not closed_here:
        try:
            await tickets.close(
                session,
                actor,
                ticket_id,
                classification=closure.classification,
                classification_reason=closure.reason,
                note=closure.note,
                external_author=author,
            )
        except ValidationError as exc:
            problems = "; ".join(exc.fields.values())
            await tickets.add_note(
                session,
                actor,
                ticket_id,
                f"{what}, but socdesk cannot close this ticket by itself: {problems}",
                external_author=author,
            )
            return False
        return True
    if not closed_remotely and closed_here:
        await tickets.reopen(session, actor, ticket_id, note=reopen_note, external_author=author)
        return False
    return closed_here

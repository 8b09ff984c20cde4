"""Acme cases as socdesk tickets: reading pages of cases, and applying one case to its ticket.

Applying is idempotent and echo-free: the case's lock is taken before its link is read, an
unchanged fingerprint does nothing, comments already known (imported before, or written by
socdesk itself under its outbox idempotency key) are not imported again, and every change is
made as ``Scope.system("Acme")``, which never queues anything back to Acme.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.links.models import ExternalLink
from portal.domain.sync import mirror
from portal.domain.sync.links import attach, lock_remote
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import TicketSource
from portal.integrations.acme import mapping
from portal.integrations.acme.client import AcmeClient
from portal.integrations.acme.mapping import CaseMappingError, CaseRecord, CommentRecord
from portal.integrations.base import (
    Applied,
    ConnectionView,
    ItemProblem,
    LinkView,
    RemoteItem,
    RemotePage,
    SyncTarget,
)
from portal.integrations.errors import BadPayload, InvalidRequest, NotFound

ACME = Scope.system("Acme")
AUTHOR = "Acme"
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class AcmeApi:
    """What the engine hands Acme's handlers: the client, and the connection it talks for."""

    client: AcmeClient
    connection: ConnectionView


def link_tenant(link: LinkView | None) -> str:
    """The Acme tenant whose cases feed this client link."""
    tenant = str((link.settings.get("tenant") if link else None) or (link.remote_scope if link else "") or "")
    if not tenant:
        raise InvalidRequest("This client link names no Acme tenant: set it on the client's integration settings.")
    return tenant


def page_size(connection: ConnectionView) -> int:
    try:
        return max(1, min(500, int(connection.config.get("page_size") or DEFAULT_PAGE_SIZE)))
    except (TypeError, ValueError):
        return DEFAULT_PAGE_SIZE


async def _item(client: AcmeClient, tenant: str, raw: Mapping[str, Any]) -> RemoteItem:
    """One case with its comments (fetched now, so applying needs no further calls; not asked for
    when the case says it has none, which spares a page of new cases one call per case)."""
    case = mapping.read_case(raw)
    comments = [] if case.comment_count == 0 else await client.list_comments(tenant, case.id)
    mapping.read_comments(comments)  # a malformed comment spoils this case now, not at apply time
    return RemoteItem(
        remote_type=mapping.CASE,
        remote_id=mapping.case_remote_id(tenant, case.id),
        modified_at=case.modified_at,
        data={"tenant": tenant, "case": dict(raw), "comments": comments},
    )


def _unread(tenant: str, raw: Mapping[str, Any], index: int, error: Exception) -> ItemProblem:
    raw_id = raw.get("id")
    label = str(raw_id) if isinstance(raw_id, str) and raw_id else f"(record {index + 1} of the page has no id)"
    try:
        modified_at: datetime | None = mapping.parse_time(raw.get("modifiedAt"), "modifiedAt")
    except CaseMappingError:
        modified_at = None
    return ItemProblem(remote_id=mapping.case_remote_id(tenant, label), error=str(error), modified_at=modified_at)


class CasesHandler:
    async def fetch_page(
        self, api: AcmeApi, target: SyncTarget, since: datetime | None, page_token: str | None
    ) -> RemotePage:
        """A page of the link's tenant's cases changed since ``since`` (None: all of them)."""
        tenant = link_tenant(target.link)
        page = await api.client.list_cases(
            tenant, modified_since=since, cursor=page_token, limit=page_size(target.connection)
        )
        items: list[RemoteItem] = []
        problems: list[ItemProblem] = []
        for index, raw in enumerate(page.cases):
            try:
                items.append(await _item(api.client, tenant, raw))
            except (CaseMappingError, BadPayload, NotFound) as exc:
                problems.append(_unread(tenant, raw, index, exc))  # the rest of the page goes on
        return RemotePage(items=items, next_token=page.next_cursor, problems=problems)

    async def fetch_one(self, api: AcmeApi, target: SyncTarget, remote_id: str) -> RemoteItem | None:
        try:
            tenant, case_id = mapping.split_case_remote_id(remote_id)
        except CaseMappingError:
            return None
        if target.link is not None and tenant != link_tenant(target.link):
            return None  # another client's case: not this link's to apply
        try:
            raw = await api.client.get_case(tenant, case_id)
            return await _item(api.client, tenant, raw)
        except NotFound:
            return None
        except CaseMappingError as exc:
            raise BadPayload(f"Case {remote_id}: {exc}") from exc

    async def apply(self, session: AsyncSession, target: SyncTarget, item: RemoteItem) -> Applied:
        if target.link is None:
            raise CaseMappingError("Acme cases are synced per client link.")
        case = mapping.read_case(item.data["case"])
        comments = mapping.read_comments(item.data.get("comments") or [])
        current = mapping.case_fingerprint(case, comments)
        connection_id = target.connection.id
        link = await lock_remote(session, connection_id, mapping.CASE, item.remote_id)
        comments_only = bool(target.link.settings.get("comments_only"))

        if link is None:
            if comments_only:
                return Applied.SKIPPED
            await self._create(session, target, item.remote_id, case, comments, current)
            return Applied.CREATED
        if (verdict := await mirror.already_applied(session, link, current, case.modified_at)) is not None:
            return verdict

        changed = mapping.changed_aspects(link.fingerprint, current)
        ticket_id = link.local_id
        if "comments" in changed:
            await _import_comments(session, connection_id, ticket_id, comments)
        if not comments_only:
            if "severity" in changed:
                priority_id = mapping.priority_for(case.severity, target.connection.mappings)
                if priority_id is not None:
                    await tickets.change_priority(session, ACME, ticket_id, priority_id)
            if "content" in changed:
                await _follow_content(session, ticket_id, case)
            if "status" in changed:
                await _follow_status(session, ticket_id, case)
        _remember(link, case, current)
        return Applied.UPDATED

    async def _create(
        self,
        session: AsyncSession,
        target: SyncTarget,
        remote_id: str,
        case: CaseRecord,
        comments: Sequence[CommentRecord],
        current: str,
    ) -> None:
        assert target.link is not None
        mappings = target.connection.mappings
        try:
            ticket_type_id = uuid.UUID(str(mappings.get("ticket_type") or ""))
        except ValueError:
            raise CaseMappingError("The connection's ticket type mapping is not set.") from None
        agents = [(agent.email, agent.id) for agent in await tickets.assignable_agents(session, target.link.client_id)]
        ticket = await tickets.create_ticket(
            session,
            ACME,
            tickets.NewTicket(
                client_id=target.link.client_id,
                ticket_type_id=ticket_type_id,
                summary=mapping.summary(case),
                details=mapping.details(case),
                site_id=target.link.site_id,
                priority_id=mapping.priority_for(case.severity, mappings),
                agent_id=mapping.match_agent(case.assignee, agents),
                source=TicketSource.ACME,
                opened_at=case.created_at,
                external_author=AUTHOR,
            ),
        )
        link = attach(
            session,
            connection_id=target.connection.id,
            remote_type=mapping.CASE,
            remote_id=remote_id,
            local_type="ticket",
            local_id=ticket.id,
        )
        _remember(link, case, current)
        await _import_comments(session, target.connection.id, ticket.id, comments)
        if mapping.is_closed(case):
            await _follow_status(session, ticket.id, case)


def _remember(link: ExternalLink, case: CaseRecord, current: str) -> None:
    mirror.remember(link, current, case.modified_at, case.url)


async def _import_comments(
    session: AsyncSession, connection_id: uuid.UUID, ticket_id: uuid.UUID, comments: Sequence[CommentRecord]
) -> None:
    remote = (mirror.RemoteComment(comment.id, comment.body, comment.author) for comment in comments)
    await mirror.import_comments(session, ACME, connection_id, mapping.COMMENT, ticket_id, remote)


async def _follow_content(session: AsyncSession, ticket_id: uuid.UUID, case: CaseRecord) -> None:
    await tickets.update_details(
        session,
        ACME,
        ticket_id,
        summary=mapping.summary(case),
        details=mapping.details(case),
        external_author=AUTHOR,
    )


async def _follow_status(session: AsyncSession, ticket_id: uuid.UUID, case: CaseRecord) -> None:
    """Close the ticket when Acme closed the case, reopen it when Acme reopened it."""
    classification, reason = mapping.closure_for(case.classification)
    await mirror.follow_closure(
        session,
        ACME,
        ticket_id,
        closed_remotely=mapping.is_closed(case),
        closure=mirror.RemoteClosure(
            classification.value, reason.value if reason else None, case.closing_note or "Closed in Acme."
        ),
        reopen_note="Reopened in Acme.",
        author=AUTHOR,
        what="The case was closed in Acme",
    )

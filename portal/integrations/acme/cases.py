"""Acme cases as socdesk tickets: reading pages of cases, and what each case means for its ticket.

Applying a page goes through the shared ticket mirror (:mod:`portal.domain.sync.mirror`):
idempotent, set-based and echo-free; every change is authored by Acme, so nothing is queued
back to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.sync.mirror import (
    Placement,
    Read,
    RemoteClosure,
    RemoteComment,
    TicketImage,
    TicketMirror,
    each,
    mapped_ticket_type,
    read_items,
)
from portal.domain.tickets.models import TicketSource
from portal.integrations.acme import mapping
from portal.integrations.acme.client import AcmeClient
from portal.integrations.acme.mapping import CaseMappingError, CaseRecord, CommentRecord
from portal.integrations.base import (
    Applied,
    ConnectionView,
    ItemProblem,
    LinkView,
    PageApplied,
    RemoteItem,
    RemotePage,
    SyncTarget,
)
from portal.integrations.errors import BadPayload, InvalidRequest, NotFound
from portal.integrations.paging import read_each

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
    read = mapping.read_comments(comments)  # a malformed comment spoils this case now, not at apply time
    return RemoteItem(
        remote_type=mapping.CASE,
        remote_id=mapping.case_remote_id(tenant, case.id),
        modified_at=case.modified_at,
        data={"tenant": tenant, "case": dict(raw), "comments": comments},
        reading=(case, read),
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
        items, problems = await read_each(
            page.cases,
            lambda raw: _item(api.client, tenant, raw),
            lambda raw, index, exc: _unread(tenant, raw, index, exc),
            skip=(CaseMappingError, BadPayload, NotFound),
            pause=api.client.http.pause,
        )
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

    async def apply_page(self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]) -> PageApplied:
        result = PageApplied()
        link = target.link
        if link is None:
            for item in items:
                result.failed(item, "Acme cases are synced per client link.")
            return result
        mirror = TicketMirror(
            session, target.connection.id, actor_label=ACME.label, comment_type=mapping.COMMENT, aspects=mapping.ASPECTS
        )
        page = await mirror.sort(read_items(items, result, _read), result)
        if link.settings.get("comments_only"):
            # Tickets are raised in socdesk for this client: only comments come in.
            for read in page.fresh:
                result.done(read.item, Applied.SKIPPED)
            for changed in page.changed:
                mirror.update(changed, _image(changed.read.value, target), changed.aspects & {"comments"})
        else:
            agents = (
                [(agent.email, agent.id) for agent in await mirror.lookups.agents_of(link.client_id)]
                if page.fresh
                else []
            )

            def create(read: Read[CaseRead]) -> None:
                case, _ = read.value
                place = Placement(
                    client_id=link.client_id,
                    ticket_type_id=mapped_ticket_type(target.connection.mappings),
                    source=TicketSource.ACME,
                    opened_at=case.created_at,
                    site_id=link.site_id,
                )
                image = _image(read.value, target)
                mirror.create(read, replace(image, agent_id=mapping.match_agent(case.assignee, agents), new=place))

            each(page.fresh, result, create, lambda read: read.item)
            for changed in page.changed:
                mirror.update(changed, _image(changed.read.value, target))
        await mirror.write(result)
        return result


CaseRead = tuple[CaseRecord, list[CommentRecord]]


def _read(item: RemoteItem) -> tuple[CaseRead, str]:
    if item.reading is not None:
        case, comments = item.reading
    else:
        case = mapping.read_case(item.data["case"])
        comments = mapping.read_comments(item.data.get("comments") or [])
    return (case, comments), mapping.case_fingerprint(case, comments)


def _image(value: CaseRead, target: SyncTarget) -> TicketImage:
    case, comments = value
    classification, reason = mapping.closure_for(case.classification)
    return TicketImage(
        author=AUTHOR,
        summary=mapping.summary(case),
        details=mapping.details(case),
        priority_id=mapping.priority_for(case.severity, target.connection.mappings),
        closed=mapping.is_closed(case),
        closure=RemoteClosure(
            classification.value, reason.value if reason else None, case.closing_note or "Closed in Acme."
        ),
        reopen_note="Reopened in Acme.",
        closed_what="The case was closed in Acme",
        comments=[RemoteComment(c.id, c.body, c.author, c.created_at) for c in comments],
        url=case.url,
        label=f"Case #{case.number}" if case.number is not None else None,
    )

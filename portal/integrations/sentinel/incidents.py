"""Sentinel incidents as socdesk tickets: reading pages of incidents, and applying one to its ticket.

Applying is idempotent and echo-free, as for every vendor: the incident's lock is taken before
its link is read, an unchanged fingerprint does nothing, an older read never undoes a newer one,
comments already known (imported before, or written by socdesk under its outbox idempotency
key) are not imported again, and every change is made as ``Scope.system("Microsoft Sentinel")``,
which never queues anything back to Sentinel.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.errors import ValidationError
from portal.domain.sync import mirror
from portal.domain.sync.links import attach, lock_remote
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import TicketSource
from portal.integrations.base import Applied, ItemProblem, LinkView, RemoteItem, RemotePage, SyncTarget
from portal.integrations.errors import BadPayload, InvalidRequest, NotFound
from portal.integrations.manifest import table_rows
from portal.integrations.sentinel import mapping
from portal.integrations.sentinel.api import SentinelApi
from portal.integrations.sentinel.client import SentinelClient
from portal.integrations.sentinel.manifest import CUSTOM_FIELDS
from portal.integrations.sentinel.mapping import CommentRecord, IncidentRecord, SentinelMappingError, Workspace

SENTINEL = Scope.system(mapping.AUTHOR)


def link_workspace(link: LinkView | None) -> Workspace:
    if link is None:
        raise InvalidRequest("Sentinel incidents are synced per client link.")
    try:
        return mapping.workspace_of(link.settings)
    except SentinelMappingError as exc:
        raise InvalidRequest(str(exc)) from None


async def read_item(client: SentinelClient, workspace: Workspace, raw: Mapping[str, Any]) -> RemoteItem:
    """One incident with its comments (fetched now, so applying needs no further calls)."""
    incident = mapping.read_incident(raw)
    # Sentinel counts an incident's comments: none means no call (a page of 200 is not 201 requests).
    counted = mapping.comment_count(incident)
    comments = [] if counted == 0 else await client.list_comments(workspace, incident.name)
    mapping.read_comments(comments)  # a malformed comment spoils this incident now, not at apply time
    return RemoteItem(
        remote_type=mapping.INCIDENT,
        remote_id=workspace.incident_remote_id(incident.name),
        modified_at=incident.modified_at,
        data={"incident": dict(raw), "comments": comments},
    )


def _unread(workspace: Workspace, raw: Mapping[str, Any], index: int, error: Exception) -> ItemProblem:
    name = raw.get("name")
    label = str(name) if isinstance(name, str) and name else f"(record {index + 1} of the page has no name)"
    props = raw.get("properties")
    props = props if isinstance(props, Mapping) else {}
    try:
        modified_at: datetime | None = mapping.parse_time(props.get("lastModifiedTimeUtc"), "lastModifiedTimeUtc")
    except SentinelMappingError:
        modified_at = None
    return ItemProblem(remote_id=workspace.incident_remote_id(label), error=str(error), modified_at=modified_at)


class IncidentsHandler:
    async def fetch_page(
        self, api: SentinelApi, target: SyncTarget, since: datetime | None, page_token: str | None
    ) -> RemotePage:
        """A page of the link's workspace's incidents changed since ``since``; the token is Azure's nextLink."""
        workspace = link_workspace(target.link)
        client = api.tenant(workspace.tenant)
        page = await client.list_incidents(
            workspace, modified_since=since, top=api.page_size, next_link=page_token or None
        )
        items: list[RemoteItem] = []
        problems: list[ItemProblem] = []
        for index, raw in enumerate(page.incidents):
            try:
                items.append(await read_item(client, workspace, raw))
            except (SentinelMappingError, BadPayload, NotFound) as exc:
                problems.append(_unread(workspace, raw, index, exc))  # the rest of the page goes on
        return RemotePage(items=items, next_token=page.next_link, problems=problems)

    async def fetch_one(self, api: SentinelApi, target: SyncTarget, remote_id: str) -> RemoteItem | None:
        if "/" not in remote_id and target.link is not None:
            # A webhook names the incident and its workspace; the link it matched knows the tenant.
            remote_id = link_workspace(target.link).incident_remote_id(remote_id)
        try:
            workspace, name = mapping.split_incident_remote_id(remote_id)
        except SentinelMappingError:
            return None
        if target.link is not None and link_workspace(target.link).incident_remote_id(name) != remote_id:
            return None  # another client's workspace: not this link's to apply
        client = api.tenant(workspace.tenant)
        try:
            raw = await client.get_incident(workspace, name)
            return await read_item(client, workspace, raw)
        except NotFound:
            return None
        except SentinelMappingError as exc:
            raise BadPayload(f"Incident {name}: {exc}") from exc

    async def apply(self, session: AsyncSession, target: SyncTarget, item: RemoteItem) -> Applied:
        if target.link is None:
            raise SentinelMappingError("Sentinel incidents are synced per client link.")
        incident = mapping.read_incident(item.data["incident"])
        comments = mapping.read_comments(item.data.get("comments") or [])
        current = mapping.incident_fingerprint(incident, comments)
        connection_id = target.connection.id
        link = await lock_remote(session, connection_id, mapping.INCIDENT, item.remote_id)
        comments_only = bool(target.link.settings.get("comments_only"))

        if link is None:
            if comments_only:
                return Applied.SKIPPED  # tickets are raised in socdesk for this client; only comments come in
            await _create(session, target, item.remote_id, incident, comments, current)
            return Applied.CREATED
        if (verdict := await mirror.already_applied(session, link, current, incident.modified_at)) is not None:
            return verdict

        changed = mapping.changed_aspects(link.fingerprint, current)
        ticket_id = link.local_id
        mappings = target.connection.mappings
        if "comments" in changed:
            await _import_comments(session, connection_id, ticket_id, comments)
        if not comments_only:
            if "severity" in changed:
                priority_id = mapping.priority_for(incident.severity, mappings)
                if priority_id is not None:
                    await tickets.change_priority(session, SENTINEL, ticket_id, priority_id)
            if "content" in changed:
                await tickets.update_details(
                    session, SENTINEL, ticket_id, summary=mapping.summary(incident),
                    details=mapping.details(incident), external_author=mapping.AUTHOR,
                )  # fmt: skip
            if "owner" in changed and mappings.get("match_owner", True):
                await _follow_owner(session, ticket_id, target.link.client_id, incident)
            if "status" in changed:
                await _follow_status(session, ticket_id, incident, mappings)
        mirror.remember(link, current, incident.modified_at, incident.url)
        return Applied.UPDATED


async def _agents(session: AsyncSession, client_id: uuid.UUID) -> list[tuple[str, str, uuid.UUID]]:
    return [
        (agent.email, agent.display_name, agent.id) for agent in await tickets.assignable_agents(session, client_id)
    ]


def _custom_fields(incident: IncidentRecord, mappings: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for row in table_rows(CUSTOM_FIELDS, mappings):
        value = mapping.property_value(incident, row.get("path", ""))
        if value not in (None, "") and row.get("field"):
            values[row["field"]] = value
    return values


async def _create(
    session: AsyncSession,
    target: SyncTarget,
    remote_id: str,
    incident: IncidentRecord,
    comments: Sequence[CommentRecord],
    current: str,
) -> None:
    assert target.link is not None
    mappings = target.connection.mappings
    try:
        ticket_type_id = uuid.UUID(str(mappings.get("ticket_type") or ""))
    except ValueError:
        raise SentinelMappingError("The connection's ticket type mapping is not set.") from None
    agent_id = None
    if mappings.get("match_owner", True):
        agent_id = mapping.owner_match(incident.owner, await _agents(session, target.link.client_id))
    ticket = await tickets.create_ticket(
        session,
        SENTINEL,
        tickets.NewTicket(
            client_id=target.link.client_id,
            ticket_type_id=ticket_type_id,
            summary=mapping.summary(incident),
            details=mapping.details(incident),
            site_id=target.link.site_id,
            priority_id=mapping.priority_for(incident.severity, mappings),
            status_id=None if mapping.is_closed(incident) else mapping.status_for(incident.status, mappings),
            agent_id=agent_id,
            source=TicketSource.SENTINEL,
            custom_fields=_custom_fields(incident, mappings),
            opened_at=incident.created_at,
            external_author=mapping.AUTHOR,
        ),
    )
    link = attach(
        session,
        connection_id=target.connection.id,
        remote_type=mapping.INCIDENT,
        remote_id=remote_id,
        local_type="ticket",
        local_id=ticket.id,
    )
    mirror.remember(link, current, incident.modified_at, incident.url)
    await _import_comments(session, target.connection.id, ticket.id, comments)
    if mapping.is_closed(incident):
        await _follow_status(session, ticket.id, incident, mappings)


async def _follow_owner(
    session: AsyncSession, ticket_id: uuid.UUID, client_id: uuid.UUID, incident: IncidentRecord
) -> None:
    agent_id = mapping.owner_match(incident.owner, await _agents(session, client_id))
    if agent_id is not None:
        # The owner may not work this client in socdesk: then the ticket keeps its agent.
        with contextlib.suppress(ValidationError):
            await tickets.assign(session, SENTINEL, ticket_id, agent_id)


async def _follow_status(
    session: AsyncSession, ticket_id: uuid.UUID, incident: IncidentRecord, mappings: Mapping[str, Any]
) -> None:
    """Close the ticket when Sentinel closed the incident, reopen it when Sentinel reopened it;
    an open incident's status (New, Active) picks the mapped open status."""
    classification, reason = mapping.closure_for(incident)
    closed = await mirror.follow_closure(
        session,
        SENTINEL,
        ticket_id,
        closed_remotely=mapping.is_closed(incident),
        closure=mirror.RemoteClosure(
            classification=classification.value,
            reason=reason.value if reason else None,
            note=incident.classification_comment or "Closed in Microsoft Sentinel.",
        ),
        reopen_note="Reopened in Microsoft Sentinel.",
        author=mapping.AUTHOR,
        what="The incident was closed in Sentinel",
    )
    status_id = mapping.status_for(incident.status, mappings)
    if closed is False and status_id is not None:
        # A mapping to a closed status, or to one that went away: the ticket keeps its status.
        with contextlib.suppress(ValidationError):
            await tickets.change_status(session, SENTINEL, ticket_id, status_id)


async def _import_comments(
    session: AsyncSession, connection_id: uuid.UUID, ticket_id: uuid.UUID, comments: Sequence[CommentRecord]
) -> None:
    remote = [mirror.RemoteComment(remote_id=c.name, body=c.message, author=c.author) for c in comments]
    await mirror.import_comments(session, SENTINEL, connection_id, mapping.COMMENT, ticket_id, remote)

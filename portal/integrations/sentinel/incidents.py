"""Sentinel incidents as socdesk tickets: reading pages of incidents, and what each means for its ticket.

Applying a page goes through the shared ticket mirror (:mod:`portal.domain.sync.mirror`):
idempotent, set-based and echo-free, as for every vendor. This module says what an incident
is in socdesk's terms: text, priority from severity, owner, open status, closure and comments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
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
from portal.integrations.base import Applied, ItemProblem, LinkView, PageApplied, RemoteItem, RemotePage, SyncTarget
from portal.integrations.errors import BadPayload, InvalidRequest, NotFound
from portal.integrations.manifest import table_rows
from portal.integrations.paging import read_each
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
    read = mapping.read_comments(comments)  # a malformed comment spoils this incident now, not at apply time
    return RemoteItem(
        remote_type=mapping.INCIDENT,
        remote_id=workspace.incident_remote_id(incident.name),
        modified_at=incident.modified_at,
        data={"incident": dict(raw), "comments": comments},
        reading=(incident, read),
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
        items, problems = await read_each(
            page.incidents,
            lambda raw: read_item(client, workspace, raw),
            lambda raw, index, exc: _unread(workspace, raw, index, exc),
            skip=(SentinelMappingError, BadPayload, NotFound),
            pause=api.http.pause,
        )
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

    async def apply_page(self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]) -> PageApplied:
        result = PageApplied()
        link = target.link
        if link is None:
            for item in items:
                result.failed(item, "Sentinel incidents are synced per client link.")
            return result
        mirror = TicketMirror(
            session, target.connection.id, actor_label=SENTINEL.label, comment_type=mapping.COMMENT,
            aspects=mapping.ASPECTS,
        )  # fmt: skip
        workspace = link_workspace(link)
        page = await mirror.sort(read_items(items, result, partial(_read, workspace.incident_remote_id(""))), result)
        mappings = target.connection.mappings
        comments_only = bool(link.settings.get("comments_only"))
        match_owner = bool(mappings.get("match_owner", True))
        agents = [(a.email, a.display_name, a.id) for a in await mirror.lookups.agents_of(link.client_id)]

        def image(value: IncidentRead) -> TicketImage:
            incident, comments = value
            classification, reason = mapping.closure_for(incident)
            return TicketImage(
                author=mapping.AUTHOR,
                summary=mapping.summary(incident),
                details=mapping.details(incident),
                priority_id=mapping.priority_for(incident.severity, mappings),
                agent_id=mapping.owner_match(incident.owner, agents) if match_owner else None,
                open_status_id=mapping.status_for(incident.status, mappings),
                closed=mapping.is_closed(incident),
                closure=RemoteClosure(
                    classification=classification.value,
                    reason=reason.value if reason else None,
                    note=incident.classification_comment or "Closed in Microsoft Sentinel.",
                ),
                reopen_note="Reopened in Microsoft Sentinel.",
                closed_what="The incident was closed in Sentinel",
                comments=[RemoteComment(c.name, c.message, c.author, c.created_at) for c in comments],
                url=incident.url,
                label=f"Incident {incident.number}" if incident.number is not None else None,
            )

        def create(read: Read[IncidentRead]) -> None:
            incident, _ = read.value
            place = Placement(
                client_id=link.client_id,
                ticket_type_id=mapped_ticket_type(mappings),
                source=TicketSource.SENTINEL,
                opened_at=incident.created_at,
                site_id=link.site_id,
                custom_fields=_custom_fields(incident, mappings),
            )
            mirror.create(read, replace(image(read.value), new=place))

        if comments_only:
            for read in page.fresh:
                result.done(read.item, Applied.SKIPPED)  # tickets are raised in socdesk; only comments come in
        else:
            each(page.fresh, result, create, lambda read: read.item)
        for changed in page.changed:
            mirror.update(changed, image(changed.read.value), changed.aspects & {"comments"} if comments_only else None)
        await mirror.write(result)
        return result


IncidentRead = tuple[IncidentRecord, list[CommentRecord]]


def _read(remote_prefix: str, item: RemoteItem) -> tuple[IncidentRead, str]:
    if not item.remote_id.startswith(remote_prefix):
        # Never land another customer's incident on this link's client, whatever route it came by.
        raise SentinelMappingError(f"{item.remote_id[:200]} is not in this client's workspace ({remote_prefix[:-1]}).")
    if item.reading is not None:
        incident, comments = item.reading
    else:
        incident = mapping.read_incident(item.data["incident"])
        comments = mapping.read_comments(item.data.get("comments") or [])
    return (incident, comments), mapping.incident_fingerprint(incident, comments)


def _custom_fields(incident: IncidentRecord, mappings: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for row in table_rows(CUSTOM_FIELDS, mappings):
        value = mapping.property_value(incident, row.get("path", ""))
        if value not in (None, "") and row.get("field"):
            values[row["field"]] = value
    return values

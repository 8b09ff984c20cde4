"""SentinelOne threats and cloud-detection alerts as socdesk tickets.

One ticket per threat or alert, through the shared ticket mirror (set-based, idempotent,
echo-free: :mod:`portal.domain.sync.mirror`). A new one lands where the client
links route it (the default site, flagged, when no link covers its site), with the connection's
ticket type and user, a priority whose name matches its severity (else the type's default) and
the asset of its endpoint. Later reads refresh the ticket's text, priority and open/closed
state, and bring an open threat's notes in as ticket notes (each once; socdesk's own, marked
``[socdesk]``, never); what changed is told apart per aspect, so a priority staff set is kept
until SentinelOne's severity itself changes. Every change is made as ``Scope.system``: none is
sent back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.assets.models import Asset
from portal.domain.links.models import ExternalLink
from portal.domain.sync.links import aspect_fingerprint
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
from portal.domain.tickets.classification import ALLOWED_REASONS, Classification
from portal.domain.tickets.models import Priority, TicketSource
from portal.integrations.base import Applied, ItemProblem, PageApplied, RemoteItem, RemotePage, SyncTarget
from portal.integrations.errors import BadPayload, NotFound
from portal.integrations.paging import read_each
from portal.integrations.sentinelone import records
from portal.integrations.sentinelone.client import Page, SentinelOneApi
from portal.integrations.sentinelone.manifest import VERDICT_DEFAULTS
from portal.integrations.sentinelone.records import ALERT, THREAT, Detection, RecordError
from portal.integrations.sentinelone.routing import Destination, load_router

SENTINELONE = Scope.system("SentinelOne")
AUTHOR = "SentinelOne"
MAX_SUMMARY = 500
ASPECTS = ("content", "severity", "status", "comments")  # the order detection_fingerprint hashes them in
UNMAPPED_PREFIX = "[Unmapped site] "


# ---------------------------------------------------------------- paging


@dataclass(frozen=True)
class PageToken:
    """A cursor and the filter it belongs to: a cursor is only good with the filter that made it."""

    cursor: str
    since: datetime | None

    def encode(self) -> str:
        return json.dumps({"c": self.cursor, "s": self.since.isoformat() if self.since else None})

    @classmethod
    def decode(cls, raw: str | None) -> PageToken | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            since = datetime.fromisoformat(data["s"]) if data.get("s") else None
            return cls(cursor=str(data["c"]), since=since)
        except (ValueError, KeyError, TypeError):
            return None


def lookback(api: SentinelOneApi) -> timedelta:
    try:
        days = int(api.connection.config.get("alert_lookback_days") or 3)
    except (TypeError, ValueError):
        days = 3
    return timedelta(days=max(1, min(30, days)))


def _unread(kind: str, raw: Mapping[str, Any], index: int, error: Exception) -> ItemProblem:
    paths = ("id", "threatInfo.threatId") if kind == THREAT else ("alertInfo.alertId", "id")
    label = next((str(v) for p in paths if (v := records.text(records.lookup(raw, p)))), None)
    time_path = "threatInfo.updatedAt" if kind == THREAT else "alertInfo.updatedAt"
    try:
        modified_at = records.maybe_time(records.lookup(raw, time_path), time_path)
    except RecordError:
        modified_at = None
    return ItemProblem(
        remote_id=label or f"(record {index + 1} of the page has no id)",
        error=f"Unreadable {kind}: {error}",
        modified_at=modified_at,
    )


def notes_of(data: Mapping[str, Any]) -> list[records.Note]:
    return records.read_notes(data.get("notes") or [])


def read(kind: str, data: Mapping[str, Any]) -> Detection:
    if kind == THREAT:
        return records.read_threat(data["record"])
    return records.read_alert(data["record"], records.text(data.get("account_id")))


class DetectionHandler:
    """Threats or alerts (``kind``), for the whole connection: each record is routed to its client."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def _site_accounts(self, api: SentinelOneApi) -> dict[str, str]:
        """Alerts name their site but not its account: the account matching method needs it."""
        if self.kind != ALERT:
            return {}
        sites = await api.client.sites()
        return {str(site.get("id")): str(site.get("accountId")) for site in sites if site.get("accountId")}

    async def _item(self, api: SentinelOneApi, raw: Mapping[str, Any], accounts: Mapping[str, str]) -> RemoteItem:
        """One record, with its notes when it is an open threat (fetched now, so applying needs no calls)."""
        data: dict[str, Any] = {"record": dict(raw)}
        if self.kind == ALERT:
            site_id = records.text(records.lookup(raw, "agentDetectionInfo.siteId"))
            data["account_id"] = accounts.get(site_id or "")
        detection = read(self.kind, data)
        if self.kind == THREAT and detection.is_open:
            try:
                data["notes"] = await api.client.threat_notes(detection.id)
            except NotFound:
                data["notes"] = []
            records.read_notes(data["notes"])  # a malformed note spoils this threat now, not at apply time
        return RemoteItem(remote_type=self.kind, remote_id=detection.id, modified_at=detection.updated_at, data=data)

    async def fetch_page(
        self, api: SentinelOneApi, target: SyncTarget, since: datetime | None, page_token: str | None
    ) -> RemotePage:
        token = PageToken.decode(page_token)
        if token is not None:
            since, cursor = token.since, token.cursor
        else:
            cursor = None
            if since is not None and self.kind == ALERT:
                since = since - lookback(api)  # alerts filter by creation only: re-read the recent ones
        page: Page
        if self.kind == THREAT:
            page = await api.client.threats(since, cursor, api.page_size())
        else:
            page = await api.client.alerts(since, cursor, api.page_size())
        accounts = await self._site_accounts(api)
        items, problems = await read_each(
            page.items,
            lambda raw: self._item(api, raw, accounts),
            lambda raw, index, exc: _unread(self.kind, raw, index, exc),
            skip=(RecordError, KeyError),
            pause=api.client.http.pause,
        )
        expires = await api.token_expiry() if token is None else None
        following = PageToken(page.next_cursor, since).encode() if page.next_cursor else None
        return RemotePage(items=items, next_token=following, problems=problems, credential_expires_at=expires)

    async def fetch_one(self, api: SentinelOneApi, target: SyncTarget, remote_id: str) -> RemoteItem | None:
        raw = await (api.client.threat(remote_id) if self.kind == THREAT else api.client.alert(remote_id))
        if raw is None:
            return None
        try:
            return await self._item(api, raw, await self._site_accounts(api))
        except RecordError as exc:
            raise BadPayload(f"{self.kind.capitalize()} {remote_id}: {exc}") from exc

    async def apply_page(self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]) -> PageApplied:
        result = PageApplied()
        connection = target.connection
        mirror = TicketMirror(
            session, connection.id, actor_label=SENTINELONE.label, comment_type=records.THREAT_NOTE, aspects=ASPECTS
        )
        page = await mirror.sort(read_items(items, result, lambda item: self._read(item)), result)
        priorities = await mirror.lookups.priorities()
        for changed in page.changed:
            mirror.update(changed, image(changed.read.value, connection.mappings, priorities, None))
        opened = []
        for read in page.fresh:
            detection, _ = read.value
            if detection.is_open:
                opened.append(read)
            else:
                result.done(read.item, Applied.SKIPPED)  # resolved before socdesk ever saw it: nothing to work on
        if opened:
            router = await load_router(session, connection)
            routed: list[tuple[Read[DetectionRead], Destination]] = []
            for read in opened:
                detection, _ = read.value
                destination = router.route(detection.site_id, detection.account_id)
                if destination is None:
                    result.failed(
                        read.item,
                        f"The {detection.label} is on SentinelOne site {detection.site_name or '?'} "
                        f"({detection.site_id or 'no id'}), which no client link covers, and no default site is set: "
                        "map it on the Customers tab or choose a default site in the mappings.",
                    )
                elif not destination.enabled:
                    result.done(read.item, Applied.SKIPPED)  # that client's link is switched off
                else:
                    routed.append((read, destination))
            assets = await assets_for(
                session, connection.id, [(destination.client_id, read.value[0]) for read, destination in routed]
            )
            default_user = _uuid(connection.mappings.get("default_user"))
            agent = await mirror.lookups.agent(default_user) if default_user else None

            def create(pair: tuple[Read[DetectionRead], Destination]) -> None:
                read, destination = pair
                detection, _ = read.value
                place = Placement(
                    client_id=destination.client_id,
                    ticket_type_id=mapped_ticket_type(connection.mappings),
                    source=TicketSource.SENTINELONE,
                    opened_at=detection.created_at,
                    site_id=destination.site_id,
                    asset_id=assets.get((destination.client_id, detection.id)),
                )
                # The default user when they work this client, else unassigned (not refused).
                owner = agent.id if agent is not None and agent.works(destination.client_id) else None
                mirror.create(
                    read,
                    replace(image(read.value, connection.mappings, priorities, destination), agent_id=owner, new=place),
                )

            each(routed, result, create, lambda pair: pair[0].item)
        await mirror.write(result)
        return result

    def _read(self, item: RemoteItem) -> tuple[DetectionRead, str]:
        detection = read(self.kind, item.data)
        notes = notes_of(item.data)
        return (detection, notes), detection_fingerprint(detection, notes)


DetectionRead = tuple[Detection, list[records.Note]]


def image(
    value: DetectionRead, mappings: Mapping[str, Any], priorities: Sequence[Priority], destination: Destination | None
) -> TicketImage:
    """What a threat or alert means for its ticket; ``destination`` when it is being created."""
    detection, notes = value
    unmapped = destination is not None and not destination.mapped
    classification = closure_for(detection.verdict, mappings)
    reasons = ALLOWED_REASONS[classification]
    return TicketImage(
        author=AUTHOR,
        summary=((UNMAPPED_PREFIX if unmapped else "") + detection.title)[:MAX_SUMMARY],
        details=details(detection, destination),
        retitle=False,  # the summary may carry the unmapped-site flag staff act on: a later read keeps it
        priority_id=priority_named(priorities, detection.severity),
        closed=not detection.is_open,
        closure=RemoteClosure(
            classification=classification.value,
            reason=reasons[0].value if reasons else None,
            note=f"Resolved in SentinelOne (analyst verdict: {detection.verdict.replace('_', ' ')}).",
        ),
        reopen_note="Reopened in SentinelOne.",
        closed_what=f"The {detection.label} was resolved in SentinelOne",
        # socdesk's own are marked: even one whose delivery was never recorded is not imported back.
        comments=[
            RemoteComment(note.id, note.text, note.creator, note.created_at)
            for note in notes
            if not note.written_by_socdesk
        ],
        label=detection.title if detection.kind == THREAT else f"Alert {detection.id}",
        notes_on_create=[_unmapped_note(detection)] if unmapped else (),
    )


def _unmapped_note(detection: Detection) -> str:
    return (
        f"Flagged: SentinelOne site {detection.site_name or '?'} ({detection.site_id or 'no id'}) is not "
        "mapped to a client, so this ticket was filed under the connection's default site. Map the site "
        "on the connection's Customers tab and move the ticket if it belongs elsewhere."
    )


# ---------------------------------------------------------------- mapping


def details(detection: Detection, destination: Destination | None) -> str:
    lines = [f"SentinelOne {detection.label} {detection.id}"]
    if destination is not None and not destination.mapped:
        lines.append("Filed under the default site: this SentinelOne site is not mapped to a client.")
    lines.append("")
    lines += [f"{label}: {value}" for label, value in detection.facts]
    return "\n".join(lines)[:50_000]


def detection_fingerprint(detection: Detection, notes: Sequence[records.Note]) -> str:
    return aspect_fingerprint(
        {
            "content": [detection.title, list(detection.facts)],
            "severity": [detection.severity],
            "status": [detection.status, detection.verdict],
            "comments": [[note.id, note.text] for note in notes],
        }
    )


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.casefold()))


def priority_named(priorities: Sequence[Priority], severity: str | None) -> uuid.UUID | None:
    """The priority named like the severity ("High", or "P2 - High"); None: the ticket type's default."""
    if not severity:
        return None
    wanted = severity.strip().casefold()
    exact = next((priority.id for priority in priorities if priority.name.strip().casefold() == wanted), None)
    if exact is not None:
        return exact
    return next((priority.id for priority in priorities if wanted in _words(priority.name)), None)


async def assets_for(
    session: AsyncSession, connection_id: uuid.UUID, wanted: Sequence[tuple[uuid.UUID, Detection]]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """The asset of each record's endpoint in its client, by (client, record id): the asset imported
    from the endpoint, else the one with the agent's UUID. Two queries for the whole page."""
    found: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    agent_ids = {detection.agent_id for _, detection in wanted if detection.agent_id}
    linked: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    if agent_ids:
        rows = await session.execute(
            select(Asset.client_id, ExternalLink.remote_id, Asset.id)
            .join(ExternalLink, ExternalLink.local_id == Asset.id)
            .where(
                ExternalLink.connection_id == connection_id,
                ExternalLink.remote_type == records.AGENT,
                ExternalLink.remote_id.in_(agent_ids),
                ExternalLink.local_type == "asset",
            )
        )
        linked = {(row.client_id, row.remote_id): row.id for row in rows}
    uuids = {detection.agent_uuid for _, detection in wanted if detection.agent_uuid}
    by_uuid: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    if uuids:
        rows = await session.execute(
            select(Asset.client_id, Asset.device_uuid, Asset.id)
            .where(Asset.device_uuid.in_(uuids))
            .order_by(Asset.created_at.desc())
        )
        by_uuid = {(row.client_id, row.device_uuid): row.id for row in rows}  # the oldest wins
    for client_id, detection in wanted:
        asset_id = linked.get((client_id, detection.agent_id or "")) or by_uuid.get(
            (client_id, detection.agent_uuid or "")
        )
        if asset_id is not None:
            found[(client_id, detection.id)] = asset_id
    return found


def closure_for(verdict: str, mappings: Mapping[str, Any]) -> Classification:
    """socdesk's classification of a SentinelOne verdict: the first classification mapped to it."""
    for classification in (
        Classification.TRUE_POSITIVE,
        Classification.FALSE_POSITIVE,
        Classification.BENIGN_POSITIVE,
        Classification.UNDETERMINED,
    ):
        mapped = mappings.get(f"verdict_{classification.value}") or VERDICT_DEFAULTS[classification.value]
        if mapped == verdict:
            return classification
    return Classification.UNDETERMINED


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None

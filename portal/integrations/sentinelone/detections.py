"""SentinelOne threats and cloud-detection alerts as socdesk tickets.

One ticket per threat or alert: the record's lock is taken before its link is read, so repeated
or concurrent imports find the ticket the first one made. A new one lands where the client
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.assets.models import Asset
from portal.domain.links.models import ExternalLink
from portal.domain.sync import mirror
from portal.domain.sync.links import aspect_fingerprint, attach, changed_aspects, lock_remote
from portal.domain.tickets import service as tickets
from portal.domain.tickets.classification import ALLOWED_REASONS, Classification
from portal.domain.tickets.models import Priority, TicketSource
from portal.integrations.base import Applied, ItemProblem, RemoteItem, RemotePage, SyncTarget
from portal.integrations.errors import BadPayload, NotFound
from portal.integrations.sentinelone import records
from portal.integrations.sentinelone.client import Page, SentinelOneApi
from portal.integrations.sentinelone.manifest import VERDICT_DEFAULTS
from portal.integrations.sentinelone.records import ALERT, THREAT, Detection, RecordError
from portal.integrations.sentinelone.routing import Destination, load_router

SENTINELONE = Scope.system("SentinelOne")
AUTHOR = "SentinelOne"
MAX_SUMMARY = 500
ASPECTS = ("content", "severity", "status", "notes")  # the order detection_fingerprint hashes them in
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
        items: list[RemoteItem] = []
        problems: list[ItemProblem] = []
        for index, raw in enumerate(page.items):
            try:
                items.append(await self._item(api, raw, accounts))
            except (RecordError, KeyError) as exc:
                problems.append(_unread(self.kind, raw, index, exc))  # the rest of the page goes on
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

    async def apply(self, session: AsyncSession, target: SyncTarget, item: RemoteItem) -> Applied:
        detection = read(self.kind, item.data)
        notes = notes_of(item.data)
        connection = target.connection
        link = await lock_remote(session, connection.id, self.kind, detection.id)
        current = detection_fingerprint(detection, notes)
        if link is None:
            if not detection.is_open:
                return Applied.SKIPPED  # resolved before socdesk ever saw it: nothing to work on
            router = await load_router(session, connection)
            destination = router.route(detection.site_id, detection.account_id)
            if destination is None:
                raise RecordError(
                    f"The {detection.label} is on SentinelOne site {detection.site_name or '?'} "
                    f"({detection.site_id or 'no id'}), which no client link covers, and no default site is set: "
                    "map it on the Customers tab or choose a default site in the mappings."
                )
            if not destination.enabled:
                return Applied.SKIPPED  # that client's link is switched off
            ticket_id = await self._create(session, target, detection, destination, current)
            await import_notes(session, connection.id, ticket_id, notes)
            return Applied.CREATED
        if (verdict := await mirror.already_applied(session, link, current, detection.updated_at)) is not None:
            return verdict
        changed = changed_aspects(link.fingerprint, current, ASPECTS)
        if "content" in changed:
            await tickets.update_details(
                session, SENTINELONE, link.local_id, details=details(detection, None), external_author=AUTHOR
            )
        if "severity" in changed:
            priority_id = await priority_for(session, detection.severity)
            if priority_id is not None:
                await tickets.change_priority(session, SENTINELONE, link.local_id, priority_id)
        if "notes" in changed:
            await import_notes(session, connection.id, link.local_id, notes)
        if "status" in changed:
            await follow_status(session, link.local_id, detection, connection.mappings)
        mirror.remember(link, current, detection.updated_at)
        return Applied.UPDATED

    async def _create(
        self,
        session: AsyncSession,
        target: SyncTarget,
        detection: Detection,
        destination: Destination,
        current: str,
    ) -> uuid.UUID:
        mappings = target.connection.mappings
        try:
            ticket_type_id = uuid.UUID(str(mappings.get("ticket_type") or ""))
        except ValueError:
            raise RecordError("The connection's ticket type mapping is not set.") from None
        summary = (UNMAPPED_PREFIX if not destination.mapped else "") + detection.title
        ticket = await tickets.create_ticket(
            session,
            SENTINELONE,
            tickets.NewTicket(
                client_id=destination.client_id,
                ticket_type_id=ticket_type_id,
                summary=summary[:MAX_SUMMARY],
                details=details(detection, destination),
                site_id=destination.site_id,
                asset_id=await asset_for(session, target.connection.id, destination.client_id, detection),
                priority_id=await priority_for(session, detection.severity),
                agent_id=await _default_user(session, mappings, destination.client_id),
                source=TicketSource.SENTINELONE,
                opened_at=detection.created_at,
                external_author=AUTHOR,
            ),
        )
        link = attach(
            session,
            connection_id=target.connection.id,
            remote_type=self.kind,
            remote_id=detection.id,
            local_type="ticket",
            local_id=ticket.id,
        )
        mirror.remember(link, current, detection.updated_at)
        if not destination.mapped:
            await tickets.add_note(
                session,
                SENTINELONE,
                ticket.id,
                f"Flagged: SentinelOne site {detection.site_name or '?'} ({detection.site_id or 'no id'}) is not "
                "mapped to a client, so this ticket was filed under the connection's default site. Map the site "
                "on the connection's Customers tab and move the ticket if it belongs elsewhere.",
                external_author=AUTHOR,
            )
        return ticket.id


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
            "notes": [[note.id, note.text] for note in notes],
        }
    )


async def import_notes(
    session: AsyncSession, connection_id: uuid.UUID, ticket_id: uuid.UUID, notes: Sequence[records.Note]
) -> None:
    """SentinelOne's notes as ticket notes: each once, and never socdesk's own coming back."""
    await mirror.import_comments(
        session,
        SENTINELONE,
        connection_id,
        records.THREAT_NOTE,
        ticket_id,
        # socdesk's own are marked: even one whose delivery was never recorded is not imported back.
        [mirror.RemoteComment(note.id, note.text, note.creator) for note in notes if not note.written_by_socdesk],
    )


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.casefold()))


async def priority_for(session: AsyncSession, severity: str | None) -> uuid.UUID | None:
    """The priority named like the severity ("High", or "P2 - High"); None: the ticket type's default."""
    if not severity:
        return None
    wanted = severity.strip().casefold()
    priorities = (await session.scalars(select(Priority).order_by(Priority.rank))).all()
    exact = next((priority.id for priority in priorities if priority.name.strip().casefold() == wanted), None)
    if exact is not None:
        return exact
    return next((priority.id for priority in priorities if wanted in _words(priority.name)), None)


async def asset_for(
    session: AsyncSession, connection_id: uuid.UUID, client_id: uuid.UUID, detection: Detection
) -> uuid.UUID | None:
    """The asset of the record's endpoint in that client: the one imported from it, else by agent UUID."""
    if detection.agent_id:
        linked = await session.scalar(
            select(Asset.id)
            .join(ExternalLink, ExternalLink.local_id == Asset.id)
            .where(
                ExternalLink.connection_id == connection_id,
                ExternalLink.remote_type == records.AGENT,
                ExternalLink.remote_id == detection.agent_id,
                ExternalLink.local_type == "asset",
                Asset.client_id == client_id,
            )
        )
        if linked is not None:
            return linked
    if detection.agent_uuid:
        return await session.scalar(
            select(Asset.id).where(Asset.client_id == client_id, Asset.device_uuid == detection.agent_uuid).limit(1)
        )
    return None


async def _default_user(session: AsyncSession, mappings: Mapping[str, Any], client_id: uuid.UUID) -> uuid.UUID | None:
    try:
        user_id = uuid.UUID(str(mappings.get("default_user") or ""))
    except ValueError:
        return None
    agents = await tickets.assignable_agents(session, client_id)
    return user_id if any(agent.id == user_id for agent in agents) else None  # else unassigned, not refused


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


async def follow_status(
    session: AsyncSession, ticket_id: uuid.UUID, detection: Detection, mappings: Mapping[str, Any]
) -> None:
    """Close the ticket when SentinelOne resolved the record, reopen it when SentinelOne reopened it."""
    classification = closure_for(detection.verdict, mappings)
    reasons = ALLOWED_REASONS[classification]
    await mirror.follow_closure(
        session,
        SENTINELONE,
        ticket_id,
        closed_remotely=not detection.is_open,
        closure=mirror.RemoteClosure(
            classification=classification.value,
            reason=reasons[0].value if reasons else None,
            note=f"Resolved in SentinelOne (analyst verdict: {detection.verdict.replace('_', ' ')}).",
        ),
        reopen_note="Reopened in SentinelOne.",
        author=AUTHOR,
        what=f"The {detection.label} was resolved in SentinelOne",
    )

"""SentinelOne as a socdesk vendor: what the sync engine, the outbox relay and "Test connection" call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.tickets import service as tickets
from portal.integrations.base import (
    ConnectionCheck,
    ConnectionView,
    Delivered,
    EntityHandler,
    OutboundChange,
    StaticCredentials,
    TokenSource,
    WebhookReading,
)
from portal.integrations.errors import Forbidden, InvalidRequest
from portal.integrations.http import Credentials, VendorHttp
from portal.integrations.manifest import Manifest
from portal.integrations.sentinelone import records
from portal.integrations.sentinelone.agents import AgentsHandler
from portal.integrations.sentinelone.client import SentinelOneApi, SentinelOneClient
from portal.integrations.sentinelone.detections import DetectionHandler
from portal.integrations.sentinelone.manifest import MANIFEST, VERDICT_DEFAULTS
from portal.integrations.sentinelone.records import ALERT, THREAT, text


def marked(body: str, key: str) -> str:
    """A note as socdesk writes it: marked as socdesk's, with the outbox key that makes a redelivery a no-op."""
    return f"{records.SOCDESK_MARK} {body}\n(ref {key})"


def _role(entry: Any) -> str:
    """One ``scopeRoles`` entry as "Seattle HQ as Admin"."""
    if not isinstance(entry, Mapping):
        return ""
    name, role = text(entry.get("name")), text(entry.get("roleName"))
    return " ".join(part for part in (name, f"as {role}" if role else None) if part)


def user_summary(user: Mapping[str, Any]) -> tuple[str, str]:
    """Who the token belongs to, and the scope it sees."""
    who = text(user.get("fullName")) or text(user.get("email")) or text(user.get("name")) or "an unnamed user"
    email = text(user.get("email"))
    if email and email != who:
        who = f"{who} ({email})"
    scope = text(user.get("scope")) or "unknown"
    roles = user.get("scopeRoles")
    names = [named for entry in roles if (named := _role(entry))] if isinstance(roles, list) else []
    return who, scope + (f": {', '.join(names)}" if names else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


async def _what_it_sees(api: SentinelOneApi) -> str:
    try:
        accounts = len(await api.client.accounts())
    except Forbidden:
        accounts = 0
    try:
        sites = _count(len(await api.client.sites()), "site")
    except Forbidden:
        sites = "no sites (the token's role may not view sites)"
    seen = f"{_count(accounts, 'account')} and {sites}"
    if not accounts:
        seen += " (a site-scope token: use site matching, or give the service user Account scope)"
    return seen


async def _alert_note_stays(session: AsyncSession, change: OutboundChange, body: str) -> None:
    """SentinelOne's cloud-detection alerts take no notes: the ticket says so rather than pretend it was sent."""
    if change.ticket_id is not None:
        quoted = body if len(body) <= 80 else body[:79] + "…"
        await tickets.add_note(
            session,
            Scope.system("SentinelOne"),
            change.ticket_id,
            f"SentinelOne alerts take no notes, so “{quoted}” stays in socdesk only "
            "(closing the ticket still resolves the alert in SentinelOne).",
            external_author="SentinelOne",
        )


class SentinelOneVendor:
    manifest: Manifest = MANIFEST
    entities: Mapping[str, EntityHandler] = {
        "threats": DetectionHandler(THREAT),
        "alerts": DetectionHandler(ALERT),
        "agents": AgentsHandler(),
    }

    def base_url(self, connection: ConnectionView) -> str:
        return str(connection.config.get("console_url") or "")

    def credentials(self, connection: ConnectionView, tokens: TokenSource) -> Credentials:
        token = str(connection.secrets.get("api_token") or "")
        return StaticCredentials({"Authorization": f"ApiToken {token}"})

    def client(self, http: VendorHttp, connection: ConnectionView) -> SentinelOneApi:
        return SentinelOneApi(client=SentinelOneClient(http), connection=connection)

    async def check(self, api: SentinelOneApi, connection: ConnectionView) -> ConnectionCheck:
        user = await api.client.current_user()
        who, scope = user_summary(user)
        expires = await api.token_expiry()
        sees = await _what_it_sees(api)
        until = f"; the token expires {expires:%Y-%m-%d %H:%M} UTC" if expires else "; its expiry is unknown"
        return ConnectionCheck(
            ok=True,
            message=f"Signed in to SentinelOne as {who}, scope {scope}; sees {sees}{until}.",
            credential_expires_at=expires,
            details={"user": who, "scope": scope},
        )

    async def deliver(self, api: SentinelOneApi, session: AsyncSession, change: OutboundChange) -> Delivered:
        """One ticket change to its threat or alert. Every branch is safe to repeat (the relay is at-least-once)."""
        if change.remote_type not in (THREAT, ALERT):
            raise InvalidRequest(f"SentinelOne cannot apply a change to a {change.remote_type!r}.")
        if change.operation == "comment":
            body = text(change.payload.get("body"))
            if not body:
                raise InvalidRequest("An empty note cannot be sent.")
            if change.remote_type == ALERT:
                await _alert_note_stays(session, change, body)
                return Delivered()
            return await self._note(api, change, body)
        if change.operation == "close":
            return await self._resolve(api, change)
        if change.operation == "status":
            return await self._follow_status(api, change)
        if change.operation == "reopen":
            record = await self._read(api, change)
            if record is not None and not record.is_open:
                await self._set_status(api, change, "in_progress")
            return Delivered()
        raise InvalidRequest(f"SentinelOne does not take {change.operation!r} changes.")

    async def _read(self, api: SentinelOneApi, change: OutboundChange) -> records.Detection | None:
        if change.remote_type == THREAT:
            raw = await api.client.threat(change.remote_id)
            return records.read_threat(raw) if raw else None
        raw = await api.client.alert(change.remote_id)
        return records.read_alert(raw) if raw else None

    async def _set_status(self, api: SentinelOneApi, change: OutboundChange, status: str) -> None:
        setter = api.client.set_threat_status if change.remote_type == THREAT else api.client.set_alert_status
        await setter(change.remote_id, status, ticket_id=change.ticket_id)

    async def _follow_status(self, api: SentinelOneApi, change: OutboundChange) -> Delivered:
        """An open ticket moved on (or back to its first status): in progress (or unresolved) in SentinelOne."""
        if change.payload.get("closed"):
            return Delivered()  # a closed ticket moving between closed statuses: it is resolved already
        wanted = "unresolved" if change.payload.get("initial") else "in_progress"
        record = await self._read(api, change)
        if record is not None and record.status != wanted:
            await self._set_status(api, change, wanted)
        return Delivered()

    async def _note(self, api: SentinelOneApi, change: OutboundChange, body: str) -> Delivered:
        """A threat note; SentinelOne picks note ids, so the outbox key in the text finds a note already written."""
        key = str(change.idempotency_key)
        existing = await self._find_note(api, change.remote_id, key)
        if existing is None:
            await api.client.add_threat_note(change.remote_id, marked(body, key), ticket_id=change.ticket_id)
            existing = await self._find_note(api, change.remote_id, key)
        return Delivered(produced_remote_type=records.THREAT_NOTE, produced_remote_id=existing)

    @staticmethod
    async def _find_note(api: SentinelOneApi, threat_id: str, key: str) -> str | None:
        for note in await api.client.threat_notes(threat_id):
            if f"(ref {key})" in str(note.get("text") or ""):
                return text(note.get("id")) or key
        return None

    async def _resolve(self, api: SentinelOneApi, change: OutboundChange) -> Delivered:
        """Resolve, with the analyst verdict mapped from the closure classification; nothing already so is resent."""
        classification = text(change.payload.get("classification")) or "Undetermined"
        mappings = api.connection.mappings
        verdict = str(mappings.get(f"verdict_{classification}") or VERDICT_DEFAULTS.get(classification, "undefined"))
        record = await self._read(api, change)
        if record is None:
            return Delivered()  # gone in SentinelOne: nothing left to resolve
        if record.verdict != verdict:
            setter = api.client.set_threat_verdict if change.remote_type == THREAT else api.client.set_alert_verdict
            await setter(change.remote_id, verdict, ticket_id=change.ticket_id)
        if record.status != "resolved":
            await self._set_status(api, change, "resolved")
        note = text(change.payload.get("note"))
        if note and change.remote_type == THREAT:
            await self._note(api, change, f"Closed in socdesk: {note}")
        return Delivered()

    def read_webhook(
        self, connection: ConnectionView, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookReading:
        return WebhookReading(valid=False, delivery_id="", detail="SentinelOne connections take no webhooks.")

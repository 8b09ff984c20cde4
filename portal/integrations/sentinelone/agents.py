"""SentinelOne endpoints (agents) as socdesk assets.

Each run reads the whole endpoint list (an asset import must see endpoints that have not changed
for years too, and deletions show only as absence). An endpoint is the asset linked to it, else
the asset whose matching field has the same value, else a new asset (unless creation is off),
whose type comes from the connection's type rules. The site follows the client links (the
default site when none covers it) unless "keep the site" is on. After the last page of a
scheduled run, assets whose endpoint was not seen are deactivated, when that option is on and
the run read every endpoint without a failure; so are those of decommissioned or uninstalled
endpoints (which the console keeps listing until they are purged).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.access import Scope
from portal.domain.assets import service as assets
from portal.domain.assets.models import Asset, AssetStatus, AssetType
from portal.domain.clients.models import Site
from portal.domain.links.models import ExternalLink
from portal.domain.sync.links import attach, fingerprint, lock_remote
from portal.domain.sync.models import SyncRun, SyncTrigger
from portal.integrations.base import Applied, ItemProblem, RemoteItem, RemotePage, SyncTarget
from portal.integrations.errors import BadPayload
from portal.integrations.manifest import table_rows
from portal.integrations.sentinelone.client import SentinelOneApi
from portal.integrations.sentinelone.manifest import MANIFEST
from portal.integrations.sentinelone.records import AGENT, Agent, RecordError, lookup, read_agent, text
from portal.integrations.sentinelone.routing import Destination, load_router

SENTINELONE = Scope.system("SentinelOne")
SWEEP = "agent_sweep"
CORE_FIELDS = ("name", "hostname", "serial", "device_uuid")
LIMITS = {"name": 255, "hostname": 255, "serial": 255, "device_uuid": 64}
DEFAULT_FIELD_MAPPINGS = (("uuid", "device_uuid"), ("computerName", "name"), ("computerName", "hostname"),
                          ("serialNumber", "serial"))  # fmt: skip


def _field(key: str) -> Any:
    return next(spec for spec in MANIFEST.mapping_fields if spec.key == key)


def _shown(value: Any) -> str | None:
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)[:2000] if value else None
    return text(value)


def asset_values(agent: Agent, mappings: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The core asset fields and the custom (imported) fields an endpoint fills, by the field mappings."""
    pairs = list(DEFAULT_FIELD_MAPPINGS)
    custom_rows = [(row["s1_field"], row["asset_field"]) for row in table_rows(_field("field_mappings"), mappings)]
    overridden = {target for _, target in custom_rows}
    pairs = [pair for pair in pairs if pair[1] not in overridden] + custom_rows
    core: dict[str, str | None] = dict.fromkeys(CORE_FIELDS)
    custom: dict[str, str] = {}
    for source, target in pairs:
        value = _shown(lookup(agent.raw, source))
        if target in CORE_FIELDS:
            core[target] = value[: LIMITS[target]] if value else core[target]
        elif value is not None:
            custom[target] = value
    core["name"] = core["name"] or agent.computer_name[:255]
    return core, custom


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _matches(operator: str, actual: str | None, expected: str) -> bool:
    have, want = (actual or "").casefold(), expected.strip().casefold()
    if operator == "equals":
        return actual is not None and have == want
    if operator == "not_equals":
        return have != want
    if operator == "contains":
        return actual is not None and want in have
    if operator == "starts_with":
        return actual is not None and have.startswith(want)
    if operator in ("is_set", "names_type"):
        return actual is not None
    return False


async def _group_for_new_types(session: AsyncSession, mappings: Mapping[str, Any]) -> uuid.UUID | None:
    group = _uuid(mappings.get("default_asset_group"))
    if group is None and (default := _uuid(mappings.get("default_asset_type"))) is not None:
        group = await session.scalar(select(AssetType.group_id).where(AssetType.id == default))
    return group


async def _named(session: AsyncSession, name: str | None, mappings: Mapping[str, Any]) -> uuid.UUID | None:
    if not name:
        return None
    group = await _group_for_new_types(session, mappings)
    found = await assets.asset_type_named(session, name, create_in_group=group)
    return found.id if found else None


async def asset_type_for(session: AsyncSession, agent: Agent, mappings: Mapping[str, Any]) -> uuid.UUID:
    """A new asset's type: one for all, the one a field names (created when missing), or the first rule that matches."""
    method = mappings.get("type_method") or "same"
    chosen: uuid.UUID | None = None
    if method == "field":
        chosen = await _named(session, _shown(lookup(agent.raw, str(mappings.get("type_field") or ""))), mappings)
    elif method == "rules":
        for row in table_rows(_field("type_rules"), mappings):
            actual = _shown(lookup(agent.raw, row["field"]))
            if not _matches(row["operator"], actual, row["value"]):
                continue
            chosen = (
                await _named(session, actual, mappings) if row["operator"] == "names_type" else _uuid(row["asset_type"])
            )
            if chosen is not None:
                break
    chosen = chosen or _uuid(mappings.get("default_asset_type"))
    if chosen is None or await session.get(AssetType, chosen) is None:
        raise RecordError("Choose a default asset type in the connection's mappings: endpoints need a type.")
    return chosen


async def _matched(
    session: AsyncSession, field: str, value: str | None, destination: Destination | None
) -> Asset | None:
    if not value or field not in CORE_FIELDS:
        return None
    column = getattr(Asset, field)
    statement = select(Asset).where(column == value)
    if destination is not None:
        statement = statement.order_by((Asset.client_id == destination.client_id).desc())
    return await session.scalar(statement.order_by(Asset.created_at).limit(1))


async def _site_for(session: AsyncSession, asset: Asset, destination: Destination | None, keep: bool) -> uuid.UUID:
    """An existing asset's site: the routed one, unless kept (or routed to another client)."""
    if keep or destination is None or destination.client_id != asset.client_id:
        return asset.site_id
    if destination.site_id is not None:
        return destination.site_id
    main = await session.scalar(select(Site.id).where(Site.client_id == asset.client_id, Site.is_main.is_(True)))
    return main or asset.site_id


async def _deactivating(session: AsyncSession, target: SyncTarget) -> SyncRun | None:
    """The run, when it may deactivate assets: the option is on and the run is a scheduled one."""
    if not target.connection.mappings.get("deactivate_deleted") or target.run_id is None:
        return None
    run = await session.get(SyncRun, target.run_id)
    return run if run is not None and run.trigger == SyncTrigger.SCHEDULE.value else None


async def _retire(session: AsyncSession, target: SyncTarget, agent: Agent, asset: Asset) -> bool:
    """Deactivate the asset of a decommissioned or uninstalled endpoint (when this run may); True if it did."""
    if not agent.retired or asset.status != AssetStatus.ACTIVE.value or await _deactivating(session, target) is None:
        return False
    await assets.set_asset_status(session, SENTINELONE, asset.id, AssetStatus.INACTIVE.value)
    return True


class AgentsHandler:
    async def fetch_page(
        self, api: SentinelOneApi, target: SyncTarget, since: datetime | None, page_token: str | None
    ) -> RemotePage:
        page = await api.client.agents(page_token, api.page_size())
        items: list[RemoteItem] = []
        problems: list[ItemProblem] = []
        for index, raw in enumerate(page.items):
            try:
                agent = read_agent(raw)
            except RecordError as exc:
                label = text(raw.get("id")) or f"(record {index + 1} of the page has no id)"
                problems.append(ItemProblem(remote_id=label, error=f"Unreadable endpoint: {exc}"))
                continue
            items.append(RemoteItem(AGENT, agent.id, agent.updated_at, {"agent": dict(raw)}))
        if not page.next_cursor:
            items.append(RemoteItem(SWEEP, "deleted-endpoints", None, {}))
        expires = await api.token_expiry() if page_token is None else None
        return RemotePage(items=items, next_token=page.next_cursor, problems=problems, credential_expires_at=expires)

    async def fetch_one(self, api: SentinelOneApi, target: SyncTarget, remote_id: str) -> RemoteItem | None:
        if not remote_id.isdigit():
            return None  # not an endpoint id (the deletion sweep of a run, or an unreadable record's label)
        raw = await api.client.agent(remote_id)
        if raw is None:
            return None
        try:
            agent = read_agent(raw)
        except RecordError as exc:
            raise BadPayload(f"Endpoint {remote_id}: {exc}") from exc
        return RemoteItem(AGENT, agent.id, agent.updated_at, {"agent": dict(raw)})

    async def apply(self, session: AsyncSession, target: SyncTarget, item: RemoteItem) -> Applied:
        if item.remote_type == SWEEP:
            return await self._sweep(session, target)
        agent = read_agent(item.data["agent"])
        mappings = target.connection.mappings
        connection_id = target.connection.id
        link = await lock_remote(session, connection_id, AGENT, agent.id)
        if link is not None:
            link.updated_at = utcnow()  # seen in this run: the deletion sweep leaves it alone
        destination = (await load_router(session, target.connection)).route(agent.site_id, agent.account_id)
        core, custom = asset_values(agent, mappings)
        keep = bool(mappings.get("keep_asset_site"))
        current = fingerprint({"core": core, "custom": custom, "to": str(destination), "keep": keep})
        asset = await session.get(Asset, link.local_id) if link is not None and link.local_type == "asset" else None
        if asset is not None and link is not None and link.fingerprint == current:
            return Applied.UPDATED if await _retire(session, target, agent, asset) else Applied.UNCHANGED
        match_field = str(mappings.get("asset_match_field") or "device_uuid")
        if asset is None:
            asset = await _matched(session, match_field, core.get(match_field), destination)
        if asset is None:
            if mappings.get("dont_create_assets"):
                return Applied.SKIPPED
            if destination is None:
                raise RecordError(
                    f"Endpoint {agent.computer_name} is on SentinelOne site {agent.site_name or '?'} "
                    f"({agent.site_id or 'no id'}), which no client link covers, and no default site is set."
                )
            if not destination.enabled:
                return Applied.SKIPPED
            asset = await assets.create_asset(
                session,
                SENTINELONE,
                destination.client_id,
                site_id=destination.site_id,
                asset_type_id=await asset_type_for(session, agent, mappings),
                name=core["name"] or agent.computer_name,
                hostname=core["hostname"],
                serial=core["serial"],
                device_uuid=core["device_uuid"],
                status=str(mappings.get("new_asset_status") or AssetStatus.ACTIVE.value),
                fields=custom,
            )
            outcome = Applied.CREATED
        else:
            await assets.update_asset(
                session,
                SENTINELONE,
                asset.id,
                site_id=await _site_for(session, asset, destination, keep),
                asset_type_id=asset.asset_type_id,
                name=core["name"] or asset.name,
                hostname=core["hostname"] or asset.hostname,
                serial=core["serial"] or asset.serial,
                device_uuid=core["device_uuid"] or asset.device_uuid,
            )
            await assets.set_imported_fields(session, SENTINELONE, asset.id, custom)
            outcome = Applied.UPDATED
        if link is None or link.local_type != "asset" or link.local_id != asset.id:
            if link is not None:
                await session.delete(link)  # its asset is gone: the endpoint now belongs to this one
                await session.flush()
            link = attach(
                session, connection_id=connection_id, remote_type=AGENT, remote_id=agent.id,
                local_type="asset", local_id=asset.id,
            )  # fmt: skip
        link.fingerprint = current
        link.remote_modified_at = agent.updated_at
        await _retire(session, target, agent, asset)
        return outcome

    async def _sweep(self, session: AsyncSession, target: SyncTarget) -> Applied:
        """Deactivate assets whose endpoint this run did not see (scheduled, complete runs only)."""
        run = await _deactivating(session, target)
        if run is None or run.failed:
            return Applied.SKIPPED  # a partial view of SentinelOne must not deactivate anything
        stale: Sequence[uuid.UUID] = (
            await session.scalars(
                select(Asset.id)
                .join(ExternalLink, ExternalLink.local_id == Asset.id)
                .where(
                    ExternalLink.connection_id == target.connection.id,
                    ExternalLink.remote_type == AGENT,
                    ExternalLink.local_type == "asset",
                    ExternalLink.updated_at < run.started_at,
                    Asset.status == AssetStatus.ACTIVE.value,
                )
            )
        ).all()
        for asset_id in stale:
            await assets.set_asset_status(session, SENTINELONE, asset_id, AssetStatus.INACTIVE.value)
        return Applied.UPDATED if stale else Applied.SKIPPED

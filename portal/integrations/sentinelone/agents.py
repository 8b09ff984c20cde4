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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import table_of, utcnow
from portal.db.bulk import insert_rows, probing_objects, update_rows
from portal.domain.access import Scope
from portal.domain.assets import service as assets
from portal.domain.assets.batch import AssetBatch, AssetState
from portal.domain.assets.models import Asset, AssetStatus, AssetType
from portal.domain.links.models import ExternalLink
from portal.domain.lookups import PageLookups
from portal.domain.sync.links import fingerprint
from portal.domain.sync.mirror import problem_text
from portal.domain.sync.models import SyncRun, SyncTrigger
from portal.integrations.base import Applied, ItemProblem, PageApplied, RemoteItem, RemotePage, SyncTarget
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


async def _named(
    session: AsyncSession, name: str | None, mappings: Mapping[str, Any], known: dict[str, uuid.UUID]
) -> uuid.UUID | None:
    if not name:
        return None
    if name not in known:
        group = await _group_for_new_types(session, mappings)
        found = await assets.asset_type_named(session, name, create_in_group=group)
        if found is None:
            return None
        known[name] = found.id
    return known[name]


async def asset_type_for(
    session: AsyncSession, agent: Agent, mappings: Mapping[str, Any], known: dict[str, uuid.UUID]
) -> uuid.UUID:
    """A new asset's type: one for all, the one a field names (created when missing), or the first rule
    that matches. ``known`` keeps the types found by name for the rest of the page."""
    method = mappings.get("type_method") or "same"
    chosen: uuid.UUID | None = None
    if method == "field":
        type_name = _shown(lookup(agent.raw, str(mappings.get("type_field") or "")))
        chosen = await _named(session, type_name, mappings, known)
    elif method == "rules":
        for row in table_rows(_field("type_rules"), mappings):
            actual = _shown(lookup(agent.raw, row["field"]))
            if not _matches(row["operator"], actual, row["value"]):
                continue
            chosen = (
                await _named(session, actual, mappings, known)
                if row["operator"] == "names_type"
                else _uuid(row["asset_type"])
            )
            if chosen is not None:
                break
    chosen = chosen or _uuid(mappings.get("default_asset_type"))
    if chosen is None or await session.get(AssetType, chosen) is None:
        raise RecordError("Choose a default asset type in the connection's mappings: endpoints need a type.")
    return chosen


def _site_for(asset: AssetState, destination: Destination | None, keep: bool, main_site: uuid.UUID | None) -> uuid.UUID:
    """An existing asset's site: the routed one, unless kept (or routed to another client)."""
    if keep or destination is None or destination.client_id != asset.client_id:
        return asset.site_id
    return destination.site_id or main_site or asset.site_id


async def _deactivating(session: AsyncSession, target: SyncTarget) -> SyncRun | None:
    """The run, when it may deactivate assets: the option is on and the run is a scheduled one."""
    if not target.connection.mappings.get("deactivate_deleted") or target.run_id is None:
        return None
    run = await session.get(SyncRun, target.run_id)
    return run if run is not None and run.trigger == SyncTrigger.SCHEDULE.value else None


@dataclass
class _Endpoint:
    item: RemoteItem
    agent: Agent
    destination: Destination | None
    core: dict[str, str | None]
    custom: dict[str, str]
    fingerprint: str
    link: ExternalLink | None = None
    asset: AssetState | None = None


class _Matcher:
    """Existing assets by the matching field, for every unlinked endpoint of the page at once.

    The oldest asset with the value wins, the routed client's first; assets this page creates join
    the pool, so a second endpoint with the same value finds the first one's asset, as it would
    applying one endpoint at a time.
    """

    def __init__(self, field: str) -> None:
        self.field = field if field in CORE_FIELDS else ""
        self.pool: dict[str, list[AssetState]] = {}

    async def load(self, batch: AssetBatch, values: set[str]) -> None:
        if not self.field or not values:
            return
        column = getattr(Asset, self.field)
        ids = (await batch.session.scalars(select(Asset.id).where(column.in_(values)).order_by(Asset.created_at))).all()
        for asset in (await batch.load(ids)).values():
            self.add(asset)

    def add(self, asset: AssetState) -> None:
        value = getattr(asset, self.field, None) if self.field else None
        if value:
            self.pool.setdefault(value, []).append(asset)

    def find(self, value: str | None, destination: Destination | None) -> AssetState | None:
        candidates = self.pool.get(value or "", [])
        if destination is not None:
            preferred = [asset for asset in candidates if asset.client_id == destination.client_id]
            candidates = preferred or candidates
        return candidates[0] if candidates else None


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

    async def apply_page(self, session: AsyncSession, target: SyncTarget, items: Sequence[RemoteItem]) -> PageApplied:
        result = PageApplied()
        connection = target.connection
        mappings = connection.mappings
        router = await load_router(session, connection)
        keep = bool(mappings.get("keep_asset_site"))
        endpoints: list[_Endpoint] = []
        sweeps: list[RemoteItem] = []
        for item in items:
            if item.remote_type == SWEEP:
                sweeps.append(item)
                continue
            try:
                agent = read_agent(item.data["agent"])
            except (RecordError, KeyError) as exc:
                result.failed(item, str(exc))
                continue
            destination = router.route(agent.site_id, agent.account_id)
            core, custom = asset_values(agent, mappings)
            current = fingerprint({"core": core, "custom": custom, "to": str(destination), "keep": keep})
            endpoints.append(_Endpoint(item, agent, destination, core, custom, current))

        lookups = PageLookups(session)
        batch = AssetBatch(session, lookups, actor_label=SENTINELONE.label)
        links = await _links(session, connection.id, [e.agent.id for e in endpoints])
        if links:
            # Seen in this run: the deletion sweep leaves these alone (one statement for the page).
            await session.execute(
                update(ExternalLink)
                .where(ExternalLink.id.in_([link.id for link in links.values()]))
                .values(updated_at=utcnow())
            )
        linked_assets = await batch.load(link.local_id for link in links.values() if link.local_type == "asset")
        run = await _deactivating(session, target)
        for endpoint in endpoints:
            endpoint.link = links.get(endpoint.agent.id)
            if endpoint.link is not None and endpoint.link.local_type == "asset":
                endpoint.asset = linked_assets.get(endpoint.link.local_id)
        matcher = _Matcher(str(mappings.get("asset_match_field") or "device_uuid"))
        await matcher.load(batch, {v for e in endpoints if e.asset is None and (v := e.core.get(matcher.field or "-"))})
        candidates = [e.asset for e in endpoints if e.asset is not None] + [a for p in matcher.pool.values() for a in p]
        main_sites = await lookups.main_sites({asset.client_id for asset in candidates})
        types: dict[str, uuid.UUID] = {}
        relinks: list[tuple[_Endpoint, AssetState]] = []
        remembered: list[_Endpoint] = []
        for endpoint in endpoints:
            item, agent, asset = endpoint.item, endpoint.agent, endpoint.asset
            if asset is not None and endpoint.link is not None and endpoint.link.fingerprint == endpoint.fingerprint:
                retired = _retire(batch, run, agent, asset)
                result.done(item, Applied.UPDATED if retired else Applied.UNCHANGED)
                continue
            if asset is None:
                asset = matcher.find(endpoint.core.get(matcher.field or "-"), endpoint.destination)
            if asset is None:
                if mappings.get("dont_create_assets"):
                    result.done(item, Applied.SKIPPED)
                    continue
                destination = endpoint.destination
                if destination is None:
                    result.failed(
                        item,
                        f"Endpoint {agent.computer_name} is on SentinelOne site {agent.site_name or '?'} "
                        f"({agent.site_id or 'no id'}), which no client link covers, and no default site is set.",
                    )
                    continue
                if not destination.enabled:
                    result.done(item, Applied.SKIPPED)
                    continue
                try:
                    type_id = await asset_type_for(session, agent, mappings, types)
                except RecordError as exc:
                    result.failed(item, str(exc))
                    continue
                batch.type_created(type_id)
                made = await batch.create(
                    destination.client_id, site_id=destination.site_id, asset_type_id=type_id,
                    name=endpoint.core["name"] or agent.computer_name, hostname=endpoint.core["hostname"],
                    serial=endpoint.core["serial"], device_uuid=endpoint.core["device_uuid"],
                    status=str(mappings.get("new_asset_status") or AssetStatus.ACTIVE.value), imported=endpoint.custom,
                )  # fmt: skip
                if isinstance(made, dict):
                    result.failed(item, problem_text(made))
                    continue
                asset, outcome = made, Applied.CREATED
                matcher.add(asset)
            else:
                core = endpoint.core
                errors = await batch.update(
                    asset,
                    site_id=_site_for(asset, endpoint.destination, keep, main_sites.get(asset.client_id)),
                    name=core["name"] or asset.name, hostname=core["hostname"] or asset.hostname,
                    serial=core["serial"] or asset.serial, device_uuid=core["device_uuid"] or asset.device_uuid,
                    imported=endpoint.custom,
                )  # fmt: skip
                if errors:
                    result.failed(item, problem_text(errors))
                    continue
                outcome = Applied.UPDATED
            link = endpoint.link
            if link is None or link.local_type != "asset" or link.local_id != asset.id:
                relinks.append((endpoint, asset))
            else:
                remembered.append(endpoint)
            _retire(batch, run, agent, asset)
            result.done(item, outcome)
        await batch.write()
        await _relink(session, connection.id, relinks)
        if remembered:
            await update_rows(
                session,
                table_of(ExternalLink),
                [{"id": e.link.id, "fingerprint": e.fingerprint, "remote_modified_at": e.agent.updated_at}
                 for e in remembered if e.link is not None],
            )  # fmt: skip
        for sweep in sweeps:
            result.done(sweep, await self._sweep(session, target, run, result))
        return result

    async def _sweep(
        self, session: AsyncSession, target: SyncTarget, run: SyncRun | None, page: PageApplied
    ) -> Applied:
        """Deactivate assets whose endpoint this run did not see (scheduled, complete runs only)."""
        if run is None or run.failed or page.problems:
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
        if not stale:
            return Applied.SKIPPED
        batch = AssetBatch(session, PageLookups(session), actor_label=SENTINELONE.label)
        for asset in (await batch.load(stale)).values():
            batch.set_status(asset, AssetStatus.INACTIVE.value)
        await batch.write()
        return Applied.UPDATED


def _retire(batch: AssetBatch, run: SyncRun | None, agent: Agent, asset: AssetState) -> bool:
    """Deactivate the asset of a decommissioned or uninstalled endpoint (when this run may); True if it did."""
    if not agent.retired or asset.status != AssetStatus.ACTIVE.value or run is None:
        return False
    return batch.set_status(asset, AssetStatus.INACTIVE.value)


async def _links(session: AsyncSession, connection_id: uuid.UUID, agent_ids: Sequence[str]) -> dict[str, ExternalLink]:
    if not agent_ids:
        return {}
    rows = await session.scalars(
        probing_objects(
            ExternalLink, ExternalLink.remote_id, agent_ids,
            ExternalLink.connection_id == connection_id, ExternalLink.remote_type == AGENT,
        )
    )  # fmt: skip
    return {link.remote_id: link for link in rows}


async def _relink(
    session: AsyncSession, connection_id: uuid.UUID, relinks: Sequence[tuple[_Endpoint, AssetState]]
) -> None:
    """Link endpoints to their (new or matched) assets; a link to an asset that is gone is replaced."""
    if not relinks:
        return
    stale = [endpoint.link.id for endpoint, _ in relinks if endpoint.link is not None]
    if stale:
        await session.execute(delete(ExternalLink).where(ExternalLink.id.in_(stale)))
    now = utcnow()
    await insert_rows(
        session,
        table_of(ExternalLink),
        [
            {
                "id": uuid.uuid4(), "connection_id": connection_id, "remote_type": AGENT,
                "remote_id": endpoint.agent.id, "local_type": "asset", "local_id": asset.id,
                "fingerprint": endpoint.fingerprint, "remote_modified_at": endpoint.agent.updated_at,
                "remote_label": endpoint.agent.computer_name[:255], "origin": "remote",
                "created_at": now, "updated_at": now,
            }
            for endpoint, asset in relinks
        ],
    )  # fmt: skip

"""Many assets created and changed at once, by an import: the asset service's rules, set-based.

As :mod:`portal.domain.tickets.batch` does for tickets: the same checks and audit entries as
:mod:`portal.domain.assets.service`, kept in memory and written with one multi-row statement
per table by :meth:`AssetBatch.write`. Ids are made here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import table_of, utcnow
from portal.db.bulk import insert_rows, update_rows
from portal.domain.assets.models import Asset, AssetStatus, AssetType
from portal.domain.assets.service import AssetValues, field_errors, snapshot
from portal.domain.audit.models import AuditEntry
from portal.domain.audit.service import changes, jsonable
from portal.domain.lookups import PageLookups


@dataclass
class AssetState:
    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID
    asset_type_id: uuid.UUID
    name: str
    status: str
    hostname: str | None
    serial: str | None
    device_uuid: str | None
    fields: dict[str, Any]
    created_at: datetime
    new: bool = False
    before: dict[str, Any] | None = None  # the audit snapshot when the batch first changed it
    changed: bool = False


_COLUMNS = [f.name for f in fields(AssetState) if f.name not in ("new", "before", "changed")]


class AssetBatch:
    def __init__(self, session: AsyncSession, lookups: PageLookups, *, actor_label: str) -> None:
        self.session = session
        self.lookups = lookups
        self.actor_label = actor_label
        self.now = utcnow()
        self._assets: dict[uuid.UUID, AssetState] = {}
        self._status_changes: list[tuple[AssetState, dict[str, Any]]] = []
        self._types: set[uuid.UUID] | None = None

    async def load(self, asset_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AssetState]:
        asset_ids = list(asset_ids)
        wanted = set(asset_ids) - set(self._assets)
        if wanted:
            columns = [getattr(Asset, name) for name in _COLUMNS]
            for row in await self.session.execute(select(*columns).where(Asset.id.in_(wanted)).order_by(Asset.id)):
                state = AssetState(**dict(row._mapping))
                self._assets[state.id] = state
        return {asset_id: self._assets[asset_id] for asset_id in asset_ids if asset_id in self._assets}

    def adopt(self, asset: AssetState) -> AssetState:
        """An asset another query found (a match by serial, say): the batch's copy from now on."""
        return self._assets.setdefault(asset.id, asset)

    async def _type_known(self, asset_type_id: uuid.UUID | None) -> bool:
        if self._types is None:
            self._types = set((await self.session.scalars(select(AssetType.id))).all())
        return asset_type_id in self._types

    def type_created(self, asset_type_id: uuid.UUID) -> None:
        if self._types is not None:
            self._types.add(asset_type_id)

    async def _site_for(
        self, client_id: uuid.UUID, site_id: uuid.UUID | None
    ) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(the site, its client): ``None`` asks for the client's main site."""
        if site_id is None:
            site_id = (await self.lookups.main_sites([client_id])).get(client_id)
            return site_id, client_id if site_id else None
        return site_id, (await self.lookups.site_clients([site_id])).get(site_id)

    async def create(
        self,
        client_id: uuid.UUID,
        *,
        site_id: uuid.UUID | None,
        asset_type_id: uuid.UUID | None,
        name: str,
        hostname: str | None = None,
        serial: str | None = None,
        device_uuid: str | None = None,
        status: str = AssetStatus.ACTIVE.value,
        imported: Mapping[str, Any] | None = None,
    ) -> AssetState | dict[str, str]:
        """A new asset of the client, or what is wrong with it."""
        site_id, site_client = await self._site_for(client_id, site_id)
        values = AssetValues.of(site_id, asset_type_id, name, hostname, serial, device_uuid, status)
        errors = field_errors(
            values, client_id, site_client=site_client, type_known=await self._type_known(asset_type_id)
        )
        if errors or values.site_id is None or values.asset_type_id is None:
            return errors or {"site_id": "This client has no main site: choose a site."}
        state = AssetState(
            id=uuid.uuid4(), client_id=client_id, site_id=values.site_id, asset_type_id=values.asset_type_id,
            name=values.name, status=values.status, hostname=values.hostname, serial=values.serial,
            device_uuid=values.device_uuid, fields=dict(imported or {}), created_at=self.now, new=True,
        )  # fmt: skip
        self._assets[state.id] = state
        return state

    async def update(
        self,
        state: AssetState,
        *,
        site_id: uuid.UUID,
        name: str,
        hostname: str | None,
        serial: str | None,
        device_uuid: str | None,
        imported: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Change what an import follows; the problems that stop it (nothing changed then)."""
        _, site_client = await self._site_for(state.client_id, site_id)
        values = AssetValues.of(site_id, state.asset_type_id, name, hostname, serial, device_uuid, state.status)
        errors = field_errors(values, state.client_id, site_client=site_client, type_known=True)
        if errors:
            return errors
        self._touch(state)
        state.site_id, state.name = site_id, values.name
        state.hostname, state.serial, state.device_uuid = values.hostname, values.serial, values.device_uuid
        if imported:
            state.fields = {**state.fields, **imported}
        return {}

    def set_status(self, state: AssetState, status: str) -> bool:
        if state.status == status or status not in (s.value for s in AssetStatus):
            return False
        before = snapshot(state)
        self._touch(state)
        state.status = status
        self._status_changes.append((state, before))
        return True

    def _touch(self, state: AssetState) -> None:
        if not state.new and not state.changed:
            state.before = snapshot(state)
        state.changed = True

    async def write(self) -> None:
        created = [state for state in self._assets.values() if state.new]
        if created:
            await insert_rows(
                self.session,
                table_of(Asset),
                [{name: getattr(s, name) for name in _COLUMNS} | {"updated_at": self.now} for s in created],
            )
        changed = [state for state in self._assets.values() if not state.new and state.changed]
        if changed:
            keep = ("site_id", "name", "status", "hostname", "serial", "device_uuid", "fields")
            await update_rows(
                self.session,
                table_of(Asset),
                [{"id": s.id, "updated_at": self.now} | {k: getattr(s, k) for k in keep} for s in changed],
            )
        audits: list[dict[str, Any]] = []
        status_only = {id(state) for state, _ in self._status_changes}
        for state in created:
            audits.append(self._audit("asset.create", state, None, snapshot(state)))
        for state in changed:
            if state.before is None:
                continue
            after = snapshot(state)
            # A status change has its own entry; the rest of what changed is one "asset.update".
            before = state.before if id(state) not in status_only else {**state.before, "status": state.status}
            delta = changes(before, after)
            if delta:
                audits.append(self._audit("asset.update", state, {k: o for k, (o, _) in delta.items()},
                                          {k: n for k, (_, n) in delta.items()}))  # fmt: skip
        for state, before in self._status_changes:
            if not state.new:
                audits.append(
                    self._audit("asset.status", state, {"status": before["status"]}, {"status": state.status})
                )
        if audits:
            await insert_rows(self.session, table_of(AuditEntry), audits)
        for state in self._assets.values():
            state.new, state.changed, state.before = False, False, None
        self._status_changes.clear()

    def _audit(
        self, action: str, state: AssetState, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(), "actor_id": None, "actor_label": self.actor_label, "action": action,
            "object_type": "asset", "object_id": str(state.id), "object_label": state.name[:500],
            "client_id": state.client_id, "before": jsonable(before), "after": jsonable(after),
        }  # fmt: skip

"""`socdesk sync run` and `socdesk keys rotate`: the sync engine and secrets from a shell."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

import portal.db.models  # noqa: F401  (every mapper, so relationships resolve outside the web app)
from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.integrations.secrets import SecretBox, rotate_all
from portal.domain.sync import engine as sync_engine
from portal.domain.sync.connector import build_runtime
from portal.domain.sync.models import SyncRun, SyncTrigger
from portal.integrations.catalog import manifest as manifest_for

MAX_PAGES = 100_000


class SyncCommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class ScopeRef:
    connection_id: uuid.UUID
    link_id: uuid.UUID | None
    entity: str
    label: str


def _matches(reference: str, identifier: uuid.UUID, name: str) -> bool:
    return reference == str(identifier) or reference.casefold() == name.casefold()


async def _scopes(database_url: str, connection_ref: str, client_ref: str | None, entity: str | None) -> list[ScopeRef]:
    engine = make_engine(database_url, pool_size=2)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            connection = await session.scalar(
                select(Connection)
                .where(or_(Connection.name == connection_ref, cast(Connection.id, String) == connection_ref))
                .options(selectinload(Connection.client_links).selectinload(ClientLink.client))
            )
            if connection is None:
                raise SyncCommandError(f"No connection is named or numbered {connection_ref!r}.")
            manifest = manifest_for(connection.vendor)
            specs = [spec for spec in manifest.entities if entity in (None, spec.name)]
            if not specs:
                names = ", ".join(spec.name for spec in manifest.entities)
                raise SyncCommandError(f"{manifest.display_name} syncs {names}; there is no {entity!r}.")
            links = [
                link
                for link in connection.client_links
                if client_ref is None or _matches(client_ref, link.client_id, link.client.name)
            ]
            if client_ref is not None and not links:
                raise SyncCommandError(f"No client {client_ref!r} is linked to {connection.name}.")
            scopes: list[ScopeRef] = []
            for spec in specs:
                if spec.per_client:
                    scopes += [
                        ScopeRef(
                            connection.id, link.id, spec.name, f"{connection.name} / {link.client.name} / {spec.name}"
                        )
                        for link in links
                    ]
                else:
                    scopes.append(ScopeRef(connection.id, None, spec.name, f"{connection.name} / {spec.name}"))
            return scopes
    finally:
        await engine.dispose()


async def run_sync_now(
    settings: Settings, database_url: str, connection_ref: str, client_ref: str | None, entity: str | None
) -> list[str]:
    """Run each matching scope to the end of its current run, here; one line per scope."""
    scopes = await _scopes(database_url, connection_ref, client_ref, entity)
    engine = make_engine(database_url, pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    lines: list[str] = []
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
            runtime = build_runtime(settings, sessionmaker, http)
            for scope in scopes:
                step = sync_engine.Step("page")
                for _ in range(MAX_PAGES):
                    step = await sync_engine.advance(
                        runtime, scope.connection_id, scope.link_id, scope.entity, trigger=SyncTrigger.CLI
                    )
                    if not step.more:
                        break
                lines.append(f"{scope.label}: {await _describe(sessionmaker, step)}")
    finally:
        await engine.dispose()
    return lines


async def _describe(sessionmaker: async_sessionmaker[AsyncSession], step: sync_engine.Step) -> str:
    if step.run_id is None:
        return f"{step.outcome} ({step.message})" if step.message else step.outcome
    async with session_scope(sessionmaker) as session:
        run = await session.get(SyncRun, step.run_id)
    if run is None:
        return step.outcome
    counts = (
        f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
        f"{run.skipped} skipped, {run.failed} failed"
    )
    suffix = f"; {step.message}" if step.message and step.outcome != "finished" else ""
    return f"{run.outcome if step.outcome == 'finished' else step.outcome}: {counts}{suffix}"


async def rotate_keys(settings: Settings, database_url: str) -> int:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await rotate_all(session, SecretBox.from_settings(settings))
    finally:
        await engine.dispose()


__all__ = ["SyncCommandError", "rotate_keys", "run_sync_now"]

"""Customers and sites from SentinelOne: the mapping table, and "Import customers" / "Import sites".

The mapping table is the connection's client links: each maps a SentinelOne account or site (its
remote scope, with ``kind`` in its settings) to a client and, optionally, one of its sites.
Importing creates what is missing (a client per account, or per site with site matching; a
socdesk site per SentinelOne site of a mapped account) and maps it, and renames mapped clients
and sites that were renamed in SentinelOne. It acts as the staff member who pressed the button,
so every client, site and link it makes is in the audit log under their name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.domain.access import Scope
from portal.domain.clients import service as clients
from portal.domain.clients.models import Client, Site
from portal.domain.errors import ValidationError
from portal.domain.integrations import client_links
from portal.domain.integrations.client_links import LinkInput
from portal.domain.integrations.models import ClientLink, Connection
from portal.integrations.errors import VendorError
from portal.integrations.sentinelone.client import SentinelOneApi
from portal.integrations.sentinelone.records import RecordError, read_account, read_site
from portal.integrations.sentinelone.records import Scope as RemoteScope
from portal.integrations.sentinelone.routing import link_kind, matching_method


@dataclass
class ImportResult:
    created: int = 0  # clients (or sites) made
    linked: int = 0  # mapped to one that already existed
    renamed: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self, noun: str) -> str:
        parts = [f"{self.created} {noun} created", f"{self.linked} mapped to existing ones", f"{self.renamed} renamed"]
        text = ", ".join(parts) + "."
        if self.problems:
            text += " Not imported: " + "; ".join(self.problems[:10]) + (" …" if len(self.problems) > 10 else "")
        return text


@dataclass(frozen=True)
class Unmapped:
    scope: RemoteScope
    note: str = ""


@dataclass(frozen=True)
class MappingTable:
    method: str
    links: list[ClientLink]
    unmapped: list[Unmapped]
    remote_error: str = ""  # SentinelOne could not be read: the table shows the links only


def _readable(
    raws: Sequence[Mapping[str, Any]], reader: Callable[[Mapping[str, Any]], RemoteScope]
) -> tuple[list[RemoteScope], list[str]]:
    """The records that read, and what was wrong with the others (listed, never dropped silently)."""
    scopes: list[RemoteScope] = []
    problems: list[str] = []
    for raw in raws:
        try:
            scopes.append(reader(raw))
        except RecordError as exc:
            problems.append(str(exc))
    return scopes, problems


async def remote_scopes(api: SentinelOneApi, kind: str) -> tuple[list[RemoteScope], list[str]]:
    if kind == "account":
        return _readable(await api.client.accounts(), read_account)
    return _readable(await api.client.sites(), read_site)


async def _links(session: AsyncSession, connection_id: uuid.UUID) -> list[ClientLink]:
    return list(
        (
            await session.scalars(
                select(ClientLink)
                .where(ClientLink.connection_id == connection_id)
                .options(selectinload(ClientLink.client), selectinload(ClientLink.site))
                .order_by(ClientLink.created_at)
            )
        ).all()
    )


def _by_scope(links: Sequence[ClientLink], kind: str) -> dict[str, ClientLink]:
    found: dict[str, ClientLink] = {}
    for link in links:
        if link_kind(link.settings) == kind and link.remote_scope:
            found.setdefault(link.remote_scope, link)
    return found


async def mapping_table(
    session: AsyncSession, access: Scope, api: SentinelOneApi, connection: Connection
) -> MappingTable:
    """The links, and the accounts and sites SentinelOne has that no link maps (listed, never dropped)."""
    access.require_admin()
    links = await _links(session, connection.id)
    method = matching_method(connection.mappings)
    unmapped: list[Unmapped] = []
    try:
        kinds = ("account", "site") if method == "account" else ("site",)
        for kind in kinds:
            scopes, problems = await remote_scopes(api, kind)
            mapped = _by_scope(links, kind)
            accounts = _by_scope(links, "account")
            for scope in scopes:
                if scope.id in mapped:
                    continue
                if kind == "site" and method == "account" and scope.account_id in accounts:
                    note = f"covered by its account's mapping ({accounts[scope.account_id].client.name}, main site)"
                else:
                    note = ""
                unmapped.append(Unmapped(scope, note))
            unmapped += [Unmapped(RemoteScope(kind, "?", "(unreadable)"), problem) for problem in problems]
    except VendorError as exc:
        return MappingTable(method, links, [], remote_error=exc.describe())
    return MappingTable(method, links, unmapped)


async def _client_named(session: AsyncSession, name: str) -> Client | None:
    return await session.scalar(select(Client).where(func.lower(Client.name) == name.strip().lower()).limit(1))


async def _rename_client(session: AsyncSession, access: Scope, client: Client, name: str, result: ImportResult) -> None:
    if client.name == name:
        return
    try:
        await clients.update_client(
            session, access, client.id, name=name, reference=client.reference, notes=client.notes
        )
        result.renamed += 1
    except ValidationError as exc:
        result.problems.append(f"{client.name} not renamed to {name}: {'; '.join(exc.fields.values())}")


def _link_input(scope: RemoteScope, site_id: uuid.UUID | None) -> LinkInput:
    return LinkInput(
        site_id=site_id, remote_scope=scope.id, remote_name=scope.name[:255],
        settings={"s1_id": scope.id, "kind": scope.kind},
    )  # fmt: skip


async def import_customers(
    session: AsyncSession, access: Scope, api: SentinelOneApi, connection: Connection
) -> ImportResult:
    """A client per account (or per site, with site matching), mapped; mapped clients follow renames."""
    access.require_admin()
    kind = matching_method(connection.mappings)
    scopes, problems = await remote_scopes(api, kind)
    result = ImportResult(problems=list(problems))
    mapped = _by_scope(await _links(session, connection.id), kind)
    for scope in scopes:
        if scope.state == "deleted":
            continue
        link = mapped.get(scope.id)
        if link is not None:
            await _rename_client(session, access, link.client, scope.name, result)
            link.remote_name = scope.name[:255]
            continue
        client = await _client_named(session, scope.name)
        try:
            async with session.begin_nested():
                if client is None:
                    client = await clients.create_client(session, access, scope.name[:200])
                    result.created += 1
                else:
                    result.linked += 1
                await client_links.add_link(session, access, connection.id, client.id, _link_input(scope, None))
        except ValidationError as exc:
            result.problems.append(f"{scope.name}: {'; '.join(exc.fields.values()) or exc.message}")
    return result


async def import_sites(
    session: AsyncSession, access: Scope, api: SentinelOneApi, connection: Connection
) -> ImportResult:
    """A socdesk site per SentinelOne site of a mapped account, mapped; mapped sites follow renames."""
    access.require_admin()
    if matching_method(connection.mappings) == "site":
        raise ValidationError(
            {"import": "With site matching every SentinelOne site is a client: Import customers creates and maps them."}
        )
    links = await _links(session, connection.id)
    accounts = _by_scope(links, "account")
    if not accounts:
        raise ValidationError({"import": "Import customers first: no SentinelOne account is mapped to a client yet."})
    scopes, problems = await remote_scopes(api, "site")
    result = ImportResult(problems=list(problems))
    mapped = _by_scope(links, "site")
    for scope in scopes:
        if scope.state == "deleted":
            continue
        link = mapped.get(scope.id)
        if link is not None:
            if link.site is not None and link.site.name != scope.name:
                await _rename_site(session, access, link.site, scope.name, result)
            link.remote_name = scope.name[:255]
            continue
        account = accounts.get(scope.account_id or "")
        if account is None:
            result.problems.append(
                f"site {scope.name}: its account {scope.account_name or scope.account_id} is not mapped"
            )
            continue
        client_id = account.client_id
        site = await session.scalar(
            select(Site).where(Site.client_id == client_id, func.lower(Site.name) == scope.name.strip().lower())
        )
        try:
            async with session.begin_nested():
                if site is None:
                    site = await clients.add_site(session, access, client_id, scope.name[:200])
                    result.created += 1
                else:
                    result.linked += 1
                await client_links.add_link(session, access, connection.id, client_id, _link_input(scope, site.id))
        except ValidationError as exc:
            result.problems.append(f"site {scope.name}: {'; '.join(exc.fields.values()) or exc.message}")
    return result


async def _rename_site(session: AsyncSession, access: Scope, site: Site, name: str, result: ImportResult) -> None:
    try:
        await clients.update_site(session, access, site.client_id, site.id, name=name, address=site.address)
        result.renamed += 1
    except ValidationError as exc:
        result.problems.append(f"site {site.name} not renamed to {name}: {'; '.join(exc.fields.values())}")


async def map_scope(
    session: AsyncSession,
    access: Scope,
    connection: Connection,
    *,
    kind: str,
    remote_id: str,
    remote_name: str,
    client_id: uuid.UUID | None,
    site_id: uuid.UUID | None,
) -> ClientLink:
    """Map one listed account or site to a client (and site) by hand."""
    if client_id is None:
        raise ValidationError({"client_id": "Choose a client."})
    if kind not in ("account", "site") or not remote_id.strip():
        raise ValidationError({"remote_id": "Choose a SentinelOne account or site from the list."})
    scope = RemoteScope(kind, remote_id.strip(), remote_name.strip() or remote_id.strip())
    return await client_links.add_link(session, access, connection.id, client_id, _link_input(scope, site_id))

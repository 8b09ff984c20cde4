"""Sweeps over every route the app serves, so a new route cannot forget scoping or CSRF.

- Every route that takes a client-owned id (client, site, asset, ticket, and the integration records
  of a client: its connection link, sync state, sync run and outbox message), page or API, called
  by a user limited to another client, answers 404: the object might as well not exist.
- Every unsafe page route refuses a request without a CSRF token; every API route refuses a
  request without a bearer token.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.accounts.tokens import create_token
from portal.domain.assets.models import Asset, AssetType
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.sync.models import OutboxMessage, SyncRun, SyncState
from portal.domain.tickets.models import Ticket, TicketType
from tests.conftest import csrf_token, sign_in

CLIENT_OWNED = {"client_id", "site_id", "asset_id", "ticket_id", "link_id", "state_id", "run_id", "message_id"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Request bodies that pass validation, so the scope check (not the schema) decides the answer.
API_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/tickets/{ticket_id:uuid}/actions"): {"body": "probe"},
    ("POST", "/api/v1/tickets/{ticket_id:uuid}/close"): {"classification": "Undetermined"},
}


@dataclass
class Estate:
    client: Client
    site: Site
    asset: Asset
    ticket: Ticket
    link: ClientLink
    state: SyncState
    run: SyncRun
    message: OutboxMessage


async def _estate(session: Any, name: str) -> Estate:
    client = Client(name=name, notes="")
    session.add(client)
    await session.flush()
    site = Site(client_id=client.id, name="Main", is_main=True)
    asset_type = await session.scalar(select(AssetType).limit(1))
    ticket_type = await session.scalar(select(TicketType).limit(1))
    session.add(site)
    await session.flush()
    asset = Asset(client_id=client.id, site_id=site.id, asset_type_id=asset_type.id, name=f"{name}-PC1")
    session.add(asset)
    await session.flush()
    ticket = Ticket(
        client_id=client.id,
        site_id=site.id,
        asset_id=asset.id,
        ticket_type_id=ticket_type.id,
        priority_id=ticket_type.default_priority_id,
        status_id=ticket_type.default_status_id,
        summary=f"{name} incident",
    )
    session.add(ticket)
    # The client's side of an integration: its link to a connection and that link's sync records.
    connection = Connection(vendor="acme", name=f"{name} connection")
    session.add(connection)
    await session.flush()
    link = ClientLink(connection_id=connection.id, client_id=client.id, remote_scope=name)
    session.add(link)
    await session.flush()
    state = SyncState(connection_id=connection.id, client_link_id=link.id, entity="cases")
    run = SyncRun(
        connection_id=connection.id,
        client_link_id=link.id,
        entity="cases",
        trigger="schedule",
        outcome="partial",
        problems=[{"remote_id": "probe", "error": "probe"}],
    )
    message = OutboxMessage(
        connection_id=connection.id, ticket_id=ticket.id, operation="comment", remote_type="case", remote_id="1",
        status="failed",
    )  # fmt: skip
    session.add_all([state, run, message])
    await session.flush()
    return Estate(client, site, asset, ticket, link, state, run, message)


def _routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method in route.route_handler_map:
            if method not in {"OPTIONS", "HEAD"}:
                found.append((method, route.path))
    return sorted(found)


def _fill(path: str, estate: Estate) -> str:
    """The route with the estate's ids in; any other parameter gets a fresh value."""
    values = {
        "client_id": estate.client.id,
        "site_id": estate.site.id,
        "asset_id": estate.asset.id,
        "ticket_id": estate.ticket.id,
        "link_id": estate.link.id,
        "state_id": estate.state.id,
        "run_id": estate.run.id,
        "message_id": estate.message.id,
    }
    return re.sub(r"\{(\w+):[^}]+\}", lambda match: str(values.get(match.group(1), uuid.uuid4())), path)


async def test_every_client_owned_route_is_404_for_another_clients_objects(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    # An administrator limited to one client: role guards let it through, so only scoping can stop it.
    user = await make_user(Role.ADMIN)
    async with session_scope(sessionmaker) as session:
        mine = await _estate(session, "Mine")
        theirs = await _estate(session, "Theirs")
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.all_clients = False
        session.add(UserClient(user_id=user.id, client_id=mine.client.id))
        token = (await create_token(session, stored, "sweep")).secret
    await sign_in(client, user.email)
    bearer = {"Authorization": f"Bearer {token}"}

    checked: list[str] = []
    leaks: list[str] = []
    for method, template in _routes(app):
        params = set(re.findall(r"\{(\w+):", template))
        if not params & CLIENT_OWNED or params - CLIENT_OWNED:
            continue
        url = _fill(template, theirs)
        if template.startswith("/api/"):
            body = API_BODIES.get((method, template), {})
            response = await client.request(method, url, headers=bearer, json=body if method in UNSAFE else None)
        elif method in UNSAFE:
            response = await client.request(method, url, data={"_csrf_token": await csrf_token(client, "/")})
        else:
            response = await client.request(method, url)
        checked.append(f"{method} {template}")
        if response.status_code != 404:
            leaks.append(f"{method} {template} -> {response.status_code}")
        # The same routes work on the user's own objects (so a 404 above is scoping, not a broken route).
        if method == "GET":
            own = await client.get(_fill(template, mine), headers=bearer if template.startswith("/api/") else None)
            assert own.status_code == 200, f"GET {template} on own objects -> {own.status_code}"
    assert len(checked) >= 3
    assert leaks == [], leaks


# How an unsafe request without a CSRF token is refused, by path: the API wants a bearer token,
# webhooks a vendor signature (an unknown connection is 404); everything else a CSRF token.
REFUSALS = {"/api/": {401}, "/hooks/": {401, 404}}


async def test_every_unsafe_route_needs_csrf_or_a_token(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    user = await make_user(Role.ADMIN)
    async with session_scope(sessionmaker) as session:
        estate = await _estate(session, "Only")
    await sign_in(client, user.email)
    refused: list[str] = []
    accepted: list[str] = []
    for method, template in _routes(app):
        if method not in UNSAFE:
            continue
        response = await client.request(method, _fill(template, estate), data={"field": "value"})
        expected = next((codes for prefix, codes in REFUSALS.items() if template.startswith(prefix)), {403})
        outcome = refused if response.status_code in expected else accepted
        outcome.append(f"{method} {template} -> {response.status_code}")
    assert accepted == [], accepted
    assert len(refused) >= 3

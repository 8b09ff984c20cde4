"""The dashboard page and its fragments, as each kind of user gets them."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.clients.models import Client, Site
from portal.domain.integrations.models import ClientLink, Connection
from portal.domain.tickets.models import Ticket, TicketType
from tests.conftest import sign_in

HX = {"HX-Request": "true"}


async def _estate(sessionmaker) -> dict[str, uuid.UUID]:
    async with session_scope(sessionmaker) as session:
        ticket_type = await session.scalar(select(TicketType).order_by(TicketType.name))
        assert ticket_type is not None
        ids = {}
        for name, count in (("Northwind", 2), ("Globex Secret", 3)):
            client = Client(name=name, sites=[Site(name="Main", is_main=True)])
            session.add(client)
            await session.flush()
            ids[name] = client.id
            for n in range(count):
                session.add(
                    Ticket(
                        client_id=client.id,
                        site_id=client.sites[0].id,
                        ticket_type_id=ticket_type.id,
                        priority_id=ticket_type.default_priority_id,
                        status_id=ticket_type.default_status_id,
                        summary=f"{name} alert {n}",
                        source="acme",
                    )
                )
            connection = Connection(vendor="acme", name=f"{name} console")
            session.add(connection)
            await session.flush()
            session.add(ClientLink(connection_id=connection.id, client_id=client.id, remote_scope=name))
    return ids


async def test_the_dashboard_shows_figures_chart_and_sync_strip(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    await _estate(sessionmaker)
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert 'sse-connect="/live/stream?topics=tickets,sync"' in html
    assert 'data-testid="figure-open"' in html
    assert 'data-value="5"' in html  # five open tickets
    assert 'data-testid="opened-closed-chart"' in html
    assert html.count('data-testid="sync-tile"') == 2
    assert "Globex Secret alert" in html


async def test_a_limited_analyst_never_sees_another_clients_numbers(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    ids = await _estate(sessionmaker)
    analyst = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, analyst.id)
        assert stored is not None
        stored.all_clients = False
        session.add(UserClient(user_id=analyst.id, client_id=ids["Northwind"]))
    await sign_in(client, analyst.email)
    for path in ("/", "/dashboard/tickets", "/dashboard/sync"):
        response = await client.get(path, headers=HX if path != "/" else None)
        assert response.status_code == 200
        assert "Globex" not in response.text, path
    tickets = await client.get("/dashboard/tickets", headers=HX)
    assert tickets.text.lstrip().startswith('<section id="dash-tickets"')  # the fragment alone
    assert '<span class="tile-value figure" data-value="2">' in tickets.text  # Northwind's two, not five
    sync = await client.get("/dashboard/sync", headers=HX)
    assert sync.text.count('data-testid="sync-tile"') == 1


async def test_a_fragment_route_without_htmx_is_the_whole_page(client: AsyncTestClient[Litestar], make_user) -> None:
    viewer = await make_user(Role.VIEWER)
    await sign_in(client, viewer.email)
    response = await client.get("/dashboard/tickets")
    assert response.status_code == 200
    assert "<h1>Operations dashboard</h1>" in response.text

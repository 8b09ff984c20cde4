"""Sentinel's pages through the real app: the Tenants tab, mappings (pair check), the workspace picker,
the ticket panel and "Send to Sentinel" (with scoping), and admin consent's state check."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User
from portal.domain.clients.service import create_client
from portal.domain.integrations import client_links, service
from portal.domain.integrations.models import Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import OutboxMessage
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Priority, TicketType
from portal.integrations.oauth import SECRETS_KEY, TokenSet
from tests.conftest import csrf_token, sign_in

HTMX = {"HX-Request": "true"}
TENANT = "7f3c2b1a-0000-4000-8000-00000000c0de"
FORM = {
    "name": "Sentinel MSP",
    "client_id": "00001111-aaaa-2222-bbbb-3333cccc4444",
    "client_secret": "entra-client-secret-value",
    "cloud": "public",
    "api_version": "2025-06-01",
    "page_size": "200",
}


def _box(app: Litestar) -> SecretBox:
    return SecretBox.from_settings(app.state.settings)


async def _admin(client: AsyncTestClient[Litestar], make_user) -> Scope:
    user: User = await make_user(Role.ADMIN)
    assert (await sign_in(client, user.email)).status_code == 303
    return Scope(user.id, Role.ADMIN, True, frozenset(), user.email)


async def _post(client: AsyncTestClient[Litestar], url: str, data: dict[str, str] | None = None, **kwargs: Any):
    token = await csrf_token(client, "/profile")
    return await client.post(url, data={**(data or {}), "_csrf_token": token}, follow_redirects=False, **kwargs)


async def _connection(app: Litestar, sessionmaker, scope: Scope, *, signed_in: bool = True) -> Connection:
    box = _box(app)
    async with session_scope(sessionmaker) as session:
        connection = await service.create_connection(session, scope, box, "sentinel", FORM["name"], FORM)
        connection.status = ConnectionStatus.CONNECTED.value
        if signed_in:
            values = box.open(connection.secrets_ciphertext)
            tokens = TokenSet("at", "rt", utcnow() + timedelta(hours=1), "", {"tid": TENANT, "name": "Ann Admin"})
            values[SECRETS_KEY] = {TENANT: tokens.to_json()}
            connection.secrets_ciphertext = box.seal(values)
    return connection


async def test_tenants_tab_shows_what_to_register_and_who_is_signed_in(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    response = await client.get(f"/integrations/connections/{connection.id}/tenants")
    assert response.status_code == 200
    page = response.text
    assert "http://testserver.local/authcallback" in page or "/authcallback" in page
    assert "https://management.azure.com/user_impersonation" in page
    assert "https://api.loganalytics.io/Data.Read" in page
    assert "offline_access" in page
    assert TENANT in page
    assert "Ann Admin" in page
    assert f"/hooks/{connection.id}" in page
    assert "@triggerBody()" in page
    assert "entra-client-secret-value" not in page
    partial = await client.get(f"/integrations/connections/{connection.id}/tenants", headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in partial.text


async def test_sign_in_for_a_tenant_goes_to_that_tenant(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope, signed_in=False)
    response = await _post(client, f"/integrations/connections/{connection.id}/connect", {"tenant": TENANT})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize?")
    refused = await _post(client, f"/integrations/connections/{connection.id}/connect", {"tenant": "../x"})
    assert refused.status_code == 400
    assert "not a tenant" in refused.text


async def test_admin_consent_round_trip_checks_the_state(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope, signed_in=False)
    response = await _post(
        client, f"/integrations/connections/{connection.id}/tenants/admin-consent", {"tenant": TENANT}
    )
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.path == f"/{TENANT}/v2.0/adminconsent"
    assert location.params["scope"] == "https://management.azure.com/.default"
    state = location.params["state"]
    forged = await client.get(f"/authcallback?admin_consent=True&tenant={TENANT}&state=forged", follow_redirects=False)
    assert forged.status_code == 400
    refused = await client.get(
        f"/authcallback?admin_consent=True&error=consent_required&error_description=AADSTS65004&state={state}",
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "AADSTS65004" in refused.text
    again = await _post(client, f"/integrations/connections/{connection.id}/tenants/admin-consent", {"tenant": TENANT})
    state = httpx.URL(again.headers["location"]).params["state"]
    granted = await client.get(
        f"/authcallback?admin_consent=True&tenant=evil-tenant&state={state}", follow_redirects=False
    )
    assert granted.status_code == 303
    page = await client.get(granted.headers["location"])
    assert f"Administrator consent granted for tenant {TENANT}" in page.text  # ours, not the answer's claim


async def test_default_classification_and_reason_must_be_an_allowed_pair(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    async with sessionmaker() as session:
        ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
        priority = await session.scalar(select(Priority.id).limit(1))
    mappings = {
        "ticket_type": str(ticket_type), "default_classification": "TruePositive", "default_reason": "InaccurateData",
        **{f"priority_{s}": str(priority) for s in ("High", "Medium", "Low", "Informational")},
    }  # fmt: skip
    missing = await client.get(f"/integrations/connections/{connection.id}/mappings")
    assert "Ticket type for Sentinel incidents" in missing.text
    refused = await _post(client, f"/integrations/connections/{connection.id}/mappings", mappings)
    assert refused.status_code == 422
    assert "TruePositive needs one of these reasons: SuspiciousActivity" in refused.text
    saved = await _post(
        client,
        f"/integrations/connections/{connection.id}/mappings",
        {**mappings, "default_reason": "SuspiciousActivity"},
    )
    assert saved.status_code == 303
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        assert stored.mappings["default_reason"] == "SuspiciousActivity"


async def test_picker_says_when_the_tenant_is_not_signed_in(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope, signed_in=False)
    response = await client.get(
        f"/integrations/sentinel/{connection.id}/workspaces",
        params={"tenant_id": TENANT, "prefix": "new-link-"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Nobody has signed in for this tenant yet" in response.text
    picked = await client.get(
        f"/integrations/sentinel/{connection.id}/pick",
        params={"prefix": "new-link-", "subscription_id": "s1", "resource_group": "rg", "workspace_name": "ws"},
        headers=HTMX,
    )
    assert 'id="new-link-workspace_name"' in picked.text
    assert 'value="ws"' in picked.text
    assert 'hx-swap-oob="true"' in picked.text


async def test_send_to_sentinel_links_the_ticket_and_queues_the_incident(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    async with session_scope(sessionmaker) as session:
        customer = await create_client(session, scope, name="Fabrikam", reference="FAB")
        other = await create_client(session, scope, name="Initech", reference="INI")
        link = await client_links.add_link(
            session, scope, connection.id, customer.id,
            client_links.LinkInput(None, "", "", {
                "tenant_id": TENANT, "subscription_id": "sub-1", "resource_group": "rg", "workspace_name": "ws",
            }),
        )  # fmt: skip
        ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
        assert ticket_type is not None
        ticket = await tickets.create_ticket(
            session, scope, tickets.NewTicket(client_id=customer.id, ticket_type_id=ticket_type, summary="VPN login")
        )
        elsewhere = await tickets.create_ticket(
            session, scope, tickets.NewTicket(client_id=other.id, ticket_type_id=ticket_type, summary="Other")
        )
    panel = await client.get(f"/tickets/{ticket.id}/sentinel", headers=HTMX)
    assert 'data-testid="sentinel-send"' in panel.text
    assert "hidden" in (await client.get(f"/tickets/{elsewhere.id}/sentinel", headers=HTMX)).text
    sent = await _post(client, f"/tickets/{ticket.id}/sentinel/send", {"link_id": str(link.id)})
    assert sent.status_code == 303
    twice = await _post(client, f"/tickets/{ticket.id}/sentinel/send", {"link_id": str(link.id)})
    assert twice.status_code == 303
    async with sessionmaker() as session:
        links = (await session.scalars(select(ExternalLink).where(ExternalLink.local_id == ticket.id))).all()
        messages = (await session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id))).all()
    assert len(links) == 1
    assert links[0].remote_id.startswith(f"{TENANT}/sub-1/rg/ws/")
    assert [(m.operation, m.remote_id) for m in messages] == [("create", links[0].remote_id)]
    assert messages[0].payload["title"] == "VPN login"


async def test_a_user_limited_to_other_clients_gets_404_for_the_panel(client, app, sessionmaker, make_user) -> None:
    admin: User = await make_user(Role.ADMIN)
    scope = Scope(admin.id, Role.ADMIN, True, frozenset(), admin.email)
    async with session_scope(sessionmaker) as session:
        customer = await create_client(session, scope, name="Fabrikam", reference="FAB")
        ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
        assert ticket_type is not None
        ticket = await tickets.create_ticket(
            session, scope, tickets.NewTicket(client_id=customer.id, ticket_type_id=ticket_type, summary="VPN login")
        )
        visible = await create_client(session, scope, name="Initech", reference="INI")
    limited: User = await make_user(Role.ANALYST)
    from portal.domain.accounts.models import UserClient

    async with session_scope(sessionmaker) as session:
        user = await session.get(User, limited.id)
        assert user is not None
        user.all_clients = False
        session.add(UserClient(user_id=limited.id, client_id=visible.id))
    assert (await sign_in(client, limited.email)).status_code == 303
    assert (await client.get(f"/tickets/{ticket.id}/sentinel", headers=HTMX)).status_code == 404
    assert (
        await _post(client, f"/tickets/{ticket.id}/sentinel/send", {"link_id": str(uuid.uuid4())})
    ).status_code == 404
    assert (await client.get(f"/integrations/connections/{uuid.uuid4()}/tenants")).status_code in (403, 404)


async def test_webhooks_turn_the_poll_into_an_hourly_reconcile(client, app, sessionmaker, make_user) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    assert (await _post(client, f"/integrations/connections/{connection.id}/webhook-secret")).status_code in (200, 303)
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        assert stored.schedules["incidents"] == {"enabled": True, "minutes": 60}
        stored.schedules = {"incidents": {"enabled": True, "minutes": 5}}
        await session.commit()
    await _post(client, f"/integrations/connections/{connection.id}/webhook-secret")  # rotating again keeps a choice
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        assert stored.schedules["incidents"]["minutes"] == 5


async def test_a_disallowed_pair_is_refused_by_the_close_form_before_anything_is_saved(
    client, app, sessionmaker, make_user
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    async with session_scope(sessionmaker) as session:
        customer = await create_client(session, scope, name="Fabrikam", reference="FAB")
        ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
        assert ticket_type is not None
        ticket = await tickets.create_ticket(
            session, scope, tickets.NewTicket(client_id=customer.id, ticket_type_id=ticket_type, summary="Imported")
        )
        session.add(
            ExternalLink(
                connection_id=connection.id, remote_type="incident", remote_id=f"{TENANT}/s/rg/ws/inc-1",
                local_type="ticket", local_id=ticket.id,
            )
        )  # fmt: skip
    refused = await _post(
        client, f"/tickets/{ticket.id}/close",
        {"classification": "TruePositive", "classification_reason": "InaccurateData", "note": "done"}, headers=HTMX,
    )  # fmt: skip
    assert refused.status_code == 422
    assert "True positive allows only: Suspicious activity" in refused.text
    async with sessionmaker() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []
        reloaded = await tickets.get_ticket(session, scope, ticket.id)
        assert not reloaded.ticket.status.is_closed
    closed = await _post(
        client, f"/tickets/{ticket.id}/close",
        {"classification": "TruePositive", "classification_reason": "SuspiciousActivity", "note": "done"}, headers=HTMX,
    )  # fmt: skip
    assert closed.status_code == 200
    async with sessionmaker() as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    assert (message.operation, message.payload["classification"], message.payload["reason"]) == (
        "close", "TruePositive", "SuspiciousActivity",
    )  # fmt: skip

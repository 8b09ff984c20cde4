"""Integrations pages through the real app: adding a connection from the manifest, the connection's tabs
(full page and HTMX), secrets never shown back, client links, sync now, watermarks, logs, and roles."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client
from portal.domain.clients.service import create_client
from portal.domain.integrations import client_links, service
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.models import InboundEvent, OutboundRequest, RunOutcome, SyncRun, SyncState
from portal.domain.tickets.models import TicketType
from portal.integrations.base import ConnectionCheck
from tests.conftest import csrf_token, sign_in
from workers.queue import JobQueue

HTMX = {"HX-Request": "true"}
SECRET = "client-secret-do-not-show"
FORM = {
    "name": "Acme EU",
    "api_url": "https://acme.test",
    "login_url": "https://login.acme.test",
    "client_id": "socdesk-app",
    "client_secret": SECRET,
    "page_size": "100",
}


async def _queued(app: Litestar) -> int:
    """Jobs waiting in the queue (read with a queue of the test's own: the app's lives in another loop)."""
    queue = await JobQueue.connect(app.state.settings.redis_url)
    try:
        return await queue.depth()
    finally:
        await queue.close()


def _box(app: Litestar) -> SecretBox:
    return SecretBox.from_settings(app.state.settings)


async def _admin(client: AsyncTestClient[Litestar], make_user) -> Scope:
    user: User = await make_user(Role.ADMIN)
    assert (await sign_in(client, user.email)).status_code == 303
    return Scope(user.id, Role.ADMIN, True, frozenset(), user.email)


async def _post(client: AsyncTestClient[Litestar], url: str, data: dict[str, str] | None = None, **kwargs: Any):
    token = await csrf_token(client, "/profile")
    return await client.post(url, data={**(data or {}), "_csrf_token": token}, follow_redirects=False, **kwargs)


async def _connection(app: Litestar, sessionmaker, scope: Scope, *, connected: bool = True, mapped: bool = True):
    async with session_scope(sessionmaker) as session:
        connection = await service.create_connection(session, scope, _box(app), "acme", "Acme EU", FORM)
        if connected:
            connection.status = ConnectionStatus.CONNECTED.value
        if mapped:
            ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
            connection.mappings = {"ticket_type": str(ticket_type)}
    return connection


async def _client_with_link(sessionmaker, scope: Scope, connection: Connection, name: str = "Globex"):
    async with session_scope(sessionmaker) as session:
        client = await create_client(session, scope, name)
        link = await client_links.add_link(
            session, scope, connection.id, client.id, client_links.LinkInput(None, "", "", {"tenant": f"{name}-t"})
        )
    return client, link


# ---------------------------------------------------------------- adding a connection


async def test_admin_adds_a_connection_from_the_manifest_form(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    await _admin(client, make_user)
    listing = await client.get("/integrations")
    assert listing.status_code == 200
    assert 'href="/integrations" aria-current="page"' in listing.text
    assert 'href="/integrations/new?vendor=acme"' in listing.text
    assert "No connections yet" in listing.text

    form = await client.get("/integrations/new?vendor=acme")
    assert form.status_code == 200
    assert 'id="client_secret" name="client_secret" type="password"' in form.text
    assert 'id="api_url" name="api_url" type="url"' in form.text
    assert "http://testserver.local/authcallback" in form.text or "/authcallback</code>" in form.text
    assert "cases.read" in form.text  # the scopes to register
    assert (await client.get("/integrations/new?vendor=nope", follow_redirects=False)).status_code == 303

    refused = await _post(client, "/integrations", {**FORM, "vendor": "acme", "api_url": "ftp://x", "page_size": "0"})
    assert refused.status_code == 422
    assert 'id="api_url-error"' in refused.text
    assert "must be an http(s) address" in refused.text
    assert "Page size must be at least 1." in refused.text
    assert 'value="socdesk-app"' in refused.text  # what was typed stays
    assert SECRET not in refused.text  # but a secret is never sent back
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Connection)) == 0

    created = await _post(client, "/integrations", {**FORM, "vendor": "acme"})
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/integrations/connections/[0-9a-f-]{36}", location)
    page = await client.get(location)
    assert page.status_code == 200
    assert "Acme EU" in page.text
    assert SECRET not in page.text
    assert 'data-testid="reauth-banner"' in page.text  # an OAuth vendor starts signed out
    assert f'action="{location}/connect"' in page.text
    async with sessionmaker() as session:
        stored = await session.scalar(text("SELECT secrets_ciphertext || config::text FROM connections"))
    assert SECRET not in stored


async def test_connection_tabs_are_pages_and_htmx_fragments(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    await _client_with_link(sessionmaker, scope, connection)
    base = f"/integrations/connections/{connection.id}"
    for tab in ("", "/mappings", "/clients", "/runs", "/watermarks", "/requests", "/events"):
        full = await client.get(base + tab)
        assert full.status_code == 200, tab
        assert "<html" in full.text
        assert 'data-testid="connection-tabs"' in full.text
        fragment = await client.get(base + tab, headers=HTMX)
        assert fragment.status_code == 200, tab
        assert fragment.text.lstrip().startswith('<div id="connection-tab"'), tab
        assert "<html" not in fragment.text
        current = re.search(r'aria-current="page" data-tab="(\w+)"', fragment.text)
        assert current is not None
        assert current.group(1) == (tab.strip("/") or "setup")
    setup = await client.get(base)
    assert (
        f"http://testserver.local/hooks/{connection.id}" in setup.text or f"/hooks/{connection.id}</code>" in setup.text
    )
    assert (await client.get(f"/integrations/connections/{uuid.uuid4()}")).status_code == 404


async def test_setup_saves_keep_a_blank_secret_and_show_errors_beside_fields(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    url = f"/integrations/connections/{connection.id}"
    refused = await _post(client, url, {**FORM, "client_secret": "", "login_url": "not a url"})
    assert refused.status_code == 422
    assert 'id="login_url-error"' in refused.text
    saved = await _post(client, url, {**FORM, "name": "Acme Europe", "client_secret": ""})
    assert saved.status_code == 303
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
    assert stored.name == "Acme Europe"
    assert _box(app).open(stored.secrets_ciphertext)["client_secret"] == SECRET
    page = await client.get(url)
    assert "Stored encrypted. Leave blank to keep it" in page.text
    assert SECRET not in page.text


async def test_rotating_the_webhook_secret_shows_it_once(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    url = f"/integrations/connections/{connection.id}"
    rotated = await _post(client, f"{url}/webhook-secret")
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    match = re.search(r'data-testid="webhook-secret">([^<]+)<', rotated.text)
    assert match is not None
    secret = match.group(1)
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
    assert _box(app).open(stored.secrets_ciphertext)["webhook_secret"] == secret
    assert secret not in stored.secrets_ciphertext
    again = await client.get(url)
    assert secret not in again.text
    assert "Rotate secret" in again.text


async def test_mappings_and_schedules_save_with_field_errors(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope, mapped=False)
    url = f"/integrations/connections/{connection.id}"
    page = await client.get(f"{url}/mappings")
    assert 'data-testid="mappings-warning"' in page.text
    assert "Still to set: Ticket type for cases." in page.text
    # Mandatory first: the ticket type select comes before the priorities.
    assert page.text.index('id="mapping-ticket_type"') < page.text.index('id="mapping-priority_high"')
    refused = await _post(client, f"{url}/mappings", {"ticket_type": ""})
    assert refused.status_code == 422
    assert "Ticket type for cases is required." in refused.text
    async with sessionmaker() as session:
        ticket_type = await session.scalar(select(TicketType.id).where(TicketType.name == "Alert"))
    saved = await _post(client, f"{url}/mappings", {"ticket_type": str(ticket_type)})
    assert saved.status_code == 303
    after = await client.get(f"{url}/mappings")
    assert 'data-testid="mappings-warning"' not in after.text
    assert f'<option value="{ticket_type}" selected>' in after.text

    bad = await _post(client, f"{url}/schedules", {"cases_enabled": "on", "cases_minutes": "5000"})
    assert bad.status_code == 422
    assert "from 1 to 1440" in bad.text
    assert 'value="5000"' in bad.text
    good = await _post(client, f"{url}/schedules", {"cases_minutes": "30"})
    assert good.status_code == 303
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
    assert stored.schedules == {"cases": {"enabled": False, "minutes": 30}}


async def test_enable_disable_and_delete(app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker):
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    url = f"/integrations/connections/{connection.id}"
    assert (await _post(client, f"{url}/disable")).status_code == 303
    assert 'data-testid="enable-connection"' in (await client.get(url)).text
    assert (await _post(client, f"{url}/enable")).status_code == 303
    assert 'data-testid="disable-connection"' in (await client.get(url)).text
    deleted = await _post(client, f"{url}/delete")
    assert deleted.headers["location"] == "/integrations"
    assert (await client.get(url)).status_code == 404


# ---------------------------------------------------------------- client links


async def test_linking_editing_and_unlinking_clients(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    async with session_scope(sessionmaker) as session:
        globex = await create_client(session, scope, "Globex")
    url = f"/integrations/connections/{connection.id}/clients"
    page = await client.get(url)
    assert "No clients linked yet" in page.text
    assert f'<option value="{globex.id}">Globex</option>' in page.text

    missing = await _post(client, url, {"client_id": str(globex.id)})
    assert missing.status_code == 422
    assert "Acme tenant is required." in missing.text
    added = await _post(client, url, {"client_id": str(globex.id), "tenant": "t-1", "comments_only": "on"})
    assert added.status_code == 303
    duplicate = await _post(client, url, {"client_id": str(globex.id), "tenant": "t-1"})
    assert duplicate.status_code == 422
    assert client_links.DUPLICATE_LINK in duplicate.text

    async with sessionmaker() as session:
        link = await session.scalar(select(ClientLink))
        assert link is not None
    assert (link.remote_scope, link.settings) == ("t-1", {"tenant": "t-1", "comments_only": True})
    listing = await client.get(url)
    assert 'data-testid="link-health-row" data-client="Globex"' in listing.text

    edited = await _post(client, f"/integrations/links/{link.id}", {"tenant": "t-2", "remote_name": "Globex EU"})
    assert edited.status_code == 303
    assert (await _post(client, f"/integrations/links/{link.id}/disable")).status_code == 303
    async with sessionmaker() as session:
        stored = await session.get(ClientLink, link.id)
        assert stored is not None
    assert (stored.remote_scope, stored.remote_name, stored.enabled) == ("t-2", "Globex EU", False)
    assert (await _post(client, f"/integrations/links/{link.id}/delete")).status_code == 303
    async with sessionmaker() as session:
        assert await session.get(ClientLink, link.id) is None


async def test_sync_now_queues_once_and_refuses_what_cannot_run(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    _, link = await _client_with_link(sessionmaker, scope, connection)
    first = await _post(client, f"/integrations/links/{link.id}/sync", {"entity": "cases"}, headers=HTMX)
    assert first.status_code == 200
    assert first.headers["hx-retarget"] == "#flashes"
    assert "Sync of Cases of Globex (Globex-t) queued." in first.text
    assert await _queued(app) == 1
    second = await _post(client, f"/integrations/links/{link.id}/sync", {"entity": "cases"}, headers=HTMX)
    assert "is already queued" in second.text
    assert await _queued(app) == 1
    # Cases sync per client, not for the whole connection.
    whole = await _post(client, f"/integrations/connections/{connection.id}/sync", {"entity": "cases"}, headers=HTMX)
    assert "per client link" in whole.text
    async with session_scope(sessionmaker) as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        stored.mappings = {}
    refused = await _post(client, f"/integrations/links/{link.id}/sync", {"entity": "cases", "back": "/sync-health"})
    assert refused.status_code == 303  # without htmx: flashed on the page it came from
    assert refused.headers["location"] == "/sync-health"
    assert "Set the mandatory mappings first" in (await client.get("/sync-health")).text
    assert await _queued(app) == 1


async def test_runs_tab_polls_running_runs_and_resyncs_problem_items(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    _, link = await _client_with_link(sessionmaker, scope, connection)
    async with session_scope(sessionmaker) as session:
        running = SyncRun(
            connection_id=connection.id, client_link_id=link.id, entity="cases", trigger="manual", pages=2
        )
        partial = SyncRun(
            connection_id=connection.id,
            client_link_id=link.id,
            entity="cases",
            trigger="schedule",
            outcome=RunOutcome.PARTIAL.value,
            finished_at=utcnow(),
            created=4,
            failed=1,
            problems=[{"remote_id": "case-77", "error": "Unknown severity 'urgent'"}],
            started_at=utcnow() - timedelta(hours=1),
        )
        session.add_all([running, partial])
    tab = await client.get(f"/integrations/connections/{connection.id}/runs")
    assert f'hx-get="/sync-health/runs/{running.id}" hx-trigger="every 2s"' in tab.text
    assert f'hx-get="/sync-health/runs/{partial.id}"' not in tab.text
    assert "Unknown severity" in tab.text
    row = await client.get(f"/sync-health/runs/{running.id}", headers=HTMX)
    assert row.text.lstrip().startswith(f'<tr id="run-{running.id}"')
    assert "page 2" in row.text
    filtered = await client.get(f"/integrations/connections/{connection.id}/runs?outcome=partial")
    assert f'id="run-{running.id}"' not in filtered.text
    assert f'id="run-{partial.id}"' in filtered.text

    queued = await _post(client, f"/integrations/runs/{partial.id}/resync", {"remote_id": "case-77"}, headers=HTMX)
    assert "Re-sync of case-77 queued." in queued.text
    assert await _queued(app) == 1
    unknown = await _post(client, f"/integrations/runs/{partial.id}/resync", {"remote_id": "case-1"}, headers=HTMX)
    assert "not among this run" in unknown.text


async def test_watermarks_are_edited_and_cleared(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    _, link = await _client_with_link(sessionmaker, scope, connection)
    async with session_scope(sessionmaker) as session:
        state = SyncState(connection_id=connection.id, client_link_id=link.id, entity="cases", watermark=utcnow())
        session.add(state)
    tab = await client.get(f"/integrations/connections/{connection.id}/watermarks")
    assert 'data-testid="watermark-row" data-entity="cases" data-client="Globex"' in tab.text
    refused = await _post(client, f"/integrations/sync-states/{state.id}", {"watermark": "yesterday"})
    assert refused.status_code == 422
    assert "Use a UTC time like" in refused.text
    moved = await _post(client, f"/integrations/sync-states/{state.id}", {"watermark": "2026-01-02T03:04"})
    assert moved.status_code == 303
    cleared = await _post(
        client, f"/integrations/sync-states/{state.id}", {"watermark": "2026-01-02T03:04", "clear": "1"}
    )
    assert cleared.status_code == 303
    async with sessionmaker() as session:
        stored = await session.get(SyncState, state.id)
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "sync.watermark_changed"))).all()
    assert stored is not None
    assert stored.watermark is None
    assert [entry.after for entry in entries] == [{"watermark": "2026-01-02T03:04:00+00:00"}, {"watermark": None}]


async def test_request_and_event_logs_page(app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker):
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    async with session_scope(sessionmaker) as session:
        for number in range(55):
            session.add(
                OutboundRequest(
                    connection_id=connection.id, correlation_id=f"corr-{number:02d}", method="GET",
                    url=f"https://acme.test/api/v1/tenants/t/cases?cursor={number}",
                    status_code=429 if number == 54 else 200,
                    duration_ms=12, error_kind="rate_limited" if number == 54 else None,
                    response_excerpt='{"error": "slow down"}' if number == 54 else "",
                )
            )  # fmt: skip
        session.add(
            InboundEvent(
                connection_id=connection.id, delivery_id="evt-1", signature="invalid", size=120, outcome="rejected",
                detail="Signature does not match", body_excerpt='{"type": "case.updated"}',
            )
        )  # fmt: skip
    base = f"/integrations/connections/{connection.id}"
    first = await client.get(f"{base}/requests")
    assert first.text.count('data-testid="request-row"') == 50
    assert "corr-54" in first.text
    assert "slow down" in first.text
    older = re.search(r'href="([^"]+\?before=\d+)"', first.text)
    assert older is not None
    second = await client.get(older.group(1))
    assert second.text.count('data-testid="request-row"') == 5
    assert "corr-00" in second.text
    assert "corr-54" not in second.text
    events = await client.get(f"{base}/events")
    assert "evt-1" in events.text
    assert "Signature does not match" in events.text


async def test_test_connection_reports_the_vendor_check(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = await _admin(client, make_user)
    connection = await _connection(app, sessionmaker, scope)
    seen: list[uuid.UUID] = []

    async def check(session: AsyncSession, runtime: Any, connection_id: uuid.UUID) -> ConnectionCheck:
        seen.append(connection_id)
        return ConnectionCheck(ok=False, message="The API refused the token (auth expired)")

    monkeypatch.setattr("portal.web.controllers.integrations.check_connection", check)
    answer = await _post(client, f"/integrations/connections/{connection.id}/test", headers=HTMX)
    assert answer.status_code == 200
    assert "Connection test failed: The API refused the token" in answer.text
    assert "flash-error" in answer.text
    assert seen == [connection.id]


# ---------------------------------------------------------------- roles and scope


def _integration_routes(app: Litestar) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if route.path.startswith("/integrations") and not route.path.endswith("/connect"):
            found.extend((method, route.path) for method in sorted(route.methods - {"OPTIONS", "HEAD"}))
    return found


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
async def test_non_admins_get_403_on_every_integrations_route(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker, role: Role
) -> None:
    admin = await make_user(Role.ADMIN)
    scope = Scope(admin.id, Role.ADMIN, True, frozenset(), admin.email)
    connection = await _connection(app, sessionmaker, scope)
    _, link = await _client_with_link(sessionmaker, scope, connection)
    routes = _integration_routes(app)
    assert len(routes) >= 25
    someone = await make_user(role)
    await sign_in(client, someone.email)
    token = await csrf_token(client, "/profile")
    ids = {"connection_id": str(connection.id), "link_id": str(link.id)}
    for method, path in routes:
        url = re.sub(r"\{(\w+):\w+\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)
        if method == "GET":
            response = await client.get(url, follow_redirects=False)
        else:
            response = await client.post(url, data={"_csrf_token": token, "entity": "cases"}, follow_redirects=False)
        assert response.status_code == 403, f"{method} {path} -> {response.status_code}"
    nav = await client.get("/sync-health")
    assert 'href="/integrations"' not in nav.text
    assert 'href="/sync-health" aria-current="page"' in nav.text
    async with sessionmaker() as session:
        assert (
            await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_id == someone.id))
            == 0
        )
    assert await _queued(app) == 0


async def test_a_limited_admin_gets_404_for_links_of_other_clients(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    admin = await make_user(Role.ADMIN)
    scope = Scope(admin.id, Role.ADMIN, True, frozenset(), admin.email)
    connection = await _connection(app, sessionmaker, scope)
    mine, _ = await _client_with_link(sessionmaker, scope, connection, "Globex")
    _, theirs = await _client_with_link(sessionmaker, scope, connection, "Initech")
    limited: User = await make_user(Role.ADMIN)
    async with session_scope(sessionmaker) as session:
        stored = await session.get(User, limited.id)
        assert stored is not None
        stored.all_clients = False
        session.add(UserClient(user_id=limited.id, client_id=mine.id))
    await sign_in(client, limited.email)
    clients_tab = await client.get(f"/integrations/connections/{connection.id}/clients")
    assert 'data-client="Globex"' in clients_tab.text
    assert "Initech" not in clients_tab.text
    for suffix in ("", "/sync", "/disable", "/delete"):
        response = await _post(client, f"/integrations/links/{theirs.id}{suffix}", {"entity": "cases", "tenant": "x"})
        assert response.status_code == 404, suffix
    async with sessionmaker() as session:
        assert await session.get(ClientLink, theirs.id) is not None
    assert isinstance(theirs, ClientLink)
    assert isinstance(mine, Client)

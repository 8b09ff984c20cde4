"""Settings are for administrators only: every route refuses analysts and viewers, and nothing changes."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from portal.domain.accounts.models import Role, User
from portal.domain.audit.models import AuditEntry
from portal.domain.tickets.models import Priority, TicketType
from tests.conftest import csrf_token, sign_in


def _settings_routes(app: Litestar) -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /settings, found from the app itself so new routes are covered."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if route.path == "/settings" or route.path.startswith("/settings/"):
            found.extend((method, route.path) for method in sorted(route.methods - {"OPTIONS", "HEAD"}))
    return found


def _concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+):(\w+)\}", lambda m: ids.get(m.group(1), "key"), path)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
async def test_non_admins_get_403_on_every_settings_route(
    app: Litestar, client: AsyncTestClient[Litestar], make_user, sessionmaker, role: Role
) -> None:
    routes = _settings_routes(app)
    assert len(routes) >= 30  # the whole settings area, not an empty list passing vacuously
    someone = await make_user(role)
    other = await make_user(Role.ANALYST)
    async with sessionmaker() as session:
        priority = await session.scalar(select(Priority).where(Priority.rank == 1))
        ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Security Incident"))
        assert priority is not None
        assert ticket_type is not None
        ids = {
            "user_id": str(other.id),
            "priority_id": str(priority.id),
            "ticket_type_id": str(ticket_type.id),
            "status_id": str(priority.id),
            "asset_group_id": str(priority.id),
            "asset_type_id": str(priority.id),
            "key": "containment",
        }
    await sign_in(client, someone.email)
    token = await csrf_token(client, "/profile")  # any page with a form: the guard, not CSRF, must refuse
    for method, path in routes:
        url = _concrete(path, ids)
        if method == "GET":
            response = await client.get(url, follow_redirects=False)
        else:
            response = await client.post(
                url,
                data={"_csrf_token": token, "name": "Hijacked", "role": "admin", "rank": "1", "scope": "all"},
                follow_redirects=False,
            )
        assert response.status_code == 403, f"{method} {url} gave {response.status_code}"
        assert "Only administrators can do this." in response.text, f"{method} {url}"

    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert (await session.get(User, other.id)).role == "analyst"
        assert (await session.get(Priority, priority.id)).name == "P1 - Critical"


async def test_settings_link_and_pages_for_an_admin(client: AsyncTestClient[Litestar], make_user) -> None:
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    for path in (
        "/settings",
        "/settings/users",
        "/settings/users/new",
        f"/settings/users/{admin.id}",
        "/settings/ticket-types",
        "/settings/priorities",
        "/settings/statuses",
        "/settings/asset-groups",
        "/settings/asset-types",
        "/settings/audit",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'href="/settings" aria-current="page"' in response.text, path  # the top navigation marks Settings


async def test_anonymous_visitors_are_sent_to_sign_in(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/settings/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fsettings%2Fusers")

"""User management pages: create with a client scope, edit, deactivate, reactivate, reset passwords."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.app import create_app
from portal.domain.accounts.models import Role, User
from tests.conftest import TEST_PASSWORD, csrf_token, sign_in
from tests.domain.test_settings_helpers import audit_entries, make_client

PASSWORD_SHOWN = re.compile(r'data-testid="issued-password">([^<]+)<')


async def _as_admin(client: AsyncTestClient[Litestar], make_user) -> User:
    admin: User = await make_user(Role.ADMIN)
    assert (await sign_in(client, admin.email)).status_code == 303
    return admin


async def _post(client: AsyncTestClient[Litestar], path: str, data: dict[str, Any]) -> httpx.Response:
    token = await csrf_token(client, "/settings/users/new")
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


async def _stored(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> User:
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


async def test_create_a_limited_analyst_with_a_client_scope(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    acme, globex = await make_client(sessionmaker, "Acme"), await make_client(sessionmaker, "Globex")
    form = await client.get("/settings/users/new")
    assert "Acme" in form.text
    assert "Globex" in form.text

    response = await _post(
        client,
        "/settings/users",
        {
            "email": "limited@msp.example",
            "display_name": "Lim Ited",
            "role": "analyst",
            "scope": "limited",
            "client_ids": [str(acme.id)],
            "password": TEST_PASSWORD,
        },
    )
    assert response.status_code == 303
    user = await _stored(sessionmaker, "limited@msp.example")
    assert response.headers["location"] == f"/settings/users/{user.id}"
    assert (user.role, user.all_clients, user.client_ids) == ("analyst", False, frozenset({acme.id}))
    assert globex.id not in user.client_ids

    detail = await client.get(response.headers["location"])
    assert "User limited@msp.example created." in detail.text  # the flash
    assert re.search(rf'value="{acme.id}" checked', detail.text)
    assert not re.search(rf'value="{globex.id}" checked', detail.text)

    listing = await client.get("/settings/users")
    row = next(r for r in listing.text.split('data-testid="user-row"')[1:] if "limited@msp.example" in r)
    assert "Acme" in row
    assert "analyst" in row
    assert "never" in row  # no sign-in yet


async def test_a_generated_password_is_shown_once_and_works(client, make_user, sessionmaker, app) -> None:
    await _as_admin(client, make_user)
    response = await _post(
        client,
        "/settings/users",
        {"email": "fresh@msp.example", "display_name": "", "role": "viewer", "scope": "all", "password": ""},
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    shown = PASSWORD_SHOWN.search(response.text)
    assert shown
    password = shown.group(1)
    user = await _stored(sessionmaker, "fresh@msp.example")
    assert user.display_name == "fresh"
    assert password not in (await client.get(f"/settings/users/{user.id}")).text  # never again

    async with AsyncTestClient(app=create_app(app.state.settings), base_url="http://testserver.local") as other:
        assert (await sign_in(other, "fresh@msp.example", password)).status_code == 303


async def test_invalid_user_form_is_shown_again_with_messages(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    async with sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(User))
    response = await _post(
        client,
        "/settings/users",
        {"email": "nobody@msp.example", "display_name": "Kept Name", "role": "analyst", "scope": "limited"},
    )
    assert response.status_code == 422
    assert "Choose at least one client, or give access to all clients." in response.text
    assert 'value="Kept Name"' in response.text
    assert 'value="limited" data-testid="scope-limited" checked' in response.text
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == before

    # HTMX asks for the form alone.
    token = await csrf_token(client, "/settings/users/new")
    fragment = await client.post(
        "/settings/users",
        data={"email": "bad", "role": "analyst", "scope": "all", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 422
    assert fragment.text.lstrip().startswith('<form id="user-form"')
    assert "<html" not in fragment.text


async def test_edit_role_and_scope(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    target = await make_user(Role.VIEWER)
    acme = await make_client(sessionmaker, "Acme")
    response = await _post(
        client,
        f"/settings/users/{target.id}",
        {"display_name": "Promoted", "role": "analyst", "scope": "limited", "client_ids": [str(acme.id)]},
    )
    assert response.status_code == 303
    user = await _stored(sessionmaker, target.email)
    assert (user.display_name, user.role, user.all_clients, user.client_ids) == (
        "Promoted",
        "analyst",
        False,
        frozenset({acme.id}),
    )
    [entry] = await audit_entries(sessionmaker, "user.update")
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["role"], entry.after["role"]) == ("viewer", "analyst")
    assert entry.after["client_ids"] == [str(acme.id)]


async def test_the_last_admin_cannot_demote_themselves(client, make_user, sessionmaker) -> None:
    admin = await _as_admin(client, make_user)
    response = await _post(
        client, f"/settings/users/{admin.id}", {"display_name": "Me", "role": "viewer", "scope": "all"}
    )
    assert response.status_code == 422
    assert "This is the last active administrator" in response.text
    assert (await _stored(sessionmaker, admin.email)).role == "admin"
    assert await audit_entries(sessionmaker) == []


async def test_an_admin_cannot_deactivate_themselves(client, make_user, sessionmaker) -> None:
    admin = await _as_admin(client, make_user)
    page = await client.get(f"/settings/users/{admin.id}")
    assert "You cannot deactivate your own account." in page.text
    assert 'data-testid="deactivate"' not in page.text
    response = await _post(client, f"/settings/users/{admin.id}/deactivate", {})
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.text
    assert (await _stored(sessionmaker, admin.email)).is_active


async def test_deactivation_ends_the_users_session_and_reactivation_restores_sign_in(
    client, make_user, sessionmaker, app
) -> None:
    await _as_admin(client, make_user)
    analyst = await make_user(Role.ANALYST)
    # The analyst's own browser: another client, on another instance of the app (like another worker).
    async with AsyncTestClient(app=create_app(app.state.settings), base_url="http://testserver.local") as theirs:
        await sign_in(theirs, analyst.email)
        assert (await theirs.get("/")).status_code == 200

        response = await _post(client, f"/settings/users/{analyst.id}/deactivate", {})
        assert response.status_code == 303
        assert not (await _stored(sessionmaker, analyst.email)).is_active

        after = await theirs.get("/", follow_redirects=False)
        assert after.status_code == 303
        assert after.headers["location"].startswith("/login")
        assert (await sign_in(theirs, analyst.email)).status_code == 401

        page = await client.get(f"/settings/users/{analyst.id}")
        assert "is deactivated and signed out" in page.text
        assert 'data-testid="reactivate"' in page.text
        assert (await _post(client, f"/settings/users/{analyst.id}/reactivate", {})).status_code == 303
        assert (await sign_in(theirs, analyst.email)).status_code == 303
    assert [e.action for e in await audit_entries(sessionmaker)] == ["user.deactivate", "user.reactivate"]


async def test_password_reset_shows_the_password_once_and_the_old_one_stops_working(
    client, make_user, sessionmaker, app
) -> None:
    await _as_admin(client, make_user)
    analyst = await make_user(Role.ANALYST)
    response = await _post(client, f"/settings/users/{analyst.id}/password", {"method": "generate"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    shown = PASSWORD_SHOWN.search(response.text)
    assert shown
    password = shown.group(1)
    assert "Password reset." in response.text
    assert password not in (await client.get(f"/settings/users/{analyst.id}")).text

    async with AsyncTestClient(app=create_app(app.state.settings), base_url="http://testserver.local") as theirs:
        assert (await sign_in(theirs, analyst.email, TEST_PASSWORD)).status_code == 401
        assert (await sign_in(theirs, analyst.email, password)).status_code == 303

    # An admin may also set a chosen password; the password rules apply.
    short = await _post(client, f"/settings/users/{analyst.id}/password", {"method": "set", "password": "short"})
    assert short.status_code == 422
    assert "Use at least 12 characters." in short.text
    chosen = await _post(
        client, f"/settings/users/{analyst.id}/password", {"method": "set", "password": "a chosen long password"}
    )
    assert chosen.status_code == 303
    [generated, set_by_admin] = await audit_entries(sessionmaker, "user.password_reset")
    assert generated.after is not None
    assert set_by_admin.after is not None
    assert (generated.after["generated"], set_by_admin.after["generated"]) == (True, False)
    assert password not in str(generated.after)


async def test_unknown_user_is_404(client, make_user) -> None:
    await _as_admin(client, make_user)
    response = await client.get("/settings/users/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404

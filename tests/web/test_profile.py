"""The profile page: personal API tokens (shown once, stored hashed, revocable) and password change."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.domain.accounts.models import ApiToken, Role
from portal.domain.accounts.tokens import authenticate_token
from tests.conftest import TEST_PASSWORD, csrf_token, sign_in

SECRET = re.compile(r'data-testid="token-secret">(sdk_[^<]+)<')


async def test_token_is_shown_once_stored_hashed_and_revocable(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    user = await make_user(Role.ANALYST)
    await sign_in(client, user.email)
    token = await csrf_token(client, "/profile")
    created = await client.post("/profile/tokens", data={"name": "reporting script", "_csrf_token": token})
    assert created.status_code == 201
    match = SECRET.search(created.text)
    assert match
    secret = match.group(1)

    again = await client.get("/profile")
    assert secret not in again.text  # never shown again
    assert "reporting script" in again.text

    async with sessionmaker() as session:
        stored = (await session.execute(select(ApiToken))).scalar_one()
        assert secret not in (stored.token_hash, stored.prefix)
        assert (await authenticate_token(session, secret)) is not None

    revoke = await client.post(
        f"/profile/tokens/{stored.id}/revoke", data={"_csrf_token": await csrf_token(client, "/profile")}
    )
    assert revoke.status_code == 200  # followed the 303 back to the profile
    async with sessionmaker() as session:
        assert (await authenticate_token(session, secret)) is None


async def test_token_needs_a_name(client: AsyncTestClient[Litestar], make_user, sessionmaker) -> None:
    user = await make_user()
    await sign_in(client, user.email)
    response = await client.post(
        "/profile/tokens", data={"name": " ", "_csrf_token": await csrf_token(client, "/profile")}
    )
    assert response.status_code == 422
    assert "Give the token a name" in response.text
    async with sessionmaker() as session:
        assert (await session.execute(select(ApiToken))).first() is None


async def test_cannot_revoke_someone_elses_token(client: AsyncTestClient[Litestar], make_user, sessionmaker) -> None:
    owner = await make_user()
    other = await make_user()
    from portal.domain.accounts.tokens import create_token

    async with sessionmaker() as session, session.begin():
        issued = await create_token(session, owner, "owner's")
    await sign_in(client, other.email)
    response = await client.post(
        f"/profile/tokens/{issued.token.id}/revoke", data={"_csrf_token": await csrf_token(client, "/profile")}
    )
    assert response.status_code == 404
    async with sessionmaker() as session:
        assert (await authenticate_token(session, issued.secret)) is not None


async def test_password_change(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user()
    await sign_in(client, user.email)
    wrong = await client.post(
        "/profile/password",
        data={
            "current_password": "not it",
            "new_password": "a brand new password",
            "repeat": "a brand new password",
            "_csrf_token": await csrf_token(client, "/profile"),
        },
    )
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.text
    changed = await client.post(
        "/profile/password",
        data={
            "current_password": TEST_PASSWORD,
            "new_password": "a brand new password",
            "repeat": "a brand new password",
            "_csrf_token": await csrf_token(client, "/profile"),
        },
    )
    assert changed.status_code == 200
    assert 'data-testid="password-changed"' in changed.text
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/profile")})
    assert (await sign_in(client, user.email)).status_code == 401
    assert (await sign_in(client, user.email, "a brand new password")).status_code == 303

"""Sign-in, sign-out, sessions and throttling, through the real app on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import time

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select

from portal.app import create_app
from portal.config import Settings
from portal.domain.accounts.models import Role, User
from portal.web.controllers.auth import BAD_CREDENTIALS
from tests.conftest import TEST_PASSWORD, csrf_token, sign_in

SESSION_COOKIE = "socdesk_session"


async def test_sign_in_lands_on_the_dashboard_and_sign_out_ends_the_session(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    user = await make_user(Role.ANALYST)
    response = await sign_in(client, user.email)
    assert response.status_code == 303
    assert response.headers["location"] == "/"

    dashboard = await client.get("/")
    assert dashboard.status_code == 200
    assert user.display_name in dashboard.text
    assert 'data-testid="logout"' in dashboard.text
    async with sessionmaker() as session:
        stored = await session.scalar(select(User).where(User.id == user.id))
        assert stored is not None
        assert stored.last_login_at is not None

    token = await csrf_token(client, "/")
    logout = await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert logout.status_code == 303
    assert logout.headers["location"] == "/login?signed_out=1"

    after = await client.get("/", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


async def test_anonymous_page_request_redirects_to_login_with_next(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/dashboard/system-health?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdashboard%2Fsystem-health%3Fx%3D1"


async def test_sign_in_follows_a_local_next_but_never_an_external_one(
    client: AsyncTestClient[Litestar], make_user
) -> None:
    user = await make_user()
    token = await csrf_token(client)
    local = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": TEST_PASSWORD,
            "next": "/dashboard/system-health",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert local.headers["location"] == "/dashboard/system-health"
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    token = await csrf_token(client)
    external = await client.post(
        "/login",
        data={
            "email": user.email,
            "password": TEST_PASSWORD,
            "next": "//evil.example/x",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert external.headers["location"] == "/"


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: AsyncTestClient[Litestar], make_user
) -> None:
    user = await make_user()
    wrong = await sign_in(client, user.email, "not the password at all")
    unknown = await sign_in(client, "nobody@msp.example", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert BAD_CREDENTIALS.replace("'", "&#39;") in response.text
        assert 'data-testid="login-error"' in response.text
    assert user.email in wrong.text  # the email is kept in the form, the password is not
    assert "not the password at all" not in wrong.text


async def test_inactive_user_cannot_sign_in(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user(active=False)
    response = await sign_in(client, user.email)
    assert response.status_code == 401


async def test_malformed_login_form_is_a_clear_400(client: AsyncTestClient[Litestar]) -> None:
    token = await csrf_token(client)
    response = await client.post("/login", data={"email": "", "_csrf_token": token})
    assert response.status_code == 400
    assert "Enter your email and password." in response.text


async def test_sign_in_issues_a_new_session_id_and_kills_the_old_one(
    client: AsyncTestClient[Litestar], make_user, redis_url: str
) -> None:
    user = await make_user()
    planted = "a" * 64  # a session id an attacker fixed in the victim's browser
    client.cookies.set(SESSION_COOKIE, planted)
    await client.get("/login")
    response = await sign_in(client, user.email)
    assert response.status_code == 303
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued
    assert issued != planted

    redis = Redis.from_url(redis_url)
    try:
        assert await redis.exists(f"socdesk:session:{planted}") == 0
        assert await redis.exists(f"socdesk:session:{issued}") == 1
    finally:
        await redis.aclose()

    # The planted id carries no authentication.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_session_cookie_flags(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user()
    response = await sign_in(client, user.email)
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=1800" in cookie  # the idle timeout


async def test_expired_session_redirects_with_a_notice(
    client: AsyncTestClient[Litestar], make_user, redis_url: str
) -> None:
    user = await make_user()
    response = await sign_in(client, user.email)
    session_id = response.cookies[SESSION_COOKIE]
    redis = Redis.from_url(redis_url)
    try:
        await redis.delete(f"socdesk:session:{session_id}")  # what the idle TTL does
    finally:
        await redis.aclose()
    redirect = await client.get("/", follow_redirects=False)
    assert redirect.headers["location"] == "/login?next=%2F&expired=1"
    page = await client.get(redirect.headers["location"])
    assert "Your session has expired" in page.text


async def test_absolute_timeout_ends_a_session_however_active(
    client: AsyncTestClient[Litestar], make_user, redis_url: str
) -> None:
    user = await make_user()
    response = await sign_in(client, user.email)
    key = f"socdesk:session:{response.cookies[SESSION_COOKIE]}"
    redis = Redis.from_url(redis_url)
    try:
        data = json.loads(await redis.get(key))
        data["auth_at"] = time.time() - 13 * 3600  # past the 12-hour default
        await redis.set(key, json.dumps(data), keepttl=True)
    finally:
        await redis.aclose()
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_deactivating_a_user_ends_their_session_at_once(
    client: AsyncTestClient[Litestar], make_user, sessionmaker
) -> None:
    user = await make_user()
    await sign_in(client, user.email)
    assert (await client.get("/")).status_code == 200
    async with sessionmaker() as session, session.begin():
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.is_active = False
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_repeated_failures_throttle_the_account_even_with_the_right_password(
    client: AsyncTestClient[Litestar], make_user
) -> None:
    user = await make_user()
    for _ in range(5):
        assert (await sign_in(client, user.email, "wrong password guess")).status_code == 401
    blocked = await sign_in(client, user.email, TEST_PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    # Another account from the same address is not locked by this account's failures.
    other = await make_user()
    assert (await sign_in(client, other.email)).status_code == 303


async def test_unknown_accounts_are_throttled_alike(client: AsyncTestClient[Litestar]) -> None:
    for _ in range(5):
        await sign_in(client, "ghost@msp.example", "guess")
    assert (await sign_in(client, "ghost@msp.example", "guess")).status_code == 429


async def test_address_throttle_stops_a_spray_across_accounts(client: AsyncTestClient[Litestar], make_user) -> None:
    for number in range(20):
        await sign_in(client, f"spray-{number}@msp.example", "guess")
    user = await make_user()
    assert (await sign_in(client, user.email)).status_code == 429


async def test_a_password_change_ends_other_sessions_but_not_the_changers(
    settings: Settings, client: AsyncTestClient[Litestar], make_user
) -> None:
    user = await make_user()
    await sign_in(client, user.email)
    # Another browser, served by another app process on the same database and Redis.
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as other_browser:
        await sign_in(other_browser, user.email)
        assert (await other_browser.get("/")).status_code == 200
        changed = await client.post(
            "/profile/password",
            data={
                "current_password": TEST_PASSWORD,
                "new_password": "rotated password 2026",
                "repeat": "rotated password 2026",
                "_csrf_token": await csrf_token(client, "/profile"),
            },
        )
        assert changed.status_code == 200
        assert (await client.get("/")).status_code == 200  # the person who changed it stays signed in
        assert (await other_browser.get("/", follow_redirects=False)).status_code == 303

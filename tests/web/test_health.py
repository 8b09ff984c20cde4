"""/healthz, /readyz, and what happens when a backing service is missing or behind."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from portal.app import StartupError, create_app
from portal.config import Settings
from tests.conftest import _create_database, _drop_database, _with_database, sign_in
from tests.tcp_proxy import CuttableProxy


async def test_healthz_answers_without_sign_in(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_every_check(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is True


async def _startup_error(app: Litestar) -> StartupError:
    """The StartupError the lifespan raised (the test client may wrap it in exception groups)."""
    with pytest.raises(BaseException) as caught:  # noqa: PT011
        async with AsyncTestClient(app=app):
            pass
    pending: list[BaseException] = [caught.value]
    while pending:
        error = pending.pop()
        if isinstance(error, StartupError):
            return error
        pending.extend(getattr(error, "exceptions", ()))
        if error.__cause__ is not None:
            pending.append(error.__cause__)
    raise AssertionError(f"no StartupError in {caught.value!r}")


def _opener(database_url: str):
    url = make_url(database_url)
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        path = f"{socket_dir}/.s.PGSQL.{url.port or 5432}"
        return lambda: asyncio.open_unix_connection(path)
    return lambda: asyncio.open_connection(url.host or "127.0.0.1", url.port or 5432)


async def test_readyz_fails_when_the_database_becomes_unreachable(settings: Settings, database_url: str) -> None:
    proxy = CuttableProxy(_opener(database_url))
    proxy.start()
    url = make_url(database_url)
    proxied = url.set(host="127.0.0.1", port=proxy.port, query={}).render_as_string(hide_password=False)
    app = create_app(settings.model_copy(update={"database_url": proxied}))
    try:
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/readyz")).status_code == 200
            proxy.cut()
            response = await client.get("/readyz")
    finally:
        proxy.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["redis"]["ok"] is True


async def test_app_refuses_to_start_on_an_unmigrated_database(settings: Settings, admin_database_url: str) -> None:
    name = "socdesk_test_unmigrated"
    await _drop_database(admin_database_url, name)
    await _create_database(admin_database_url, name)
    try:
        app = create_app(settings.model_copy(update={"database_url": _with_database(admin_database_url, name)}))
        error = await _startup_error(app)
        assert "run `socdesk db upgrade` first" in str(error)
    finally:
        await _drop_database(admin_database_url, name)


async def test_app_names_an_unreachable_redis_at_start(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    error = await _startup_error(app)
    assert "Redis at 127.0.0.1:1/0 is unreachable" in str(error)


async def test_https_deployment_gets_hsts_and_host_prefixed_secure_cookies(settings: Settings, make_user) -> None:
    user = await make_user()
    app = create_app(settings.model_copy(update={"public_url": "https://soc.msp.example"}))
    async with AsyncTestClient(app=app, base_url="https://soc.msp.example") as client:
        response = await client.get("/login")
        signed_in = await sign_in(client, user.email)
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    csrf_cookie = response.headers["set-cookie"]
    assert csrf_cookie.startswith("__Host-socdesk_csrf=")
    assert "Secure" in csrf_cookie
    assert signed_in.status_code == 303
    session_cookie = next(
        value for name, value in signed_in.headers.multi_items() if name == "set-cookie" and "session" in value
    )
    assert session_cookie.startswith("__Host-socdesk_session=")
    assert "Secure" in session_cookie
    assert "HttpOnly" in session_cookie

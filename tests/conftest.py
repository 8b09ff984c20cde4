"""Shared fixtures: real PostgreSQL and Redis (external when TEST_*_URL is set, else embedded).

Each test run gets its own fresh database, migrated once; every test starts from empty
tables and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.app import create_app
from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.db.migrate import upgrade
from portal.db.models import Base
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.service import NewUser, create_user
from portal.domain.reference import ensure_reference_data
from portal.runtime.services import Services, asyncpg_dsn, sqlalchemy_url

TEST_PASSWORD = "correct horse battery staple"
SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(admin database URL, Redis URL) of the servers the tests use."""
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    services = Services(
        Settings(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=tmp_path_factory.mktemp("embedded"),
        )
    )
    urls = services.resolve()
    yield urls.database_url, urls.redis_url
    services.release()


def _with_database(url: str, name: str) -> str:
    return re.sub(r"/[^/?]*(\?|$)", lambda m: f"/{name}{m.group(1)}", url.split("://", 1)[1], count=1).join(
        [url.split("://", 1)[0] + "://", ""]
    )


async def _create_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    admin_url = sqlalchemy_url(server_urls[0])
    name = f"socdesk_test_{os.getpid()}_{secrets.token_hex(3)}"
    await _create_database(admin_url, name)
    url = _with_database(admin_url, name)
    await asyncio.to_thread(upgrade, url)
    yield url
    await _drop_database(admin_url, name)


@pytest.fixture(scope="session")
def redis_url(server_urls: tuple[str, str]) -> str:
    """The Redis database this test process owns: under pytest-xdist each worker takes the one
    below the last one's (gw0 the given one), so workers never flush each other's keys."""
    url = server_urls[1]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    match = re.match(r"^(redis://[^/]+/)(\d+)$", url)
    if not worker.startswith("gw") or match is None:
        return url
    return f"{match.group(1)}{(int(match.group(2)) - int(worker[2:])) % 16}"


@pytest.fixture(scope="session")
def admin_database_url(server_urls: tuple[str, str]) -> str:
    return sqlalchemy_url(server_urls[0])


@pytest.fixture(scope="session")
def engine(database_url: str) -> AsyncEngine:
    # Synchronous on purpose: the autouse cleaner looks it up by name from inside the event loop,
    # where an async fixture could not be set up. The pool closes with the test process.
    return make_engine(database_url)


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest) -> None:
    """Empty tables and Redis before each test that uses the database or Redis."""
    names = set(request.fixturenames)
    if "engine" in names or "sessionmaker" in names or "database_url" in names:
        engine: AsyncEngine = request.getfixturevalue("engine")
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE {tables} CASCADE")
        async with session_scope(request.getfixturevalue("sessionmaker")) as session:
            await ensure_reference_data(session)
    if "redis_url" in names:
        redis = Redis.from_url(request.getfixturevalue("redis_url"))
        await redis.flushdb()
        await redis.aclose()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=SECRET,
        data_dir=tmp_path,
    )


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def make_user(sessionmaker: async_sessionmaker[AsyncSession]):
    async def make(role: Role = Role.ANALYST, *, email: str | None = None, active: bool = True) -> User:
        async with session_scope(sessionmaker) as session:
            user = await create_user(
                session,
                NewUser(
                    email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@msp.example",
                    display_name=f"Test {role.value.title()}",
                    role=role,
                    password=TEST_PASSWORD,
                ),
            )
            user.is_active = active
        return user

    return make


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: AsyncTestClient[Litestar], path: str = "/login") -> str:
    response = await client.get(path)
    match = CSRF_INPUT.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str = TEST_PASSWORD):
    token = await csrf_token(client)
    return await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )

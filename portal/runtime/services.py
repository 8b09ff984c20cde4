"""Resolve where PostgreSQL and Redis are: the configured servers, or embedded ones.

One code path: the rest of socdesk only ever sees two URLs.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import asyncpg

from portal.config import Settings
from portal.runtime.embedded import EmbeddedPostgres, EmbeddedValkey

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "socdesk"


class ServiceUnavailableError(RuntimeError):
    """A backing service cannot be reached; the message names which and where."""


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN (what asyncpg itself takes) from any SQLAlchemy-style URL."""
    scheme, rest = url.split("://", 1)
    if scheme.startswith("postgres"):
        return f"postgresql://{rest}"
    raise ValueError(f"not a PostgreSQL URL: {scheme}://…")


def sqlalchemy_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


def describe_url(url: str) -> str:
    """Where a URL points, without credentials, for error messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["local socket"])[0]
    if parts.scheme == "unix":
        return f"unix socket {parts.path}"
    port = f":{parts.port}" if parts.port else ""
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{host}{port}{path}"


def is_embedded(url: str, settings: Settings) -> bool:
    """Embedded servers listen on sockets inside the data folder; nothing else does."""
    return str(settings.data_dir) in url


@dataclass
class ServiceUrls:
    database_url: str
    redis_url: str
    embedded: list[str] = field(default_factory=list)


@dataclass
class Services:
    """Holds embedded servers for the life of the process (or until :meth:`release`)."""

    settings: Settings
    _postgres: EmbeddedPostgres | None = None
    _valkey: EmbeddedValkey | None = None

    def resolve(self) -> ServiceUrls:
        embedded: list[str] = []
        database_url = self.settings.database_url
        redis_url = self.settings.redis_url
        if database_url is None:
            self._postgres = EmbeddedPostgres(self.settings.data_dir / "postgres")
            base = self._postgres.start()
            _ensure_database(base, EMBEDDED_DATABASE)
            database_url = base.replace("/postgres?", f"/{EMBEDDED_DATABASE}?", 1)
            embedded.append("postgresql")
        if redis_url is None:
            self._valkey = EmbeddedValkey(self.settings.data_dir / "valkey")
            redis_url = self._valkey.start()
            embedded.append("valkey")
        if embedded:
            atexit.register(self.release)
        return ServiceUrls(sqlalchemy_url(database_url), redis_url, embedded)

    def release(self) -> None:
        if self._valkey is not None:
            self._valkey.stop()
            self._valkey = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None


def _ensure_database(admin_url: str, name: str) -> None:
    async def create() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())


async def check_database(url: str, connect_timeout: float = 5.0) -> None:
    try:
        connection = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ServiceUnavailableError(f"PostgreSQL at {describe_url(url)} is unreachable: {exc}") from exc
    await connection.close()


async def check_redis(url: str, connect_timeout: float = 5.0) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=connect_timeout)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        raise ServiceUnavailableError(f"Redis at {describe_url(url)} is unreachable: {exc}") from exc
    finally:
        await client.aclose()

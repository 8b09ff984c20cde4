"""Embedded PostgreSQL and Valkey: start, share between processes, survive restarts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from portal.config import Settings
from portal.runtime.services import Services, asyncpg_dsn

ATTACH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from portal.config import Settings
    from portal.runtime.services import Services
    services = Services(Settings(data_dir=Path(sys.argv[1])))
    urls = services.resolve()
    print(json.dumps({"database": urls.database_url, "redis": urls.redis_url}))
    services.release()
    """
)


async def _roundtrip(database_url: str, redis_url: str, write: bool) -> tuple[str | None, bytes | None]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    redis = Redis.from_url(redis_url)
    try:
        if write:
            await connection.execute("CREATE TABLE IF NOT EXISTS kept (value text)")
            await connection.execute("INSERT INTO kept VALUES ('still here')")
            await redis.set("kept", "still here too")
        row = await connection.fetchval("SELECT value FROM kept LIMIT 1")
        return row, await redis.get("kept")
    finally:
        await connection.close()
        await redis.aclose()


async def test_embedded_services_are_shared_and_survive_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, database_url=None, redis_url=None)
    services = Services(settings)
    urls = await asyncio.to_thread(services.resolve)
    assert urls.embedded == ["postgresql", "valkey"]
    assert str(data_dir) in urls.redis_url
    assert await _roundtrip(urls.database_url, urls.redis_url, write=True) == (
        "still here",
        b"still here too",
    )

    # A second process on the same data folder attaches to the same servers.
    attached = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-c", ATTACH_SCRIPT, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    other = json.loads(attached.stdout.strip().splitlines()[-1])
    assert other == {"database": urls.database_url, "redis": urls.redis_url}
    # ...and its leaving does not stop them under us.
    assert await _roundtrip(urls.database_url, urls.redis_url, write=False) == (
        "still here",
        b"still here too",
    )

    await asyncio.to_thread(services.release)
    redis = Redis.from_url(urls.redis_url, socket_connect_timeout=1)
    try:
        stopped = False
        try:
            await redis.ping()
        except OSError:
            stopped = True
        except Exception as exc:  # redis wraps socket errors in its ConnectionError
            stopped = "Error" in type(exc).__name__
        assert stopped, "the last holder should stop Valkey"
    finally:
        await redis.aclose()

    restarted = Services(settings)
    urls = await asyncio.to_thread(restarted.resolve)
    try:
        assert await _roundtrip(urls.database_url, urls.redis_url, write=False) == (
            "still here",
            b"still here too",
        )
    finally:
        await asyncio.to_thread(restarted.release)

"""`socdesk sync run` and `socdesk keys rotate` against a served emulator and the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.integrations.models import Connection
from portal.domain.integrations.secrets import SecretBox
from tests.integrations.oauth_support import emulator
from tests.serving import served
from tests.sync.harness import ago, make_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def acme_url() -> Iterator[tuple[object, object, object, str]]:
    app, state, transport = emulator()
    with served(app, what="the Acme emulator") as url:
        yield app, state, transport, url


async def _socdesk(settings: Settings, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "SOCDESK_SECRET_KEY": settings.secret(),
        "SOCDESK_DATA_DIR": str(settings.data_dir),
        **extra_env,
    }
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "portal.cli", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_sync_run_imports_now_and_reports_per_client(settings: Settings, sessionmaker, acme_url) -> None:
    app, state, transport, url = acme_url
    world = await make_world(settings, sessionmaker, page_size=2, emulated=(app, state, transport), api_url=url)
    for n in range(3):
        world.case(f"Case {n}", modified_at=ago(world.state, hours=3 - n))
    connection = await world.connection()

    result = await _socdesk(settings, "sync", "run", "--connection", connection.name, "--entity", "cases")
    assert result.returncode == 0, result.stderr
    assert f"{connection.name} / Client {world.tenant} / cases: succeeded: 3 created" in result.stdout
    assert len(await world.tickets()) == 3

    unknown = await _socdesk(settings, "sync", "run", "--connection", "No such thing")
    assert unknown.returncode != 0
    assert "No connection is named" in unknown.stderr


async def test_keys_rotate_reencrypts_under_the_new_key(settings: Settings, sessionmaker) -> None:
    box = SecretBox.from_settings(settings)
    async with session_scope(sessionmaker) as session:
        connection = Connection(vendor="acme", name="Rotating", secrets_ciphertext=box.seal({"client_secret": "s3"}))
        session.add(connection)
    new_key = "new-key-" + "k" * 40
    result = await _socdesk(settings, "keys", "rotate", SOCDESK_ENCRYPTION_KEYS=f"{new_key},{settings.secret()}")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted the secrets of 1 connection" in result.stdout
    async with session_scope(sessionmaker) as session:
        stored = await session.get(Connection, connection.id)
    assert stored is not None
    assert SecretBox([new_key]).open(stored.secrets_ciphertext) == {"client_secret": "s3"}

"""What every benchmark needs: its own database on a loopback server, timing and printing."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.db.migrate import upgrade_async
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.service import NewUser, create_user
from portal.domain.reference import ensure_reference_data
from portal.runtime.services import Services, asyncpg_dsn

LOOPBACK = {"127.0.0.1", "localhost", "::1", None, ""}
PASSWORD = "benchmark password " + "x" * 12
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


class BenchError(RuntimeError):
    """The benchmark cannot run as asked; the message says why."""


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    socket_host = parse_qs(parts.query).get("host", [None])[0]
    return parts.hostname in LOOPBACK or (socket_host is not None and socket_host.startswith("/"))


@dataclass(frozen=True)
class BenchEnv:
    settings: Settings  # pointing at the benchmark's own database
    database_url: str  # SQLAlchemy URL of that database
    dsn: str  # the same, for asyncpg
    redis_url: str


@asynccontextmanager
async def bench_database(name: str, *, keep: bool = False) -> AsyncIterator[BenchEnv]:
    """A fresh, migrated database ``socdesk_bench_<name>`` on the configured (or embedded) server."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"socdesk-bench-{name}-"))
    services = Services(Settings(data_dir=data_dir))
    urls = await asyncio.to_thread(services.resolve)
    try:
        if not (_loopback(urls.database_url) and _loopback(urls.redis_url)):
            raise BenchError("benchmarks run against loopback servers only: point DATABASE_URL/REDIS_URL at 127.0.0.1")
        database = f"socdesk_bench_{name}"
        url = make_url(urls.database_url).set(database=database).render_as_string(hide_password=False)
        admin = await asyncpg.connect(asyncpg_dsn(urls.database_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        try:
            await upgrade_async(url)
            engine = make_engine(url)
            async with session_scope(make_sessionmaker(engine)) as session:
                await ensure_reference_data(session)
            await engine.dispose()
            settings = Settings(
                database_url=url,
                redis_url=urls.redis_url,
                secret_key=secrets.token_urlsafe(40),
                data_dir=data_dir,
            )
            yield BenchEnv(settings, url, asyncpg_dsn(url), urls.redis_url)
        finally:
            if not keep:
                admin = await asyncpg.connect(asyncpg_dsn(urls.database_url))
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                finally:
                    await admin.close()
    finally:
        await asyncio.to_thread(services.release)


async def make_staff(env: BenchEnv, email: str, role: Role = Role.ADMIN) -> User:
    engine = make_engine(env.database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await create_user(session, NewUser(email=email, display_name=email, role=role, password=PASSWORD))
    finally:
        await engine.dispose()


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    token = CSRF.search((await client.get("/login")).text)
    if token is None:
        raise BenchError("no sign-in form")
    answer = await client.post("/login", data={"email": email, "password": PASSWORD, "_csrf_token": token[1]})
    if answer.status_code >= 400:
        raise BenchError(f"could not sign in: {answer.status_code}")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` between 0 and 1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> str:
    ms = [value * 1000 for value in values]
    return (
        f"p50 {percentile(ms, 0.50):7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms  "
        f"p99 {percentile(ms, 0.99):7.1f} ms  mean {statistics.fmean(ms):7.1f} ms  (n={len(ms)})"
    )


def machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}; "
        f"load average {load} (other work on the machine skews every figure)"
    )


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def _environment(env: BenchEnv) -> dict[str, str]:
    secret = env.settings.secret_key
    assert secret is not None
    return {
        **os.environ,
        "DATABASE_URL": env.database_url,
        "REDIS_URL": env.redis_url,
        "SOCDESK_SECRET_KEY": secret.get_secret_value(),
        "SOCDESK_DATA_DIR": str(env.settings.data_dir),
        "SOCDESK_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def socdesk_process(env: BenchEnv, *args: str, ready_url: str | None = None) -> AsyncIterator[None]:
    """``socdesk <args>`` in a process of its own (so it has its own core and GIL), stopped at the end."""
    extra = {"SOCDESK_PUBLIC_URL": ready_url.rsplit("/", 1)[0]} if ready_url else {}
    log_path = env.settings.data_dir / f"{args[0]}.log"
    log_file = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portal.cli", *args, env=_environment(env) | extra,
        stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
    )  # fmt: skip
    try:
        if ready_url is not None:
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient() as client:
                while True:
                    if process.returncode is not None:
                        error = log_path.read_text(errors="replace")
                        raise BenchError(f"socdesk {' '.join(args)} exited: {error[-2000:]}")
                    try:
                        if (await client.get(ready_url)).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise BenchError(f"socdesk {' '.join(args)} did not come up")
                    await asyncio.sleep(0.2)
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_file.close()


@asynccontextmanager
async def web_server(env: BenchEnv) -> AsyncIterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with socdesk_process(env, "web", "--host", "127.0.0.1", "--port", str(port), ready_url=f"{base}/healthz"):
        yield base


class StatementCounter:
    """Every SQL statement this process sends while counting, by kind and by the table it writes,
    and the time spent waiting for them (counted by a SQLAlchemy ``before/after_cursor_execute``
    listener on every engine of the process)."""

    WRITES = ("INSERT", "UPDATE", "DELETE")

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}
        self.written: dict[str, int] = {}
        self.seconds = 0.0
        self.time_by_statement: dict[str, float] = {}  # the statement's first words: seconds waited
        self._started: list[tuple[float, str]] = []

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._before)
        event.remove(Engine, "after_cursor_execute", self._after)

    def _before(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        words = statement.lstrip().split(None, 3)
        kind = words[0].upper() if words else "?"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind in self.WRITES:
            match = re.match(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", statement, re.I)
            table = match.group(1) if match else "?"
            self.written[table] = self.written.get(table, 0) + 1
        self._started.append((time.perf_counter(), " ".join(statement.split())[:90]))

    def _after(self, *args: object) -> None:
        if self._started:
            started, key = self._started.pop()
            waited = time.perf_counter() - started
            self.seconds += waited
            self.time_by_statement[key] = self.time_by_statement.get(key, 0.0) + waited

    def slowest(self, count: int = 5) -> list[tuple[str, float]]:
        """The statements that kept the process waiting longest, in all."""
        return sorted(self.time_by_statement.items(), key=lambda pair: -pair[1])[:count]

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def writes_to(self, tables: Sequence[str]) -> int:
        return sum(count for table, count in self.written.items() if table in tables)

    def describe(self, items: int) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.kinds.items()))
        per_item = self.total / max(items, 1)
        return f"{self.total:,} statements ({kinds}): {per_item:.3f} per item"

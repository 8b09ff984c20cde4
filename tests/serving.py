"""Serving an ASGI app on a real loopback port from a test (uvicorn in a thread, its own loop)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from portal.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(app: Any, *, what: str = "the app", port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def served_by_cli(*args: str, probe: str = "/") -> Iterator[str]:
    """``socdesk <args> --port P`` in its own process, once ``probe`` answers (any status); yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}{probe}", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(process.stdout.read().decode() if process.stdout else "exited") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"socdesk {' '.join(args)} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """A real `socdesk worker` process on the test's database and Redis (its stderr goes to
    $SOCDESK_TEST_WORKER_LOG when set)."""
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "SOCDESK_SECRET_KEY": settings.secret(),
        "SOCDESK_DATA_DIR": str(settings.data_dir),
        "SOCDESK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "worker"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("SOCDESK_TEST_WORKER_LOG", os.devnull), "ab"),
    )  # fmt: skip

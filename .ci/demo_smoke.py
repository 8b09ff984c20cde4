"""Start `socdesk demo` on a fresh data folder, sign in over HTTP with the printed credentials, stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="socdesk-demo-"))
    unset = {"DATABASE_URL", "REDIS_URL", "SOCDESK_SECRET_KEY"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    log_path = data_dir / "demo.log"
    command = ["uv", "run", "socdesk", "demo", "--port", str(PORT), "--data-dir", str(data_dir)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        outcome = _exercise(log_path, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    print(f"demo stopped with exit code {process.returncode}")
    if process.returncode != 0:
        print(log_path.read_text()[-3000:], file=sys.stderr)
        return 1
    return outcome


def _exercise(log_path: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    credentials = None
    with httpx.Client(base_url=BASE, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                print(log_path.read_text(), file=sys.stderr)
                print("demo exited early", file=sys.stderr)
                return 1
            printed = log_path.read_text()
            credentials = credentials or re.search(r"sign in as (\S+) with password (\S+)", printed)
            try:
                ready = client.get("/readyz")
                if ready.status_code == 200 and credentials:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            print(log_path.read_text(), file=sys.stderr)
            print("demo never became ready", file=sys.stderr)
            return 1
        print("readyz:", ready.json())
        assert credentials is not None
        email, password = credentials.groups()
        login = client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text)
        assert token, "no CSRF token on the login page"
        response = client.post("/login", data={"email": email, "password": password, "_csrf_token": token.group(1)})
        assert response.status_code == 303, response.status_code
        assert response.headers["location"] == "/"
        dashboard = client.get("/")
        assert dashboard.status_code == 200
        assert "Operations dashboard" in dashboard.text
        print(f"signed in as {email}: dashboard served")
        # The demo's Acme connection syncs on its own: its cases become tickets within a minute.
        deadline = time.monotonic() + 90
        while "Impossible travel" not in (queue := client.get("/tickets", params={"source": "acme"})).text:
            if time.monotonic() > deadline:
                print(queue.text[-2000:], file=sys.stderr)
                raise AssertionError("the demo's Acme connection imported nothing")
            time.sleep(2)
        print("Acme emulator cases imported as tickets")
        _every_demo_connection_synced(client)
    return 0


CONNECTION_ROW = re.compile(r'<tr data-testid="connection-row" data-name="([^"]+)">(.*?)</tr>', re.DOTALL)
DEMO_CONNECTIONS = {"Acme Cases (demo)", "Microsoft Sentinel (demo)", "SentinelOne US (demo)", "SentinelOne EU (demo)"}


def _every_demo_connection_synced(client: httpx.Client) -> None:
    """Each demo connection (one per emulator) finished a run, and none is failing or needs sign-in."""
    deadline = time.monotonic() + 90
    while True:
        page = client.get("/integrations/").text
        rows = dict(CONNECTION_ROW.findall(page))
        synced = {name for name, row in rows.items() if "<time" in row.split("</td>")[5]}
        troubled = {name for name, row in rows.items() if "Failing" in row or "Needs sign-in" in row}
        if synced >= DEMO_CONNECTIONS and not troubled:
            print("every demo connection synced:", ", ".join(sorted(synced)))
            return
        if time.monotonic() > deadline:
            print(page[-4000:], file=sys.stderr)
            missing = sorted(DEMO_CONNECTIONS - synced)
            raise AssertionError(f"demo connections not synced: {missing}; troubled: {sorted(troubled)}")
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())

"""Shared pieces of the Sentinel tests: Microsoft's published example payloads, and a client on a mock ARM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from portal.integrations.base import ConnectionView
from portal.integrations.http import OutboundEntry, VendorHttp
from portal.integrations.sentinel.client import SentinelClient, describe_arm_error
from portal.integrations.sentinel.mapping import Workspace

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "examples"
ARM = "https://arm.test"
TENANT = "31c75423-32d6-4322-88b7-c478bdde4858"
WORKSPACE = Workspace(TENANT, "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0", "myRg", "myWorkspace")


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def example_files(folder: str) -> list[str]:
    return sorted(f"{folder}/{path.name}" for path in (EXAMPLES / folder).glob("*.json"))


@dataclass
class Recorder:
    entries: list[OutboundEntry] = field(default_factory=list)

    async def record(self, entry: OutboundEntry) -> None:
        self.entries.append(entry)


class Bearer:
    def __init__(self, token: str = "at-test") -> None:  # noqa: S107  (a test token)
        self.token = token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> Iterable[str]:
        return [self.token]


async def no_sleep(seconds: float) -> None:
    return None


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], *, api_version: str = "2025-06-01"
) -> tuple[SentinelClient, list[httpx.Request], httpx.AsyncClient]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http_client = httpx.AsyncClient(transport=httpx.MockTransport(recording))
    http = VendorHttp(
        http_client, ARM, recorder=Recorder(), credentials=Bearer(), describe_error=describe_arm_error, sleep=no_sleep
    )
    return SentinelClient(http, api_version), seen, http_client


def connection_view(**config: Any) -> ConnectionView:
    return ConnectionView(
        id=uuid.uuid4(),
        vendor="sentinel",
        name="Sentinel (test)",
        config={"client_id": "app", "cloud": "public", "arm_url": ARM, **config},
        mappings={},
        secrets={"client_secret": "s", "webhook_secret": "whsec-sentinel-test"},
    )

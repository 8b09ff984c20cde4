"""The Acme emulator in-process, and socdesk's Acme vendor talking to it through the real HTTP base.

No HTTP layer is stubbed: requests go through :class:`VendorHttp` and httpx to the emulator app
(``httpx.ASGITransport``). Only sleeping is skipped, so retries do not slow the tests down.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar

from portal.integrations.acme.cases import AcmeApi
from portal.integrations.acme.emulator.app import create_emulator
from portal.integrations.acme.emulator.fixtures import DEMO_CLIENT_ID
from portal.integrations.acme.emulator.state import AcmeState
from portal.integrations.acme.vendor import AcmeVendor
from portal.integrations.base import ConnectionView
from portal.integrations.http import OutboundEntry, VendorHttp
from portal.integrations.manifest import Manifest

BASE = "http://acme.test"
SCOPES = ("openid", "cases.read", "cases.write", "offline_access")
FROZEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEBHOOK_SECRET = "whsec-test-0123456789"


@dataclass
class Recorder:
    entries: list[OutboundEntry] = field(default_factory=list)

    async def record(self, entry: OutboundEntry) -> None:
        self.entries.append(entry)


class BearerCredentials:
    """Tokens minted straight from the emulator's OAuth server; a refresh mints new ones."""

    def __init__(self, state: AcmeState, client_id: str, scopes: Sequence[str], *, can_refresh: bool = True) -> None:
        self.state = state
        self.client_id = client_id
        self.scopes = list(scopes)
        self.can_refresh = can_refresh
        self.refreshes = 0
        self.issued: list[dict[str, str]] = [state.oauth.issue_tokens(client_id, self.scopes)]

    @property
    def access_token(self) -> str:
        return self.issued[-1]["access_token"]

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    async def refresh(self) -> bool:
        if not self.can_refresh:
            return False
        self.refreshes += 1
        self.issued.append(self.state.oauth.issue_tokens(self.client_id, self.scopes))
        return True

    def known_secrets(self) -> Iterable[str]:
        return [token[key] for token in self.issued for key in ("access_token", "refresh_token")]


class EmulatorTokens:
    """A TokenSource for tests: credentials for a connection, from the emulator's OAuth server."""

    def __init__(self, state: AcmeState) -> None:
        self.state = state
        self.handed_out: list[BearerCredentials] = []

    def credentials(self, connection: ConnectionView, manifest: Manifest) -> BearerCredentials:
        assert manifest.oauth is not None
        credentials = BearerCredentials(self.state, str(connection.config["client_id"]), manifest.oauth.scopes)
        self.handed_out.append(credentials)
        return credentials


def asgi(app: Litestar) -> httpx.ASGITransport:
    """An httpx transport into an in-process app (httpx types ASGI apps more narrowly than Litestar)."""
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]


async def no_sleep(seconds: float) -> None:
    return None


def connection_view(
    connection_id: uuid.UUID | None = None,
    *,
    mappings: dict[str, str] | None = None,
    page_size: int = 100,
    webhook_secret: str = WEBHOOK_SECRET,
) -> ConnectionView:
    return ConnectionView(
        id=connection_id or uuid.uuid4(),
        vendor="acme",
        name="Acme (test)",
        config={"api_url": BASE, "login_url": BASE, "client_id": DEMO_CLIENT_ID, "page_size": page_size},
        mappings=mappings or {},
        secrets={"client_secret": "acme-demo-secret", "webhook_secret": webhook_secret},
    )


@dataclass
class Acme:
    """Everything a test needs on the Acme side: the emulator and a connected vendor client."""

    app: Litestar
    state: AcmeState
    http: httpx.AsyncClient
    recorder: Recorder
    tokens: EmulatorTokens
    vendor: AcmeVendor

    def api(self, connection: ConnectionView | None = None, **http_options: object) -> AcmeApi:
        view = connection or connection_view()
        vendor_http = VendorHttp(
            self.http,
            self.vendor.base_url(view),
            recorder=self.recorder,
            connection_id=view.id,
            credentials=self.vendor.credentials(view, self.tokens),
            sleep=no_sleep,
            **http_options,  # type: ignore[arg-type]
        )
        return self.vendor.client(vendor_http, view)

    def bearer(self, scopes: Sequence[str] = SCOPES) -> dict[str, str]:
        """Headers for calling the emulator directly, as some client of Acme would."""
        return {"Authorization": f"Bearer {self.state.oauth.issue_tokens('direct', list(scopes))['access_token']}"}


@pytest.fixture
async def acme() -> AsyncIterator[Acme]:
    state = AcmeState()
    state.clock.set(FROZEN)
    state.reset()  # seed again at the frozen time: the data is exactly the same in every test
    app, state = create_emulator(state)
    async with httpx.AsyncClient(transport=asgi(app), base_url=BASE) as http:
        yield Acme(app, state, http, Recorder(), EmulatorTokens(state), AcmeVendor())

"""What the engine hands Sentinel's handlers: one connection, with a client per customer tenant.

A Sentinel connection holds one token set per customer tenant (the ``tid`` of the sign-in), so
the HTTP base is derived per tenant with that tenant's credentials; a tenant nobody has signed
in for yet fails with words that say so, without touching the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from portal.integrations.base import ConnectionView, TokenSource
from portal.integrations.errors import ReauthRequired
from portal.integrations.http import Credentials, VendorHttp
from portal.integrations.manifest import Manifest
from portal.integrations.oauth import SECRETS_KEY
from portal.integrations.sentinel.client import SentinelClient, describe_arm_error
from portal.integrations.sentinel.manifest import DEFAULT_API_VERSION, MANIFEST

CLIENT_REQUEST_ID = "x-ms-client-request-id"


class KeyedTokenSource(Protocol):
    def credentials(self, connection: ConnectionView, manifest: Manifest, key: str = ...) -> Credentials: ...


def signed_in_tenants(secrets: Any) -> list[str]:
    """The customer tenants the connection holds tokens for."""
    stored = secrets.get(SECRETS_KEY) if hasattr(secrets, "get") else None
    return sorted(str(key) for key, value in (stored or {}).items() if isinstance(value, dict) and value)


def tenant_key(secrets: Any, tenant: str) -> str | None:
    """The stored key of ``tenant`` (tenant ids compare case-insensitively)."""
    wanted = tenant.strip().lower()
    return next((key for key in signed_in_tenants(secrets) if key.lower() == wanted), None)


class NotSignedIn:
    """Credentials for a tenant nobody has signed in for: every call says what to do."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def headers(self) -> dict[str, str]:
        raise ReauthRequired(
            f"Nobody has signed in to Microsoft for tenant {self.tenant[:80]} yet: sign in for that tenant on the "
            "connection's setup page."
        )

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> Iterable[str]:
        return []


class TenantCredentials:
    """The connection's credentials: one token set per customer tenant, chosen per call."""

    def __init__(self, connection: ConnectionView, tokens: TokenSource) -> None:
        self.connection = connection
        self.tokens = tokens
        self._by_tenant: dict[str, Credentials] = {}

    def for_tenant(self, tenant: str) -> Credentials:
        key = tenant_key(self.connection.secrets, tenant)
        if key is None:
            return NotSignedIn(tenant)
        if key not in self._by_tenant:
            source = cast(KeyedTokenSource, self.tokens)
            self._by_tenant[key] = source.credentials(self.connection, MANIFEST, key=key)
        return self._by_tenant[key]

    # Used as a connection-wide credential it has no tenant: calls must go through for_tenant.
    async def headers(self) -> dict[str, str]:
        raise ReauthRequired("A Sentinel call was made without naming the customer tenant.")

    async def refresh(self) -> bool:
        return False

    def known_secrets(self) -> Iterable[str]:
        return [value for credentials in self._by_tenant.values() for value in credentials.known_secrets()]


@dataclass
class SentinelApi:
    http: VendorHttp
    connection: ConnectionView
    _clients: dict[str, SentinelClient] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return str(self.connection.config.get("api_version") or DEFAULT_API_VERSION)

    @property
    def page_size(self) -> int:
        try:
            return max(1, min(1000, int(self.connection.config.get("page_size") or 200)))
        except (TypeError, ValueError):
            return 200

    def tenant(self, tenant: str) -> SentinelClient:
        key = tenant.strip().lower()
        if key not in self._clients:
            base = self.http.credentials
            credentials = base.for_tenant(tenant) if isinstance(base, TenantCredentials) else base
            http = self.http.derive(
                credentials=credentials, correlation_header=CLIENT_REQUEST_ID, describe_error=describe_arm_error
            )
            self._clients[key] = SentinelClient(http, self.api_version)
        return self._clients[key]

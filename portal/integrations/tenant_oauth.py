"""OAuth for providers whose endpoints are per tenant and whose accounts are tenants (Entra ID).

One connection (one multi-tenant application) serves many customer tenants: the sign-in names a
tenant (or a multi-tenant alias such as ``organizations``), the id token's ``tid`` says which
tenant actually signed in, tokens are kept per tenant, and each tenant's tokens are refreshed at
that tenant's own token endpoint. The token endpoint takes one resource per request, so the
scopes sent there (``token_scopes``) differ from the ones consented at the authorize step.

The base address and scopes may depend on a config choice (the cloud): ``presets`` maps a value
of the config field ``preset_key`` to the login base, sign-in scopes and token scopes to use
when the connection does not give the address itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portal.integrations.manifest import OAuthSpec

TENANT_PLACEHOLDER = "{tenant}"
# A tenant GUID, a verified domain, or one of the multi-tenant aliases: never a path.
_TENANT = re.compile(
    r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,250}[A-Za-z0-9])?)$"
)


@dataclass(frozen=True)
class CloudPreset:
    login_base: str
    scopes: Sequence[str]
    token_scopes: Sequence[str]


@dataclass(frozen=True)
class TenantOAuthSpec(OAuthSpec):
    default_tenant: str = "organizations"
    account_claim: str = "tid"  # the id token claim naming the account the tokens belong to
    token_scopes: Sequence[str] = ()
    preset_key: str = ""
    presets: Mapping[str, CloudPreset] = field(default_factory=dict)

    def preset(self, config: Mapping[str, Any]) -> CloudPreset | None:
        return self.presets.get(str(config.get(self.preset_key) or "")) if self.preset_key else None


def valid_tenant(value: str) -> bool:
    return bool(_TENANT.match(value))


def tenant_path(path: str, tenant: str) -> str:
    if not valid_tenant(tenant):
        raise ValueError(f"{tenant[:80]!r} is not a tenant id or domain")
    return path.replace(TENANT_PLACEHOLDER, tenant)

"""Every vendor's manifest, importable from anywhere (manifests depend on nothing but their types)."""

from __future__ import annotations

from portal.integrations.acme.manifest import MANIFEST as ACME
from portal.integrations.manifest import Manifest
from portal.integrations.sentinel.manifest import MANIFEST as SENTINEL
from portal.integrations.sentinelone.manifest import MANIFEST as SENTINELONE

MANIFESTS: dict[str, Manifest] = {manifest.vendor: manifest for manifest in (ACME, SENTINEL, SENTINELONE)}


def manifest(vendor: str) -> Manifest:
    try:
        return MANIFESTS[vendor]
    except KeyError:
        raise KeyError(f"unknown vendor {vendor!r}") from None

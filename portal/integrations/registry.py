"""Vendor implementations by key: an explicit list, no discovery magic.

Loaded on first use rather than at import: vendor code imports the domain services it maps
into (tickets, assets), and those import the sync engine's outbox, which must not import
every vendor back.
"""

from __future__ import annotations

import functools

from portal.integrations.base import Vendor


@functools.cache
def vendors() -> dict[str, Vendor]:
    from portal.integrations.acme.vendor import AcmeVendor
    from portal.integrations.sentinel.vendor import SentinelVendor
    from portal.integrations.sentinelone.vendor import SentinelOneVendor

    return {vendor.manifest.vendor: vendor for vendor in (AcmeVendor(), SentinelVendor(), SentinelOneVendor())}


def vendor(key: str) -> Vendor:
    try:
        return vendors()[key]
    except KeyError:
        raise KeyError(f"unknown vendor {key!r}") from None

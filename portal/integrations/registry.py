"""Vendor implementations by key: an explicit list, no import magic."""

from __future__ import annotations

from portal.integrations.acme.vendor import AcmeVendor
from portal.integrations.base import Vendor

VENDORS: dict[str, Vendor] = {vendor.manifest.vendor: vendor for vendor in (AcmeVendor(),)}


def vendor(key: str) -> Vendor:
    try:
        return VENDORS[key]
    except KeyError:
        raise KeyError(f"unknown vendor {key!r}") from None

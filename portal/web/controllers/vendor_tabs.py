"""Tabs a vendor adds to its connections' pages: ``(key, path after the connection's address, label)``.

The tab's template is ``integrations/_<key>.html`` and its routes live in the vendor's own
controller, which renders it through :func:`portal.web.controllers.integrations.connection_tab`.
"""

from __future__ import annotations

VENDOR_TABS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sentinelone": (("sentinelone_customers", "/customers", "Customers"),),
    "sentinel": (("sentinel_tenants", "/tenants", "Tenants"),),
}

"""Rules a vendor's mappings must follow beyond each field's own (e.g. two fields that must agree).

Checked when the mappings are saved, so a connection never holds a combination the vendor would
refuse later (Sentinel: the default closure classification and reason must be an allowed pair).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping_problems(vendor: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Field errors by key; empty when the mappings may be saved."""
    if vendor == "sentinel":
        # Imported here: vendor mapping modules import domain code that imports the integration services.
        from portal.integrations.sentinel.mapping import default_pair_problem

        problem = default_pair_problem(values)
        return {"default_reason": problem} if problem else {}
    return {}

"""The emulators ``socdesk emulate <vendor>`` can serve, by vendor key.

Kept apart from the package's ``__init__`` so that importing the shared emulator pieces never
imports every vendor's emulator (which import those pieces themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar

from portal.integrations.acme.emulator.app import create_emulator as create_acme_emulator
from portal.integrations.sentinel.emulator.app import create_emulator as create_sentinel_emulator
from portal.integrations.sentinelone.emulator.app import create_emulator as create_s1_emulator
from portal.integrations.sentinelone.emulator.app import create_eu_emulator as create_s1_eu_emulator

# Each factory returns (app, state); the CLI serves the app.
EmulatorFactory = Callable[[], tuple[Litestar, Any]]

EMULATORS: dict[str, EmulatorFactory] = {
    "acme": create_acme_emulator,
    # Entra ID sign-in and Azure Resource Manager (Sentinel) on one port: login and ARM base URLs both point at it.
    "sentinel": create_sentinel_emulator,
    # Two SentinelOne consoles (one per app, each its own base URL): the demo connects to both.
    "sentinelone": create_s1_emulator,
    "sentinelone-eu": create_s1_eu_emulator,
}

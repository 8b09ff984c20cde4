"""The emulators ``socdesk emulate <vendor>`` can serve, by vendor key.

Kept apart from the package's ``__init__`` so that importing the shared emulator pieces never
imports every vendor's emulator (which import those pieces themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar

from portal.integrations.acme.emulator.app import create_emulator as create_acme_emulator
from portal.integrations.sentinelone.emulator.app import create_emulator as create_s1_emulator
from portal.integrations.sentinelone.emulator.app import create_eu_emulator as create_s1_eu_emulator

# Each factory returns (app, state); the CLI serves the app.
EmulatorFactory = Callable[[], tuple[Litestar, Any]]

EMULATORS: dict[str, EmulatorFactory] = {
    "acme": create_acme_emulator,
    # Two SentinelOne consoles (one per app, each its own base URL): the demo connects to both.
    "sentinelone": create_s1_emulator,
    "sentinelone-eu": create_s1_eu_emulator,
}

"""``create_emulator()``: one SentinelOne console as one ASGI app.

A console's URL is a plain base URL, like ``https://usea1-<msp>.sentinelone.net``: the API is
under ``/web/api/v2.1/``, a threat's console page at ``/incidents/threats/<id>/overview``
and the admin routes under ``/_emulator``. Two consoles are two apps
(two ports), each with its own :class:`S1State`.
"""

from __future__ import annotations

from litestar import Litestar

from portal.integrations.emulation.admin import admin_router
from portal.integrations.emulation.app import emulator_app
from portal.integrations.sentinelone.emulator.admin import s1_admin_handlers
from portal.integrations.sentinelone.emulator.api import api_router
from portal.integrations.sentinelone.emulator.pages import pages_router
from portal.integrations.sentinelone.emulator.state import S1State

DEFAULT_CONSOLE = "usea1"


def create_emulator(state: S1State | None = None, *, console: str | None = DEFAULT_CONSOLE) -> tuple[Litestar, S1State]:
    """The app for ``state`` (or a new console seeded with fixture ``console``; None: empty)."""
    state = state if state is not None else S1State(console)
    app = emulator_app(
        state.control,
        [
            api_router(state),
            pages_router(state),
            admin_router(state.control, reset=state.reset, route_handlers=s1_admin_handlers(state)),
        ],
    )
    return app, state


def create_eu_emulator() -> tuple[Litestar, S1State]:
    """The demo's second console (``euce1``)."""
    return create_emulator(console="euce1")

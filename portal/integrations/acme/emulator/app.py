"""``create_emulator()``: the whole Acme Cases emulator as one ASGI app.

The same app serves Acme's API (``api_url``) and its sign-in (``login_url``), as one host:
``/api/v1/...``, ``/oauth/authorize`` and ``/oauth/token``, ``/ui/...`` pages for case links,
and the admin routes under ``/_emulator``.
"""

from __future__ import annotations

from litestar import Litestar

from portal.integrations.acme.emulator.admin import acme_admin_handlers
from portal.integrations.acme.emulator.api import api_router, ui_router
from portal.integrations.acme.emulator.state import AcmeState
from portal.integrations.emulation.admin import admin_router
from portal.integrations.emulation.app import emulator_app
from portal.integrations.emulation.oauth_server import oauth_admin_router, oauth_router


def create_emulator(state: AcmeState | None = None) -> tuple[Litestar, AcmeState]:
    state = state if state is not None else AcmeState()
    app = emulator_app(
        state.control,
        [
            api_router(state),
            ui_router(state),
            oauth_router(state.oauth, path="/oauth"),
            oauth_admin_router(state.oauth),
            admin_router(state.control, reset=state.reset, route_handlers=acme_admin_handlers(state)),
        ],
    )
    return app, state

"""``create_emulator()``: the whole Microsoft emulator (Entra sign-in and ARM) as one ASGI app.

One app plays both hosts on distinct paths, so a connection's login base URL and ARM base URL
can both point at it: ``/{tenant}/oauth2/v2.0/{authorize,token}``, ``/{tenant}/v2.0/adminconsent``
and discovery for the identity platform; ``/subscriptions/...`` for ARM and Sentinel; admin
routes under ``/_emulator`` (the kit's faults, reset, requests, clock, ``/_emulator/oauth/...``,
and this emulator's own, see :mod:`.admin`).
"""

from __future__ import annotations

from litestar import Litestar

from portal.integrations.emulation.admin import admin_router
from portal.integrations.emulation.app import emulator_app
from portal.integrations.emulation.oauth_server import oauth_admin_router, oauth_router
from portal.integrations.sentinel.emulator.admin import sentinel_admin_handlers
from portal.integrations.sentinel.emulator.arm import arm_router
from portal.integrations.sentinel.emulator.identity import identity_router
from portal.integrations.sentinel.emulator.state import SentinelState


def create_emulator(state: SentinelState | None = None) -> tuple[Litestar, SentinelState]:
    state = state if state is not None else SentinelState()
    app = emulator_app(
        state.control,
        [
            oauth_router(state.identity, path="/{tenant:str}/oauth2/v2.0"),
            identity_router(state.identity),
            arm_router(state),
            oauth_admin_router(state.identity),
            admin_router(state.control, reset=state.reset, route_handlers=sentinel_admin_handlers(state)),
        ],
    )
    return app, state

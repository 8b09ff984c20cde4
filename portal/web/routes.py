"""Every controller the app serves, in one list (one line per area)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from portal.web.api.docs import ApiDocsController
from portal.web.api.router import api_router
from portal.web.controllers.auth import AuthController
from portal.web.controllers.dashboard import DashboardController
from portal.web.controllers.health import HealthController
from portal.web.controllers.profile import ProfileController

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    DashboardController,
    HealthController,
    # area: tickets
    # area: clients and assets
    # area: settings
    ProfileController,
    ApiDocsController,
    api_router,
]

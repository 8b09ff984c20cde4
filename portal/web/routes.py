"""Every controller the app serves, in one list (one line per area)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from portal.web.api.docs import ApiDocsController
from portal.web.api.router import api_router
from portal.web.controllers.assets import AssetController
from portal.web.controllers.auth import AuthController
from portal.web.controllers.clients import ClientController
from portal.web.controllers.dashboard import DashboardController
from portal.web.controllers.health import HealthController
from portal.web.controllers.integrations import IntegrationsController
from portal.web.controllers.live import LiveController
from portal.web.controllers.oauth import OAuthController
from portal.web.controllers.profile import ProfileController
from portal.web.controllers.sentinel import SentinelController, SentinelTicketController
from portal.web.controllers.sentinelone import SentinelOneController
from portal.web.controllers.settings import SettingsController
from portal.web.controllers.sync_health import SyncHealthController
from portal.web.controllers.tickets import TicketController
from portal.web.controllers.webhooks import WebhookController

ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    DashboardController,
    LiveController,
    HealthController,
    TicketController,
    ClientController,
    AssetController,
    IntegrationsController,
    SentinelOneController,
    SentinelController,
    SentinelTicketController,
    SyncHealthController,
    SettingsController,
    ProfileController,
    OAuthController,
    WebhookController,
    ApiDocsController,
    api_router,
]

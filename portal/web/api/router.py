"""The /api/v1 router: bearer tokens instead of the session cookie, so no CSRF token either."""

from __future__ import annotations

from litestar import Router
from litestar.middleware import DefineMiddleware

from portal.web.api.assets import AssetsApi
from portal.web.api.clients import ClientsApi, SitesApi
from portal.web.api.docs import API_PREFIX
from portal.web.api.tickets import TicketsApi
from portal.web.api_auth import API_TOKEN_EXCLUDE_KEY, ApiTokenMiddleware

api_router = Router(
    path=API_PREFIX,
    route_handlers=[ClientsApi, SitesApi, AssetsApi, TicketsApi],
    middleware=[DefineMiddleware(ApiTokenMiddleware)],
    # The session middleware leaves these routes alone; the token middleware takes over.
    opt={"exclude_from_auth": True, "exclude_from_csrf": True, API_TOKEN_EXCLUDE_KEY: False},
    include_in_schema=True,
)

"""/api/docs: the API reference for staff, rendered on the server from the OpenAPI document.

Litestar's interactive renderers load their JavaScript from CDNs, which neither the
Content-Security-Policy nor an offline install allows; this page needs neither.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Template

from portal.web.pages import page

API_PREFIX = "/api/v1"
SCHEMA_PATH = "/api/docs/schema"

OPENAPI_CONFIG = OpenAPIConfig(
    title="socdesk API",
    version="1.0.0",
    description=(
        "Clients, sites, assets, tickets and ticket actions. Authenticate with a personal API token "
        "(`Authorization: Bearer sdk_…`) created on your profile page or with `socdesk token create`; "
        "a token has its owner's role and client scope. Lists use cursor pagination: pass `next_cursor` "
        "back as `cursor`. Errors are RFC 9457 problem details."
    ),
    path=SCHEMA_PATH,
    render_plugins=[JsonRenderPlugin(path="/openapi.json")],
    security=[{"BearerToken": []}],
    components=Components(
        security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer", description="sdk_ token")}
    ),
)


class ApiDocsController(Controller):
    path = "/api/docs"
    include_in_schema = False

    @get("/", name="api_docs")
    async def docs(self, request: Request[Any, Any, Any]) -> Template:
        schema = request.app.openapi_schema.to_schema()
        operations = []
        for path, item in sorted(schema.get("paths", {}).items()):
            if not path.startswith(API_PREFIX):
                continue
            for method in ("get", "post", "patch", "put", "delete"):
                if operation := item.get(method):
                    operations.append(
                        {
                            "method": method.upper(),
                            "path": path,
                            "summary": operation.get("summary", ""),
                            "description": operation.get("description", ""),
                            "parameters": operation.get("parameters", []),
                        }
                    )
        return page(
            request,
            "api/docs.html",
            info=schema.get("info", {}),
            operations=operations,
            schema_url=f"{SCHEMA_PATH}/openapi.json",
        )

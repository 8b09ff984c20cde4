"""Failed sign-in throttling, per account and per client address, kept in Redis.

Counting happens for unknown emails too, so the throttle says nothing about which
accounts exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int
    per_address: int
    window_seconds: int


@dataclass(frozen=True)
class ThrottleVerdict:
    blocked: bool
    retry_after_seconds: int = 0


class LoginThrottle:
    def __init__(self, redis: Redis, limits: ThrottleLimits, prefix: str = "socdesk:login-fail") -> None:
        self._redis = redis
        self._limits = limits
        self._prefix = prefix

    def _keys(self, email: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        # Hashed so the keyspace holds no email addresses.
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return (
            (f"{self._prefix}:account:{account}", self._limits.per_account),
            (f"{self._prefix}:address:{address}", self._limits.per_address),
        )

    async def check(self, email: str, address: str) -> ThrottleVerdict:
        longest = 0
        for key, limit in self._keys(email, address):
            count = await self._redis.get(key)
            if count is not None and int(count) >= limit:
                longest = max(longest, int(await self._redis.ttl(key)))
        return ThrottleVerdict(blocked=longest > 0, retry_after_seconds=max(longest, 0))

    async def record_failure(self, email: str, address: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, _ in self._keys(email, address):
                pipe.incr(key)
                pipe.expire(key, self._limits.window_seconds, nx=True)
            await pipe.execute()

    async def record_success(self, email: str) -> None:
        # The address counter stays: one good password must not reset a spray from that address.
        account_key = self._keys(email, "-")[0][0]
        await self._redis.delete(account_key)

"""A vendor's rate limit played for real: at most ``requests`` per ``per_seconds`` for each caller.

Off unless an admin sets it (``POST /_emulator/throttle``). A caller is the Authorization header
(kept only as a digest), so two tokens have two budgets, as at vendors that limit per token. The
window runs on the emulator clock, so a test can freeze it and move it by hand.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class Throttle:
    requests: int
    per_seconds: float
    _seen: dict[str, deque[datetime]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("requests must be at least 1 and per_seconds above 0")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Throttle:
        try:
            return cls(requests=int(data["requests"]), per_seconds=float(data["per_seconds"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid throttle (send requests and per_seconds): {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "per_seconds": self.per_seconds}

    def take(self, authorization: str, now: datetime) -> float | None:
        """None when the request fits the caller's budget (and uses it), else the seconds until it would."""
        caller = hashlib.sha256(authorization.encode()).hexdigest()
        window = self._seen.setdefault(caller, deque())
        opened = now - timedelta(seconds=self.per_seconds)
        while window and window[0] <= opened:
            window.popleft()
        if len(window) >= self.requests:
            return (window[0] - opened).total_seconds()
        window.append(now)
        return None

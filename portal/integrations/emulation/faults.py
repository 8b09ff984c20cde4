"""Fault injection: make an emulator misbehave the way real vendors do, a set number of times.

A test (or the admin route ``POST /_emulator/faults``) adds a :class:`FaultPlan`; every request
the emulator receives asks the :class:`FaultRegistry` whether a plan applies to it. Each hit
uses up one of the plan's ``count``. What the emulator then answers is a :class:`FaultAnswer`
built by :func:`fault_answer`, with the vendor's own error-body shape.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class FaultKind(enum.StrEnum):
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # a 5xx with the vendor's error body
    EMPTY_ERROR = "empty_error"  # 500 whose body looks like an empty list: {"value": []}
    LATENCY = "latency"  # the request is answered normally, late
    CONFLICT = "conflict"  # 412: someone else changed the object (an etag mismatch)
    MALFORMED = "malformed"  # 200 with a body that breaks the API's promises (``body``, default {})
    MALFORMED_ITEM = "malformed_item"  # the real 200 page, one record (``index``) replaced by ``body`` (default {})


# A conflict only makes sense on a write that carries an etag; the other kinds hit any method.
DEFAULT_METHODS: dict[FaultKind, str] = {FaultKind.CONFLICT: "PATCH"}


@dataclass
class FaultPlan:
    kind: FaultKind
    count: int = 1  # how many matching requests it spoils before it is used up
    path_prefix: str = ""  # "" = the emulator's default fault scope (its data API)
    method: str = ""  # "" = any method (PATCH for conflicts)
    retry_after: float = 2.0  # rate_limit
    status: int = 503  # server_error
    seconds: float = 0.0  # latency
    body: Any = None  # malformed: the 200 body to answer with; malformed_item: the record to put in the page
    index: int = 0  # malformed_item: which record of the page (past the end: the last one)
    # A storm: each matching request is spoiled with this probability (drawn from a generator seeded
    # with ``seed``, so a test sees the same storm every time) until ``count`` are spoiled.
    chance: float = 1.0
    seed: int = 0
    _draw: random.Random = field(default_factory=random.Random, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._draw.seed(self.seed)
        self.kind = FaultKind(self.kind)
        self.method = (self.method or DEFAULT_METHODS.get(self.kind, "")).upper()
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.kind is FaultKind.SERVER_ERROR and not 500 <= self.status <= 599:
            raise ValueError("a server_error status must be 5xx")
        if not 0 < self.chance <= 1:
            raise ValueError("chance must be above 0 and at most 1")
        if self.retry_after < 0 or self.seconds < 0 or self.index < 0:
            raise ValueError("retry_after, seconds and index cannot be negative")
        if self.path_prefix and not self.path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with /")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultPlan:
        """A plan from an admin request body; ValueError says what is wrong with it."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("kind is required")
        try:
            kind = FaultKind(str(data["kind"]))
            return cls(
                kind=kind,
                count=int(data.get("count", 1)),
                path_prefix=str(data.get("path_prefix") or ""),
                method=str(data.get("method") or ""),
                retry_after=float(data.get("retry_after", 2.0)),
                status=int(data.get("status", 503)),
                seconds=float(data.get("seconds", 0.0)),
                body=data.get("body"),
                index=int(data.get("index", 0)),
                chance=float(data.get("chance", 1.0)),
                seed=int(data.get("seed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid fault: {exc}") from None

    def matches(self, method: str, path: str, default_prefixes: tuple[str, ...]) -> bool:
        if self.method and self.method != method.upper():
            return False
        if self.path_prefix:
            return path.startswith(self.path_prefix)
        return any(path.startswith(prefix) for prefix in default_prefixes)

    def strikes(self) -> bool:
        """Whether this matching request is one the plan spoils (always, unless it is a storm)."""
        return self.chance >= 1 or self._draw.random() < self.chance

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if not key.startswith("_")} | {
            "kind": self.kind.value
        }


@dataclass(frozen=True)
class FaultAnswer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


# (status, error code, message) -> the vendor's error body
ErrorBody = Callable[[int, str, str], Any]


class FaultRegistry:
    """The active plans, consulted in the order they were added; the first match applies."""

    def __init__(self, default_prefixes: tuple[str, ...] = ("/",)) -> None:
        self.default_prefixes = default_prefixes
        self._plans: list[FaultPlan] = []

    def add(self, plan: FaultPlan | FaultKind | str, **options: Any) -> FaultPlan:
        if not isinstance(plan, FaultPlan):
            plan = FaultPlan(kind=FaultKind(plan), **options)
        self._plans.append(plan)
        return plan

    def take(self, method: str, path: str) -> FaultPlan | None:
        """The plan that spoils this request, if any (and one use of it)."""
        for plan in self._plans:
            if plan.matches(method, path, self.default_prefixes):
                if not plan.strikes():
                    continue
                plan.count -= 1
                if plan.count <= 0:
                    self._plans.remove(plan)
                return plan
        return None

    @property
    def plans(self) -> list[FaultPlan]:
        return list(self._plans)

    def clear(self) -> None:
        self._plans.clear()


def rate_limited(retry_after: float, error_body: ErrorBody) -> FaultAnswer:
    """A 429 asking the caller to come back in ``retry_after`` seconds."""
    # Retry-After is whole seconds on the wire; never round a short wait down to "now".
    seconds = math.ceil(retry_after)
    return FaultAnswer(
        429,
        error_body(429, "TooManyRequests", f"Rate limit exceeded. Retry after {seconds} seconds."),
        {"Retry-After": str(seconds)},
    )


def fault_answer(plan: FaultPlan, error_body: ErrorBody) -> FaultAnswer | None:
    """What to answer instead of the real response; None for latency (answer normally, after the wait)
    and for malformed_item (answer normally, with one record spoilt: see :func:`spoil_item`)."""
    if plan.kind is FaultKind.RATE_LIMIT:
        return rate_limited(plan.retry_after, error_body)
    if plan.kind is FaultKind.SERVER_ERROR:
        code = "ServiceUnavailable" if plan.status == 503 else "InternalServerError"
        return FaultAnswer(plan.status, error_body(plan.status, code, "The service is temporarily unavailable."))
    if plan.kind is FaultKind.EMPTY_ERROR:
        # Some vendors fail this way: an error status with a body that parses as "no results".
        return FaultAnswer(500, {"value": []})
    if plan.kind is FaultKind.CONFLICT:
        return FaultAnswer(
            412, error_body(412, "PreconditionFailed", "The object was changed by someone else (etag mismatch).")
        )
    if plan.kind is FaultKind.MALFORMED:
        return FaultAnswer(200, {} if plan.body is None else plan.body)
    return None


# Where a page's records are in a response body (None: the body is no page).
PageItems = Callable[[Any], list[Any] | None]


def value_items(body: Any) -> list[Any] | None:
    """The records of a ``{"value": [...]}`` page, the shape most vendors use."""
    items = body.get("value") if isinstance(body, dict) else None
    return items if isinstance(items, list) else None


def spoil_item(plan: FaultPlan, body: Any, page_items: PageItems) -> bool:
    """Replace one record of a page in place with the plan's ``body``; False when there is no record to spoil."""
    items = page_items(body)
    if not items:
        return False
    items[min(plan.index, len(items) - 1)] = {} if plan.body is None else plan.body
    return True

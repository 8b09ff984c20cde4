"""The knobs every emulator shares, and the middleware that applies them to each request."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from portal.integrations.emulation.clock import EmulatorClock
from portal.integrations.emulation.faults import (
    ErrorBody,
    FaultAnswer,
    FaultKind,
    FaultPlan,
    FaultRegistry,
    PageItems,
    fault_answer,
    rate_limited,
    spoil_item,
    value_items,
)
from portal.integrations.emulation.recording import RecordedRequest, RequestLog
from portal.integrations.emulation.throttle import Throttle

ADMIN_PREFIX = "/_emulator"


def default_error_body(status: int, code: str, message: str) -> dict[str, dict[str, str]]:
    """The Microsoft-style error shape ({"error": {"code", "message"}}) most vendors use."""
    return {"error": {"code": code, "message": message}}


@dataclass
class EmulatorControl:
    clock: EmulatorClock = field(default_factory=EmulatorClock)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    requests: RequestLog = field(default_factory=RequestLog)
    error_body: ErrorBody = default_error_body
    page_items: PageItems = value_items  # where malformed_item faults find a page's records
    throttle: Throttle | None = None  # a real rate limit on the data API; None = unlimited

    def reset(self) -> None:
        self.faults.clear()
        self.requests.clear()
        self.throttle = None

    def throttled(self, scope: Scope, path: str) -> FaultAnswer | None:
        """The 429 for a request over its caller's budget (the data API only, like default faults)."""
        if self.throttle is None or not any(path.startswith(prefix) for prefix in self.faults.default_prefixes):
            return None
        wait = self.throttle.take(_authorization(scope), self.clock.now())
        return None if wait is None else rate_limited(wait, self.error_body)


def _authorization(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def _auth_scheme(scope: Scope) -> str:
    return _authorization(scope).split(" ", 1)[0].lower()


async def _send_answer(send: Send, answer: FaultAnswer) -> None:
    body = json.dumps(answer.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class EmulatorMiddleware:
    """Records each request and, when a fault plan applies, answers with the fault instead.

    The admin routes are exempt from both: driving the emulator must never be spoiled by the
    faults it is told to inject, nor clutter the log of what the system under test did.
    """

    def __init__(self, app: ASGIApp, control: EmulatorControl) -> None:
        self.app = app
        self.control = control

    def _spoiling(self, plan: FaultPlan, send: Send) -> Send:
        """A ``send`` that holds the answer back, spoils one record of its page, and then sends it."""
        start: HTTPResponseStartEvent | None = None
        chunks: list[bytes] = []

        async def spoil(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                page = json.loads(body)
            except ValueError:
                page = None
            if start["status"] == 200 and page is not None and spoil_item(plan, page, self.control.page_items):
                body = json.dumps(page).encode()
            headers = [(name, value) for name, value in start["headers"] if name.lower() != b"content-length"]
            start["headers"] = [*headers, (b"content-length", str(len(body)).encode())]
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return spoil

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != ScopeType.HTTP or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET")).upper()
        status: int | None = None
        fault = ""
        throttled = self.control.throttled(scope, path)
        plan = None if throttled is not None else self.control.faults.take(method, path)
        try:
            if throttled is not None:
                fault, status = "throttled", throttled.status
                await _send_answer(send, throttled)
                return
            if plan is not None:
                fault = plan.kind.value
                answer = fault_answer(plan, self.control.error_body)
                if answer is not None:
                    status = answer.status
                    await _send_answer(send, answer)
                    return
                await asyncio.sleep(plan.seconds)

            async def remember_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            if plan is not None and plan.kind is FaultKind.MALFORMED_ITEM:
                await self.app(scope, receive, self._spoiling(plan, remember_status))
            else:
                await self.app(scope, receive, remember_status)
        finally:
            query = scope.get("query_string", b"")
            self.control.requests.add(
                RecordedRequest(
                    at=self.control.clock.now(),
                    method=method,
                    path=path,
                    query=query.decode("latin-1") if isinstance(query, bytes) else str(query),
                    status=status,
                    auth=_auth_scheme(scope),
                    fault=fault,
                )
            )

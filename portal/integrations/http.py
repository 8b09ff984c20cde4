"""The one HTTP base every vendor client is built on.

It adds credentials, classifies failures into :mod:`portal.integrations.errors`, retries only
what can succeed on a retry (429 with a short ``Retry-After``, 5xx and timeouts on idempotent
calls), refreshes an expired token once, and records every attempt in the outbound request log,
redacted. A vendor client knows only its base URL; it never sees retries or logging.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from portal.db.base import utcnow
from portal.integrations import redaction
from portal.integrations.errors import (
    AuthExpired,
    BadPayload,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
    VendorError,
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
DEFAULT_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class OutboundEntry:
    connection_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    correlation_id: str
    method: str
    url: str
    status_code: int | None
    duration_ms: int
    error_kind: str | None
    request_excerpt: str
    response_excerpt: str


class RequestRecorder(Protocol):
    async def record(self, entry: OutboundEntry) -> None: ...


class Credentials(Protocol):
    """Puts the vendor's auth on a request; OAuth credentials can also refresh."""

    async def headers(self) -> dict[str, str]: ...

    async def refresh(self) -> bool:
        """After a 401: get a new token. False when this kind of credential cannot refresh."""
        ...

    def known_secrets(self) -> Iterable[str]: ...


def retry_after_seconds(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def default_error_message(response: httpx.Response) -> str:
    """The vendor's own words where its error body has them, else the status line."""
    data = json_or_none(response)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return str(data.get("error_description") or error)
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("detail") or first.get("title") or first.get("message") or first)
        if data.get("message"):
            return str(data["message"])
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def classify(response: httpx.Response, describe: Callable[[httpx.Response], str]) -> VendorError:
    status = response.status_code
    message = describe(response)
    if status == 401:
        return AuthExpired(message, status=status)
    if status == 403:
        return Forbidden(message, status=status)
    if status == 404:
        return NotFound(message, status=status)
    if status in (409, 412):
        return Conflict(message, status=status)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(response))
    if status >= 500:
        return Unavailable(message, status=status)
    return InvalidRequest(message, status=status)


class VendorHttp:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        recorder: RequestRecorder,
        connection_id: uuid.UUID | None = None,
        credentials: Credentials | None = None,
        correlation_header: str = "X-Correlation-Id",
        describe_error: Callable[[httpx.Response], str] = default_error_message,
        max_attempts: int = 3,
        max_inline_wait: float = 10.0,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connection_id = connection_id
        self._client = client
        self._recorder = recorder
        self._credentials = credentials
        self._correlation_header = correlation_header
        self._describe = describe_error
        self._max_attempts = max_attempts
        self._max_inline_wait = max_inline_wait
        self._timeout = timeout
        self._sleep = sleep

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    async def pause(self, seconds: float) -> None:
        """Wait as the vendor asked (tests give the runtime a clock that does not really wait)."""
        await self._sleep(seconds)

    def derive(
        self,
        *,
        credentials: Credentials | None = None,
        correlation_header: str | None = None,
        describe_error: Callable[[httpx.Response], str] | None = None,
    ) -> VendorHttp:
        """The same connection's HTTP base with other credentials or error wording (a vendor whose
        connection holds one token set per account, e.g. a Sentinel customer tenant, uses one per call)."""
        return VendorHttp(
            self._client, self.base_url, recorder=self._recorder, connection_id=self.connection_id,
            credentials=credentials if credentials is not None else self._credentials,
            correlation_header=correlation_header or self._correlation_header,
            describe_error=describe_error or self._describe, max_attempts=self._max_attempts,
            max_inline_wait=self._max_inline_wait, timeout=self._timeout, sleep=self._sleep,
        )  # fmt: skip

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.base_url}/{path.lstrip('/')}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ticket_id: uuid.UUID | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send with retries; returns a 2xx/3xx response or raises a :class:`VendorError`."""
        method = method.upper()
        may_repeat = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(
                    method, path, params=params, json=json, data=data, headers=headers,
                    ticket_id=ticket_id, authenticated=authenticated,
                )  # fmt: skip
            except AuthExpired:
                if not authenticated or refreshed or self._credentials is None:
                    raise
                refreshed = True
                if not await self._credentials.refresh():
                    raise
                attempt -= 1  # a refresh is not a retry of a failing vendor
            except RateLimited as exc:
                if attempt >= self._max_attempts or exc.retry_after > self._max_inline_wait:
                    raise
                await self._sleep(exc.wait())
            except Unavailable:
                if not may_repeat or attempt >= self._max_attempts:
                    raise
                await self._sleep(min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random()))  # noqa: S311

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BadPayload(f"{method} {path} answered with something that is not JSON.") from exc

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        ticket_id: uuid.UUID | None,
        authenticated: bool,
    ) -> httpx.Response:
        correlation_id = uuid.uuid4().hex
        request_headers = {self._correlation_header: correlation_id, "Accept": "application/json", **(headers or {})}
        known_secrets: list[str] = []
        if authenticated and self._credentials is not None:
            request_headers.update(await self._credentials.headers())
            known_secrets = list(self._credentials.known_secrets())
        request = self._client.build_request(
            method, self.url(path), params=params, json=json, data=data, headers=request_headers,
            timeout=self._timeout,
        )  # fmt: skip
        started = time.perf_counter()
        response: httpx.Response | None = None
        failure: VendorError | None = None
        try:
            response = await self._client.send(request)
            await response.aread()
        except httpx.TimeoutException:
            failure = Unavailable(f"{method} {redaction.url(str(request.url))} timed out.")
        except httpx.TransportError as exc:
            failure = Unavailable(f"Could not reach {request.url.host}: {type(exc).__name__}.")
        if response is not None and response.status_code >= 400:
            failure = classify(response, self._describe)
        if failure is not None:
            failure.message = redaction.scrub(failure.message, known_secrets)
            failure.args = (failure.message,)
        await self._recorder.record(
            OutboundEntry(
                connection_id=self.connection_id,
                ticket_id=ticket_id,
                correlation_id=correlation_id,
                method=method,
                url=redaction.url(str(request.url)),
                status_code=response.status_code if response is not None else None,
                duration_ms=round((time.perf_counter() - started) * 1000),
                error_kind=failure.kind if failure else None,
                request_excerpt=redaction.body(
                    request.content, request.headers.get("content-type", ""), known_secrets=known_secrets
                ),
                response_excerpt=(
                    redaction.body(
                        response.content, response.headers.get("content-type", ""), known_secrets=known_secrets
                    )
                    if response is not None
                    else (failure.message if failure else "")
                ),
            )
        )
        if failure is not None:
            raise failure
        assert response is not None
        return response

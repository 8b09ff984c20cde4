"""Assembling an emulator app, and serving one from the command line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler

from portal.integrations.emulation.control import EmulatorControl, EmulatorMiddleware

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    428: "PreconditionRequired",
}


class EmulatedError(HTTPException):
    """A refusal in the vendor's own words: ``code`` goes into the vendor-shaped error body."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=message, status_code=status, headers=headers)
        self.code = code
        self.message = message


def emulator_app(control: EmulatorControl, route_handlers: Sequence[ControllerRouterHandler]) -> Litestar:
    """A bare Litestar app (no sessions, CSRF or OpenAPI: it plays a foreign system) whose errors
    all come in the vendor's error shape, with the shared fault/recording middleware."""

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if isinstance(exc, EmulatedError):
            # Its own message, even an empty one (some vendors answer with no detail at all).
            code, message = exc.code, exc.message
        else:
            code, message = ERROR_CODES.get(exc.status_code, "Error"), str(exc.detail)
        return Response(
            control.error_body(exc.status_code, code, message),
            status_code=exc.status_code,
            headers=exc.headers or None,
            media_type=MediaType.JSON,
        )

    def crash(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.exception("emulator error on %s %s", request.method, request.url.path, exc_info=exc)
        return Response(
            control.error_body(500, "InternalServerError", "The emulator failed."),
            status_code=500,
            media_type=MediaType.JSON,
        )

    return Litestar(
        route_handlers=list(route_handlers),
        middleware=[DefineMiddleware(EmulatorMiddleware, control=control)],
        exception_handlers={HTTPException: http_error, Exception: crash},
        openapi_config=None,
        debug=False,
    )


def serve(app: Litestar, host: str = "127.0.0.1", port: int = 8100) -> None:
    """Serve an emulator until Ctrl-C (uvicorn re-raises it after a clean shutdown)."""
    import uvicorn

    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=host, port=port, log_level="info")

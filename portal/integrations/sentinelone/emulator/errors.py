"""SentinelOne's error answers: ``{"errors": [{"code": <int>, "detail": <str|null>, "title": <str>}]}``.

The numeric codes are the ones seen in the wild (4010010, 4000030, 5000010); the others follow
the same pattern (HTTP status, then ``0010``) and are marked as such in the reference.
"""

from __future__ import annotations

from typing import Any

from portal.integrations.emulation.app import EmulatedError

VALIDATION = 4000010
ALREADY_EXISTS = 4000030
AUTHENTICATION = 4010010
PERMISSION = 4030010
NOT_FOUND = 4040010
METHOD = 4050010
RATE_LIMIT = 4290010
INTERNAL = 5000010
UNAVAILABLE = 5030010

TITLES = {
    VALIDATION: "Validation Error",
    ALREADY_EXISTS: "Already Exists Error",
    AUTHENTICATION: "Authentication Failed",
    PERMISSION: "Insufficient permissions",
    NOT_FOUND: "Not Found",
    METHOD: "Method Not Allowed",
    RATE_LIMIT: "Too Many Requests",
    INTERNAL: "Internal server error",
    UNAVAILABLE: "Service Unavailable",
}
BY_STATUS = {
    400: VALIDATION,
    401: AUTHENTICATION,
    403: PERMISSION,
    404: NOT_FOUND,
    405: METHOD,
    409: ALREADY_EXISTS,
    429: RATE_LIMIT,
    500: INTERNAL,
    503: UNAVAILABLE,
}


class S1Error(EmulatedError):
    """A request the console refuses, with its numeric code and a ``detail`` (None: S1 sends null)."""

    def __init__(
        self, status: int, code: int, detail: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, str(code), detail or "", headers=headers)


def invalid(detail: str) -> S1Error:
    """A 400 whose detail names the field first, as S1's validation errors do."""
    return S1Error(400, VALIDATION, detail)


def not_found(detail: str) -> S1Error:
    return S1Error(404, NOT_FOUND, detail)


def s1_error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The error body for any refusal: S1's own (numeric ``code``) or the kit's (faults, unknown routes)."""
    number = int(code) if code.isdigit() else BY_STATUS.get(status, status * 10000 + 10)
    title = TITLES.get(number) or TITLES.get(BY_STATUS.get(status, 0), "Error")
    return {"errors": [{"code": number, "detail": message or None, "title": title}]}

"""One error taxonomy for every vendor: what went wrong, and whether trying again can help."""

from __future__ import annotations

import random


class VendorError(Exception):
    """A call to a vendor failed. ``kind`` is what sync health and the request log show."""

    kind = "error"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def describe(self) -> str:
        """What sync health, run records and the outbox show: the vendor's words and the kind."""
        return f"{self.message} ({self.kind.replace('_', ' ')})"


class AuthExpired(VendorError):
    """401 on a token that should be valid: refresh once, then try once more."""

    kind = "auth_expired"


class ReauthRequired(VendorError):
    """The grant is gone (refresh refused, consent revoked, token expired for good): a person must reconnect."""

    kind = "needs_reauth"


class Forbidden(VendorError):
    kind = "forbidden"


class NotFound(VendorError):
    kind = "not_found"


class Conflict(VendorError):
    """409/412: someone else changed the object (an etag mismatch); refetch and re-apply."""

    kind = "conflict"


class InvalidRequest(VendorError):
    kind = "invalid_request"


class RateLimited(VendorError):
    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after

    def wait(self) -> float:
        """The wait the vendor asked for, plus up to 10 % jitter so throttled callers do not all
        come back in the same instant."""
        return self.retry_after * (1 + random.random() * 0.1)  # noqa: S311 (not for secrets)


class Unavailable(VendorError):
    """5xx, timeouts, refused connections: the vendor may be back shortly."""

    kind = "unavailable"
    retryable = True


class BadPayload(VendorError):
    """The vendor answered, but not with what its API promises (unparseable, wrong shape)."""

    kind = "bad_payload"

"""Errors domain services raise; the web layer turns them into pages, fragments or problem details."""

from __future__ import annotations


class DomainError(Exception):
    pass


class NotFoundError(DomainError):
    """The object does not exist, or the user may not know it does (outside their client scope)."""

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class ForbiddenError(DomainError):
    """The user may see the object but not do this to it (their role does not allow it)."""


class ValidationError(DomainError):
    """Input that breaks a rule. ``fields`` maps form field names to messages shown beside them."""

    def __init__(self, fields: dict[str, str], message: str = "Please correct the highlighted fields.") -> None:
        super().__init__(message)
        self.fields = fields
        self.message = message

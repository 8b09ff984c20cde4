"""Route guards: function-level authorisation. Object-level checks live in domain services."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from portal.domain.accounts.models import Role, User


def _role(connection: ASGIConnection[Any, Any, Any, Any]) -> Role | None:
    user = connection.scope.get("user")
    return Role(user.role) if isinstance(user, User) else None


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _role(connection) is not Role.ADMIN:
        raise PermissionDeniedException("Only administrators can do this.")


def requires_ticket_work(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _role(connection) not in (Role.ADMIN, Role.ANALYST):
        raise PermissionDeniedException("Viewers can read but not change tickets.")

"""Who may see and do what. Client scoping is a query predicate, applied in services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain.accounts.models import Role, User
from portal.domain.errors import ForbiddenError, NotFoundError


@dataclass(frozen=True)
class Scope:
    user_id: uuid.UUID | None  # None: socdesk itself (a sync job), never a signed-in person
    role: Role
    all_clients: bool
    client_ids: frozenset[uuid.UUID]
    label: str = ""

    @classmethod
    def for_user(cls, user: User) -> Scope:
        return cls(
            user_id=user.id,
            role=Role(user.role),
            all_clients=user.all_clients,
            client_ids=user.client_ids,
            label=user.email,
        )

    @classmethod
    def system(cls, label: str = "system") -> Scope:
        """What background work acts as: every client, administrator rights, no staff author."""
        return cls(user_id=None, role=Role.ADMIN, all_clients=True, client_ids=frozenset(), label=label)

    def clients(self, column: InstrumentedAttribute[uuid.UUID] | ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
        """The WHERE clause limiting ``column`` (a client id) to the clients this user may see."""
        if self.all_clients:
            return true()
        if not self.client_ids:
            return false()
        return column.in_(self.client_ids)

    def can_see_client(self, client_id: uuid.UUID | None) -> bool:
        return self.all_clients or (client_id is not None and client_id in self.client_ids)

    def require_client(self, client_id: uuid.UUID | None, what: str = "object") -> None:
        if not self.can_see_client(client_id):
            raise NotFoundError(what)

    @property
    def can_work_tickets(self) -> bool:
        return self.role in (Role.ANALYST, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_ticket_work(self) -> None:
        if not self.can_work_tickets:
            raise ForbiddenError("Viewers can read tickets but not change them.")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise ForbiddenError("Only administrators can do this.")

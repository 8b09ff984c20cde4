"""Staff user management by administrators: accounts, roles, client scope, activation, password resets.

Every change is written to the audit log with the before/after of role, scope and activity;
passwords and their hashes never are.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.access import Scope
from portal.domain.accounts.models import Role, User, UserClient
from portal.domain.accounts.passwords import password_problem
from portal.domain.accounts.service import AccountError, NewUser, create_user, find_by_email, set_password
from portal.domain.audit.service import record
from portal.domain.clients.models import Client
from portal.domain.errors import NotFoundError, ValidationError

MAX_DISPLAY_NAME = 200
# No 0/O, 1/l/i: a generated password is read off a screen and typed or pasted by a person.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105  (an alphabet, not a password)
_PASSWORD_GROUPS = 4
_PASSWORD_GROUP_LENGTH = 5  # 20 characters from 31: about 99 bits


@dataclass(frozen=True)
class StaffUserInput:
    display_name: str
    role: str
    all_clients: bool
    client_ids: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class UserListing:
    user: User
    client_names: list[str]

    @property
    def scope_summary(self) -> str:
        if self.user.all_clients:
            return "All clients"
        if len(self.client_names) <= 2:
            return ", ".join(self.client_names) or "No clients"
        return f"{', '.join(self.client_names[:2])} +{len(self.client_names) - 2} more"


@dataclass(frozen=True)
class CreatedUser:
    user: User
    generated_password: str | None  # shown once to the admin, never stored in clear


def generate_password() -> str:
    return "-".join(
        "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_GROUP_LENGTH))
        for _ in range(_PASSWORD_GROUPS)
    )


def snapshot(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "role": user.role,
        "all_clients": user.all_clients,
        "client_ids": sorted(str(client_id) for client_id in user.client_ids),
        "is_active": user.is_active,
    }


async def _audit(
    session: AsyncSession,
    access: Scope,
    action: str,
    user: User,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await record(
        session,
        access,
        action,
        object_type="user",
        object_id=user.id,
        object_label=user.email,
        before=before,
        after=after,
    )


async def list_users(session: AsyncSession, access: Scope) -> list[UserListing]:
    access.require_admin()
    users = (
        await session.scalars(select(User).order_by(User.is_active.desc(), func.lower(User.display_name), User.email))
    ).all()
    links = (
        await session.execute(
            select(UserClient.user_id, Client.name)
            .join(Client, Client.id == UserClient.client_id)
            .order_by(Client.name)
        )
    ).all()
    names: dict[uuid.UUID, list[str]] = {}
    for user_id, name in links:
        names.setdefault(user_id, []).append(name)
    return [UserListing(user, [] if user.all_clients else names.get(user.id, [])) for user in users]


async def get_user(session: AsyncSession, access: Scope, user_id: uuid.UUID) -> User:
    access.require_admin()
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("user")
    return user


async def list_clients_for_scope(session: AsyncSession, access: Scope) -> list[Client]:
    """Every client, for the scope picker (inactive ones too: a person may still need their history)."""
    access.require_admin()
    return list((await session.scalars(select(Client).order_by(Client.name))).all())


async def _check_profile(session: AsyncSession, data: StaffUserInput, errors: dict[str, str]) -> tuple[Role, str]:
    """The role, scope and name rules shared by create and update; problems go into ``errors``."""
    display_name = " ".join(data.display_name.split())
    if len(display_name) > MAX_DISPLAY_NAME:
        errors["display_name"] = f"Use at most {MAX_DISPLAY_NAME} characters."
    try:
        role = Role(data.role)
    except ValueError:
        errors["role"] = "Choose admin, analyst or viewer."
        role = Role.VIEWER
    if data.all_clients:
        return role, display_name
    if role is Role.ADMIN and "role" not in errors:
        # Administrators manage every user and setting; a client limit on them would be a false promise.
        errors["scope"] = "Administrators always see all clients."
    elif not data.client_ids:
        errors["client_ids"] = "Choose at least one client, or give access to all clients."
    else:
        known = set((await session.scalars(select(Client.id).where(Client.id.in_(data.client_ids)))).all())
        if known != set(data.client_ids):
            errors["client_ids"] = "Some of the chosen clients no longer exist. Reload the page and choose again."
    return role, display_name


async def _other_active_admins(session: AsyncSession, user_id: uuid.UUID) -> int:
    # Lock every active admin row (in a fixed order): two admins demoting each other at the
    # same moment are serialised, and the second sees that only one admin would be left.
    admins = (
        await session.scalars(
            select(User.id)
            .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    ).all()
    return sum(1 for admin_id in admins if admin_id != user_id)


def _set_scope(user: User, all_clients: bool, client_ids: frozenset[uuid.UUID]) -> None:
    """Replace the user's client links; "all clients" drops them so an old list cannot resurface."""
    user.all_clients = all_clients
    wanted = frozenset() if all_clients else client_ids
    for link in [link for link in user.client_links if link.client_id not in wanted]:
        user.client_links.remove(link)
    for client_id in sorted(wanted - user.client_ids):
        user.client_links.append(UserClient(client_id=client_id))


async def create_staff_user(
    session: AsyncSession, access: Scope, email: str, data: StaffUserInput, password: str | None = None
) -> CreatedUser:
    """``password`` None (or empty) generates one, returned so the admin can hand it over once."""
    access.require_admin()
    errors: dict[str, str] = {}
    role, display_name = await _check_profile(session, data, errors)
    generated = None if password else generate_password()
    if password and (problem := password_problem(password)):
        errors["password"] = problem
    if email.strip() and await find_by_email(session, email) is not None:
        errors["email"] = "A user with this email already exists."
    if not email.strip():
        errors["email"] = "Enter an email address."
    if errors:
        raise ValidationError(errors)
    try:
        user = await create_user(
            session, NewUser(email=email, display_name=display_name, role=role, password=password or generated or "")
        )
    except AccountError as exc:  # the rules create_user owns (the email's form); nothing was added
        raise ValidationError({exc.field: exc.message}) from exc
    await session.refresh(user, ["client_links"])
    _set_scope(user, data.all_clients, data.client_ids)
    await session.flush()
    await _audit(session, access, "user.create", user, None, snapshot(user))
    return CreatedUser(user, generated)


async def update_user(session: AsyncSession, access: Scope, user_id: uuid.UUID, data: StaffUserInput) -> User:
    access.require_admin()
    user = await get_user(session, access, user_id)
    errors: dict[str, str] = {}
    role, display_name = await _check_profile(session, data, errors)
    if (
        "role" not in errors
        and user.role == Role.ADMIN.value
        and role is not Role.ADMIN
        and user.is_active
        and not await _other_active_admins(session, user.id)
    ):
        errors["role"] = "This is the last active administrator: make someone else an admin first."
    if errors:
        raise ValidationError(errors)
    before = snapshot(user)
    user.display_name = display_name or user.email.split("@", 1)[0]
    user.role = role.value
    _set_scope(user, data.all_clients, data.client_ids)
    await session.flush()
    after = snapshot(user)
    if after != before:
        await _audit(session, access, "user.update", user, before, after)
    return user


async def deactivate_user(session: AsyncSession, access: Scope, user_id: uuid.UUID) -> User:
    """The user's sessions end on their next request: sign-in checks ``is_active`` every time."""
    access.require_admin()
    user = await get_user(session, access, user_id)
    if user.id == access.user_id:
        raise ValidationError({"status": "You cannot deactivate your own account."}, "You cannot deactivate yourself.")
    if not user.is_active:
        return user
    if user.role == Role.ADMIN.value and not await _other_active_admins(session, user.id):
        raise ValidationError(
            {"status": "This is the last active administrator."}, "The last active administrator stays active."
        )
    before = snapshot(user)
    user.is_active = False
    await session.flush()
    await _audit(session, access, "user.deactivate", user, before, snapshot(user))
    return user


async def reactivate_user(session: AsyncSession, access: Scope, user_id: uuid.UUID) -> User:
    access.require_admin()
    user = await get_user(session, access, user_id)
    if user.is_active:
        return user
    before = snapshot(user)
    user.is_active = True
    await session.flush()
    await _audit(session, access, "user.reactivate", user, before, snapshot(user))
    return user


async def reset_password(
    session: AsyncSession, access: Scope, user_id: uuid.UUID, password: str | None = None
) -> str | None:
    """Set ``password``, or generate one and return it (for the admin to pass on once)."""
    access.require_admin()
    user = await get_user(session, access, user_id)
    if password and (problem := password_problem(password)):
        raise ValidationError({"password": problem})
    generated = None if password else generate_password()
    before = {"password_changed_at": user.password_changed_at.isoformat(timespec="seconds")}
    try:
        await set_password(session, user, password or generated or "")
    except AccountError as exc:
        raise ValidationError({exc.field: exc.message}) from exc
    await _audit(
        session,
        access,
        "user.password_reset",
        user,
        before,
        {"password_changed_at": user.password_changed_at.isoformat(timespec="seconds"), "generated": bool(generated)},
    )
    return generated

"""Staff accounts: creation, authentication, lookup. No web code here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A rule about accounts was broken; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class NewUser:
    email: str
    display_name: str
    role: Role
    password: str


async def create_user(session: AsyncSession, new: NewUser) -> User:
    email = normalise_email(new.email)
    if not _EMAIL.match(email):
        raise AccountError("email", "Enter a valid email address.")
    if problem := password_problem(new.password):
        raise AccountError("password", problem)
    if await find_by_email(session, email) is not None:
        raise AccountError("email", "A user with this email already exists.")
    user = User(
        email=email,
        display_name=new.display_name.strip() or email.split("@", 1)[0],
        role=new.role.value,
        password_hash=hash_password(new.password),
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    if problem := password_problem(password):
        raise AccountError("password", problem)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    await session.flush()


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalise_email(email)))
    return result.scalar_one_or_none()


async def get_active_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with these credentials, or None. Always costs one Argon2 verification."""
    user = await find_by_email(session, email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    await session.flush()
    return user

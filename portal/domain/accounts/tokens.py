"""Personal API tokens: created and revoked by their owner, stored only as a SHA-256 digest.

A token is ``sdk_<prefix>_<secret>``; the prefix is kept in clear so a person can tell their
tokens apart in lists and logs, the whole token is shown once at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.base import utcnow
from portal.domain.accounts.models import ApiToken, User
from portal.domain.errors import NotFoundError, ValidationError

TOKEN_PREFIX = "sdk_"  # noqa: S105  (a label, not a secret)
MAX_NAME = 120
# A token used within this window is not re-stamped: last-used is for people, not an access log.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the whole token, shown once


async def create_token(
    session: AsyncSession, user: User, name: str, *, expires_in_days: int | None = None
) -> IssuedToken:
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the token a name that says what uses it."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        errors["expires_in_days"] = "Choose between 1 and 3650 days, or no expiry."
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=_digest(secret),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token, secret)


async def list_tokens(session: AsyncSession, user: User) -> list[ApiToken]:
    result = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    )
    return list(result.all())


async def revoke_token(session: AsyncSession, user: User, token_id: uuid.UUID) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFoundError("token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


async def authenticate_token(session: AsyncSession, presented: str) -> User | None:
    """The active owner of a live token, or None."""
    if not presented.startswith(TOKEN_PREFIX):
        return None
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(presented)))
    if token is None or token_state(token) != "active":
        return None
    user = await session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        await session.flush()
    return user

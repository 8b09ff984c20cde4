"""Data that commands create: users and tokens from the CLI, the demo's staff and MSP."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.service import NewUser, create_user, find_by_email, set_password
from portal.domain.accounts.tokens import create_token
from portal.domain.errors import ValidationError
from portal.domain.reference import ensure_reference_data
from portal.runtime.demo_data import STAFF, seed_demo_data

DEMO_ADMIN_EMAIL = "admin@demo.socdesk.test"


async def create_user_now(database_url: str, new: NewUser) -> User:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await create_user(session, new)
    finally:
        await engine.dispose()


async def issue_token_now(database_url: str, email: str, name: str, expires_in_days: int | None) -> str:
    """A personal API token for ``email``; returns the secret (shown once, stored as a digest)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            user = await find_by_email(session, email)
            if user is None or not user.is_active:
                raise ValidationError({"email": f"No active user with the email {email}."})
            return (await create_token(session, user, name, expires_in_days=expires_in_days)).secret
    finally:
        await engine.dispose()


async def prepare_database(database_url: str) -> None:
    """After migrations: the reference data every install starts with."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            await ensure_reference_data(session)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class DemoCredentials:
    email: str
    password: str
    role: str = "admin"


async def ensure_demo(settings: Settings) -> list[DemoCredentials]:
    """The demo's admin, staff and seeded MSP. Passwords are generated once and kept (mode 0600)
    in the data folder, so the printed credentials stay valid across restarts."""
    assert settings.database_url is not None
    path = settings.data_dir / "demo-credentials.json"
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    emails = [DEMO_ADMIN_EMAIL, *(email for email, *_ in STAFF)]
    passwords = {email: stored.get(email) or secrets.token_urlsafe(12) for email in emails}
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            admin = await find_by_email(session, DEMO_ADMIN_EMAIL)
            if admin is None:
                await create_user(
                    session, NewUser(DEMO_ADMIN_EMAIL, "Demo Admin", Role.ADMIN, passwords[DEMO_ADMIN_EMAIL])
                )
            elif DEMO_ADMIN_EMAIL not in stored:
                await set_password(session, admin, passwords[DEMO_ADMIN_EMAIL])
            await seed_demo_data(session, passwords)
            roles = {user.email: user.role for user in (await session.scalars(select(User))).all()}
    finally:
        await engine.dispose()
    if stored != passwords:
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords), encoding="utf-8")
    return [DemoCredentials(email, passwords[email], roles.get(email, "?")) for email in emails if email in roles]

"""Data that commands create: users from the CLI, the demo's admin."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from portal.config import Settings
from portal.db.engine import make_engine, make_sessionmaker, session_scope
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.service import NewUser, create_user, find_by_email, set_password
from portal.domain.reference import ensure_reference_data

DEMO_ADMIN_EMAIL = "admin@demo.socdesk.test"


async def create_user_now(database_url: str, new: NewUser) -> User:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await create_user(session, new)
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


async def ensure_demo_admin(settings: Settings) -> DemoCredentials:
    """The demo's admin, with a password generated once and kept (mode 0600) in the data folder."""
    assert settings.database_url is not None
    path = settings.data_dir / "demo-admin.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    password = stored.get("password") or secrets.token_urlsafe(12)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            admin = await find_by_email(session, DEMO_ADMIN_EMAIL)
            if admin is None:
                await create_user(session, NewUser(DEMO_ADMIN_EMAIL, "Demo Admin", Role.ADMIN, password))
            elif not stored:
                await set_password(session, admin, password)
    finally:
        await engine.dispose()
    if not stored:
        path.touch(mode=0o600)
        path.write_text(json.dumps({"email": DEMO_ADMIN_EMAIL, "password": password}), encoding="utf-8")
    return DemoCredentials(DEMO_ADMIN_EMAIL, password)

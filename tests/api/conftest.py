from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role, UserClient
from portal.domain.accounts.tokens import create_token
from portal.domain.clients.models import Client, Site


@pytest.fixture
def make_client(sessionmaker: async_sessionmaker[AsyncSession]):
    async def make(name: str | None = None) -> Client:
        async with session_scope(sessionmaker) as session:
            client = Client(name=name or f"Client {uuid.uuid4().hex[:6]}", reference=None, notes="")
            session.add(client)
            await session.flush()
            session.add(Site(client_id=client.id, name="Main", is_main=True))
        return client

    return make


@pytest.fixture
def api_token(sessionmaker: async_sessionmaker[AsyncSession], make_user):
    """``await api_token(role, clients=[...])`` → the Authorization header of a new user's token."""

    async def issue(role: Role = Role.ANALYST, clients: list[Client] | None = None) -> dict[str, str]:
        user = await make_user(role)
        async with session_scope(sessionmaker) as session:
            if clients is not None:
                from portal.domain.accounts.models import User

                stored = await session.get(User, user.id)
                assert stored is not None
                stored.all_clients = False
                session.add_all(UserClient(user_id=user.id, client_id=client.id) for client in clients)
            issued = await create_token(session, user, "tests")
        return {"Authorization": f"Bearer {issued.secret}"}

    return issue

"""Connections, client links and watermarks on the real database: validation from the manifest,
secrets encrypted and kept out of the audit log, scoping, uniqueness, and audited changes."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client, Site
from portal.domain.clients.service import create_client
from portal.domain.errors import ForbiddenError, NotFoundError, ValidationError
from portal.domain.integrations import client_links, service
from portal.domain.integrations.client_links import LinkInput
from portal.domain.integrations.manual_sync import item_resync, manual_sync
from portal.domain.integrations.models import ClientLink, Connection, ConnectionStatus
from portal.domain.integrations.secrets import SecretBox
from portal.domain.integrations.service import ScheduleInput
from portal.domain.sync.models import RunOutcome, SyncRun, SyncState
from portal.domain.sync.watermarks import list_sync_states, set_watermark
from portal.domain.tickets.models import Priority, TicketType
from portal.integrations.manifest import ConfigField, FieldKind

SECRET = "s3cr3t-client-secret-value"
BOX = SecretBox(["unit-test-key-" + "k" * 40])
ACME = {
    "api_url": "https://acme.test/",
    "login_url": "https://acme.test",
    "client_id": "socdesk-app",
    "client_secret": SECRET,
    "page_size": "50",
}


async def _scope(make_user, role: Role = Role.ADMIN, clients: tuple[uuid.UUID, ...] | None = None) -> Scope:
    user = await make_user(role)
    return Scope(user.id, role, clients is None, frozenset(clients or ()), user.email)


@pytest.fixture
async def admin(make_user) -> Scope:
    return await _scope(make_user)


async def _connection(
    sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, name: str = "Acme EU"
) -> Connection:
    async with session_scope(sessionmaker) as session:
        return await service.create_connection(session, admin, BOX, "acme", name, ACME)


async def _client(sessionmaker: async_sessionmaker[AsyncSession], admin: Scope, name: str) -> Client:
    async with session_scope(sessionmaker) as session:
        return await create_client(session, admin, name)


async def _link(sessionmaker, admin: Scope, connection: Connection, client: Client, tenant: str) -> ClientLink:
    async with session_scope(sessionmaker) as session:
        return await client_links.add_link(
            session, admin, connection.id, client.id, LinkInput(None, "", "", {"tenant": tenant})
        )


async def _audit(sessionmaker, action: str) -> list[AuditEntry]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


# ---------------------------------------------------------------- connections


async def test_create_reports_each_problem_beside_its_field(sessionmaker, admin: Scope) -> None:
    submitted = {"api_url": "ftp://acme.test", "login_url": "https://x.test?a=1", "page_size": "900"}
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as refused:
            await service.create_connection(session, admin, BOX, "acme", "  ", submitted)
    assert set(refused.value.fields) == {"name", "api_url", "login_url", "client_id", "client_secret", "page_size"}
    assert "http(s)" in refused.value.fields["api_url"]
    assert "at most 500" in refused.value.fields["page_size"]
    assert refused.value.fields["client_secret"] == "Client secret is required."
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as unknown:
            await service.create_connection(session, admin, BOX, "nope", "X", ACME)
        with pytest.raises(ValidationError) as not_a_number:
            await service.create_connection(session, admin, BOX, "acme", "X", ACME | {"page_size": "ten"})
    assert set(unknown.value.fields) == {"vendor"}
    assert not_a_number.value.fields == {"page_size": "Page size must be a whole number."}


async def test_secrets_are_stored_encrypted_and_audited_only_as_changed(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    assert connection.config == {
        "api_url": "https://acme.test",
        "login_url": "https://acme.test",
        "client_id": "socdesk-app",
        "page_size": 50,
    }
    assert connection.schedules == {"cases": {"enabled": True, "minutes": 15}}
    # OAuth vendors start signed out: the engine does not run until someone connects.
    assert connection.status == ConnectionStatus.NEEDS_REAUTH.value
    async with sessionmaker() as session:
        raw = await session.scalar(
            text("SELECT secrets_ciphertext || config::text FROM connections WHERE id = :id"), {"id": connection.id}
        )
        stored = await session.get(Connection, connection.id)
    assert SECRET not in raw
    assert stored is not None
    assert BOX.open(stored.secrets_ciphertext) == {"client_secret": SECRET}

    # A blank secret keeps the stored one; a new one replaces it; neither value reaches the audit log.
    async with session_scope(sessionmaker) as session:
        await service.update_connection(
            session, admin, BOX, connection.id, "Acme EU", ACME | {"client_secret": "", "client_id": "app-2"}
        )
    async with session_scope(sessionmaker) as session:
        kept = await session.get(Connection, connection.id)
        assert kept is not None
        assert BOX.open(kept.secrets_ciphertext)["client_secret"] == SECRET
        await service.update_connection(
            session, admin, BOX, connection.id, "Acme EU", ACME | {"client_secret": "new-one-123"}
        )
    async with sessionmaker() as session:
        replaced = await session.get(Connection, connection.id)
        assert replaced is not None
        assert BOX.open(replaced.secrets_ciphertext)["client_secret"] == "new-one-123"
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.created_at))).all()
    dumped = json.dumps([[entry.before, entry.after] for entry in entries])
    assert SECRET not in dumped
    assert "new-one-123" not in dumped
    created, first_update, second_update = (entry for entry in entries if entry.object_type == "connection")
    assert created.after["client_secret"] == "changed"
    assert first_update.after == {"client_id": "app-2"}  # the blank secret changed nothing
    assert second_update.after == {"client_id": "socdesk-app", "client_secret": "changed"}


async def test_names_are_unique_case_insensitively(sessionmaker, admin: Scope) -> None:
    await _connection(sessionmaker, admin, "Acme EU")
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as taken:
            await service.create_connection(session, admin, BOX, "acme", "acme eu", ACME)
    assert taken.value.fields == {"name": "Another connection already has this name."}


async def test_only_admins_manage_connections(sessionmaker, admin: Scope, make_user) -> None:
    connection = await _connection(sessionmaker, admin)
    analyst = await _scope(make_user, Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ForbiddenError):
            await service.list_connections(session, analyst)
        with pytest.raises(ForbiddenError):
            await service.update_mappings(session, analyst, connection.id, {})
        with pytest.raises(NotFoundError):
            await service.get_connection(session, admin, uuid.uuid4())


async def test_webhook_secret_is_returned_once_and_stored_encrypted(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    async with session_scope(sessionmaker) as session:
        first = await service.rotate_webhook_secret(session, admin, BOX, connection.id)
    async with session_scope(sessionmaker) as session:
        second = await service.rotate_webhook_secret(session, admin, BOX, connection.id)
    assert len(first) >= 40
    assert first != second
    async with sessionmaker() as session:
        stored = await session.get(Connection, connection.id)
        assert stored is not None
    assert first not in stored.secrets_ciphertext
    assert BOX.open(stored.secrets_ciphertext) == {"client_secret": SECRET, "webhook_secret": second}
    assert stored.webhook_secret_set_at is not None
    rotations = await _audit(sessionmaker, "integration.webhook_secret.rotate")
    assert [entry.after for entry in rotations] == [{"webhook_secret": "changed"}] * 2


async def test_mappings_choose_socdesk_rows_and_report_what_is_missing(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    assert service.mapping_status(connection) == ["Ticket type for cases"]
    async with sessionmaker() as session:
        ticket_type = await session.scalar(select(TicketType).where(TicketType.name == "Alert"))
        priority = await session.scalar(select(Priority).where(Priority.rank == 1))
        assert ticket_type is not None
        assert priority is not None
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as refused:
            await service.update_mappings(session, admin, connection.id, {"ticket_type": str(uuid.uuid4())})
        assert refused.value.fields == {"ticket_type": "Choose one of the listed values for Ticket type for cases."}
        with pytest.raises(ValidationError) as missing:
            await service.update_mappings(session, admin, connection.id, {"priority_high": str(priority.id)})
        assert missing.value.fields == {"ticket_type": "Ticket type for cases is required."}
        saved = await service.update_mappings(
            session, admin, connection.id, {"ticket_type": str(ticket_type.id), "priority_high": str(priority.id)}
        )
    assert saved.mappings == {"ticket_type": str(ticket_type.id), "priority_high": str(priority.id)}
    assert service.mapping_status(saved) == []
    [entry] = await _audit(sessionmaker, "integration.mappings.update")
    assert entry.after == {"ticket_type": str(ticket_type.id), "priority_high": str(priority.id)}


async def test_mapping_choices_list_active_agents_and_sites_by_client(sessionmaker, admin: Scope, make_user) -> None:
    await _client(sessionmaker, admin, "Globex")
    viewer = await make_user(Role.VIEWER)
    gone = await make_user(Role.ANALYST, active=False)
    async with sessionmaker() as session:
        fields = [
            ConfigField("agent", "Agent", FieldKind.CHOICE, choices_from="agents"),
            ConfigField("site", "Site", FieldKind.CHOICE, choices_from="sites"),
            ConfigField("status", "Status", FieldKind.CHOICE, choices_from="statuses"),
        ]
        choices = await service.mapping_choices(session, fields)
    agent_ids = {value for value, _ in choices["agents"]}
    assert str(admin.user_id) in agent_ids
    assert str(viewer.id) not in agent_ids
    assert str(gone.id) not in agent_ids
    assert [label for _, label in choices["sites"]] == ["Globex / Main"]
    assert [label for _, label in choices["statuses"]][:2] == ["New", "In Progress"]
    assert "ticket_types" not in choices  # only what the fields ask for is read


async def test_schedules_are_checked_per_entity(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as refused:
            await service.update_schedules(session, admin, connection.id, {"cases": ScheduleInput(True, "0")})
        assert set(refused.value.fields) == {"cases_minutes"}
        with pytest.raises(ValidationError):
            await service.update_schedules(session, admin, connection.id, {"cases": ScheduleInput(True, "1441")})
        saved = await service.update_schedules(session, admin, connection.id, {"cases": ScheduleInput(False, "60")})
    assert saved.schedules == {"cases": {"enabled": False, "minutes": 60}}
    [entry] = await _audit(sessionmaker, "integration.schedules.update")
    assert entry.after == {"cases": {"enabled": False, "minutes": 60}}


async def test_disable_and_enable_keep_an_unsigned_oauth_connection_waiting_for_connect(
    sessionmaker, admin: Scope
) -> None:
    connection = await _connection(sessionmaker, admin)
    async with session_scope(sessionmaker) as session:
        disabled = await service.set_connection_enabled(session, admin, BOX, connection.id, enabled=False)
        assert disabled.status == ConnectionStatus.DISABLED.value
        enabled = await service.set_connection_enabled(session, admin, BOX, connection.id, enabled=True)
        assert enabled.status == ConnectionStatus.NEEDS_REAUTH.value
        # Once signed in (tokens stored), enabling makes it connected.
        enabled.secrets_ciphertext = BOX.seal({"client_secret": SECRET, "oauth": {"default": {"access_token": "a"}}})
        await service.set_connection_enabled(session, admin, BOX, connection.id, enabled=False)
        again = await service.set_connection_enabled(session, admin, BOX, connection.id, enabled=True)
        assert again.status == ConnectionStatus.CONNECTED.value
    actions = [entry.action for entry in await _audit(sessionmaker, "integration.connection.disable")]
    assert actions == ["integration.connection.disable"] * 2


async def test_delete_removes_the_connection_and_its_links(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    client = await _client(sessionmaker, admin, "Globex")
    await _link(sessionmaker, admin, connection, client, "t-1")
    async with session_scope(sessionmaker) as session:
        await service.delete_connection(session, admin, connection.id)
    async with sessionmaker() as session:
        assert await session.get(Connection, connection.id) is None
        assert (await session.scalars(select(ClientLink))).all() == []
    [entry] = await _audit(sessionmaker, "integration.connection.delete")
    assert entry.before is not None
    assert entry.before["name"] == "Acme EU"


# ---------------------------------------------------------------- client links


async def test_links_validate_client_fields_and_refuse_a_duplicate_cleanly(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    globex = await _client(sessionmaker, admin, "Globex")
    initech = await _client(sessionmaker, admin, "Initech")
    async with sessionmaker() as session:
        initech_site = await session.scalar(select(Site.id).where(Site.client_id == initech.id))
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as refused:
            await client_links.add_link(
                session, admin, connection.id, globex.id, LinkInput(initech_site, "", "", {"comments_only": "on"})
            )
    assert refused.value.fields == {
        "tenant": "Acme tenant is required.",
        "site_id": "Choose one of this client's sites.",
    }
    link = await _link(sessionmaker, admin, connection, globex, "tenant-7")
    # The remote scope defaults to the tenant (what webhooks name), and the boolean is a real bool.
    assert link.remote_scope == "tenant-7"
    assert link.settings == {"tenant": "tenant-7", "comments_only": False}
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as duplicate:
            await client_links.add_link(
                session, admin, connection.id, globex.id, LinkInput(None, "", "", {"tenant": "tenant-7"})
            )
        assert duplicate.value.fields == {"remote_scope": client_links.DUPLICATE_LINK}
        # The same tenant under another client is a different link.
        other = await client_links.add_link(
            session, admin, connection.id, initech.id, LinkInput(None, "", "", {"tenant": "tenant-7"})
        )
        second = await client_links.add_link(
            session, admin, connection.id, globex.id, LinkInput(None, "eu", "Europe", {"tenant": "tenant-8"})
        )
        with pytest.raises(ValidationError) as clash:
            await client_links.update_link(session, admin, second.id, LinkInput(None, "", "", {"tenant": "tenant-7"}))
        assert clash.value.fields == {"remote_scope": client_links.DUPLICATE_LINK}
    assert other.client_id == initech.id
    [created, *_] = await _audit(sessionmaker, "integration.link.create")
    assert created.client_id == globex.id
    assert created.object_label == "Acme EU → Globex (tenant-7)"


async def test_a_limited_user_sees_and_reaches_only_links_of_their_clients(
    sessionmaker, admin: Scope, make_user
) -> None:
    connection = await _connection(sessionmaker, admin)
    globex = await _client(sessionmaker, admin, "Globex")
    initech = await _client(sessionmaker, admin, "Initech")
    mine = await _link(sessionmaker, admin, connection, globex, "g")
    theirs = await _link(sessionmaker, admin, connection, initech, "i")
    limited_admin = await _scope(make_user, Role.ADMIN, (globex.id,))
    analyst = await _scope(make_user, Role.ANALYST, (globex.id,))
    async with session_scope(sessionmaker) as session:
        assert [link.id for link in await client_links.list_links(session, admin, connection.id)] == [
            mine.id,
            theirs.id,
        ]
        assert [link.id for link in await client_links.list_links(session, limited_admin, connection.id)] == [mine.id]
        assert [link.id for link in await client_links.links_for_client(session, analyst, globex.id)] == [mine.id]
        with pytest.raises(NotFoundError):
            await client_links.links_for_client(session, analyst, initech.id)
        with pytest.raises(NotFoundError):
            await client_links.get_link(session, analyst, theirs.id)
        with pytest.raises(NotFoundError):
            await client_links.remove_link(session, limited_admin, theirs.id)
        with pytest.raises(NotFoundError):
            await client_links.add_link(
                session, limited_admin, connection.id, initech.id, LinkInput(None, "x", "", {"tenant": "x"})
            )
        with pytest.raises(ForbiddenError):
            await client_links.set_link_enabled(session, analyst, mine.id, enabled=False)
        disabled = await client_links.set_link_enabled(session, limited_admin, mine.id, enabled=False)
    assert disabled.enabled is False
    [entry] = await _audit(sessionmaker, "integration.link.disable")
    assert (entry.before, entry.after) == ({"enabled": True}, {"enabled": False})


# ---------------------------------------------------------------- watermarks and manual syncs


async def _state(sessionmaker, connection: Connection, link: ClientLink | None, **values) -> SyncState:
    async with session_scope(sessionmaker) as session:
        state = SyncState(
            connection_id=connection.id, client_link_id=link.id if link else None, entity="cases", **values
        )
        session.add(state)
    return state


async def test_watermark_edits_are_audited_scoped_and_refused_mid_run(sessionmaker, admin: Scope, make_user) -> None:
    connection = await _connection(sessionmaker, admin)
    globex = await _client(sessionmaker, admin, "Globex")
    initech = await _client(sessionmaker, admin, "Initech")
    link = await _link(sessionmaker, admin, connection, globex, "g")
    other = await _link(sessionmaker, admin, connection, initech, "i")
    before = utcnow() - timedelta(days=1)
    state = await _state(sessionmaker, connection, link, watermark=before)
    other_state = await _state(sessionmaker, connection, other)
    limited_admin = await _scope(make_user, Role.ADMIN, (globex.id,))

    async with session_scope(sessionmaker) as session:
        rows = await list_sync_states(session, limited_admin, connection.id)
        assert [row.state.id for row in rows] == [state.id]
        assert len(await list_sync_states(session, admin, connection.id)) == 2
        with pytest.raises(NotFoundError):
            await set_watermark(session, limited_admin, other_state.id, None)
        with pytest.raises(ValidationError):
            await set_watermark(session, admin, state.id, utcnow() + timedelta(hours=1))
        moved = await set_watermark(session, limited_admin, state.id, None)
    assert moved.watermark is None
    [entry] = await _audit(sessionmaker, "sync.watermark_changed")
    assert entry.before == {"watermark": before.isoformat()}
    assert entry.after == {"watermark": None}
    assert entry.client_id == globex.id

    async with session_scope(sessionmaker) as session:
        run = SyncRun(connection_id=connection.id, client_link_id=link.id, entity="cases", trigger="manual")
        session.add(run)
        await session.flush()
        stored = await session.get(SyncState, state.id)
        assert stored is not None
        stored.run_id = run.id
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError) as busy:
            await set_watermark(session, admin, state.id, before)
    assert "under way" in busy.value.fields["watermark"]


async def test_manual_syncs_are_refused_until_the_connection_can_run(sessionmaker, admin: Scope) -> None:
    connection = await _connection(sessionmaker, admin)
    globex = await _client(sessionmaker, admin, "Globex")
    link = await _link(sessionmaker, admin, connection, globex, "g")
    async with session_scope(sessionmaker) as session:
        with pytest.raises(ValidationError, match="signing in again"):
            await manual_sync(session, admin, "cases", link_id=link.id)
        stored = await session.get(Connection, connection.id)
        assert stored is not None
        stored.status = ConnectionStatus.CONNECTED.value
        with pytest.raises(ValidationError, match="mandatory mappings first: Ticket type for cases"):
            await manual_sync(session, admin, "cases", link_id=link.id)
        ticket_type = await session.scalar(select(TicketType.id).limit(1))
        stored.mappings = {"ticket_type": str(ticket_type)}
        with pytest.raises(ValidationError, match="per client link"):
            await manual_sync(session, admin, "cases", connection_id=connection.id)
        with pytest.raises(ValidationError, match="does not sync"):
            await manual_sync(session, admin, "alerts", link_id=link.id)
        wanted = await manual_sync(session, admin, "cases", link_id=link.id)
        assert (wanted.connection_id, wanted.link_id, wanted.entity) == (connection.id, link.id, "cases")
        assert wanted.label == "Cases of Globex (g)"

        run = SyncRun(
            connection_id=connection.id,
            client_link_id=link.id,
            entity="cases",
            trigger="schedule",
            outcome=RunOutcome.PARTIAL.value,
            problems=[{"remote_id": "case-9", "error": "boom"}],
        )
        session.add(run)
        await session.flush()
        item = await item_resync(session, admin, run.id, "case-9")
        assert (item.link_id, item.remote_id) == (link.id, "case-9")
        with pytest.raises(ValidationError, match="not among"):
            await item_resync(session, admin, run.id, "case-10")

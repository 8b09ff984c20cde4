"""User management by administrators: scope, last-admin and self protection, passwords, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts import admin
from portal.domain.accounts.models import Role, User
from portal.domain.accounts.passwords import verify_password
from portal.domain.audit.models import AuditEntry
from portal.domain.errors import ForbiddenError, ValidationError
from tests.conftest import TEST_PASSWORD
from tests.domain.test_settings_helpers import audit_entries, make_client, scope_of


async def test_create_limited_analyst_with_clients_and_a_generated_password(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    acme, globex = await make_client(sessionmaker, "Acme"), await make_client(sessionmaker, "Globex")
    await make_client(sessionmaker, "Initech")
    async with session_scope(sessionmaker) as session:
        created = await admin.create_staff_user(
            session,
            me,
            "  New.Analyst@MSP.example ",
            admin.StaffUserInput(
                "New Analyst", "analyst", all_clients=False, client_ids=frozenset({acme.id, globex.id})
            ),
        )
    assert created.generated_password is not None
    assert len(created.generated_password) >= 20

    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "new.analyst@msp.example"))
        assert user is not None
        assert user.role == "analyst"
        assert user.all_clients is False
        assert user.client_ids == {acme.id, globex.id}
        assert verify_password(user.password_hash, created.generated_password)
        # The new user's scope is exactly the chosen clients.
        scope = Scope.for_user(user)
        assert scope.can_see_client(acme.id)
        assert not scope.can_see_client((await make_client(sessionmaker, "Umbrella")).id)

    [entry] = await audit_entries(sessionmaker, "user.create")
    assert entry.object_label == "new.analyst@msp.example"
    assert entry.before is None
    assert entry.after == {
        "display_name": "New Analyst",
        "role": "analyst",
        "all_clients": False,
        "client_ids": sorted([str(acme.id), str(globex.id)]),
        "is_active": True,
    }
    # No password, generated or hashed, anywhere in the log.
    assert created.generated_password not in str(entry.after)
    assert "argon2" not in str(entry.after)


@pytest.mark.parametrize(
    ("email", "data", "password", "field"),
    [
        ("x@msp.example", admin.StaffUserInput("X", "analyst", all_clients=False), None, "client_ids"),
        ("x@msp.example", admin.StaffUserInput("X", "superuser", all_clients=True), None, "role"),
        ("x@msp.example", admin.StaffUserInput("X", "analyst", all_clients=True), "short", "password"),
        ("not-an-email", admin.StaffUserInput("X", "analyst", all_clients=True), None, "email"),
        ("x@msp.example", admin.StaffUserInput("X", "admin", all_clients=False), None, "scope"),
    ],
)
async def test_create_refuses_bad_input_and_writes_nothing(
    sessionmaker, make_user, email, data, password, field
) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    async with sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(User))
    async with sessionmaker() as session, session.begin():
        with pytest.raises(ValidationError) as refused:
            await admin.create_staff_user(session, me, email, data, password=password)
        # Checked in the failed call's own transaction: validation comes before any write.
        assert not session.new
        assert await session.scalar(select(func.count()).select_from(User)) == before
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        await session.rollback()
    assert field in refused.value.fields


async def test_create_refuses_unknown_client_ids_and_duplicate_email(sessionmaker, make_user) -> None:
    import uuid

    me = scope_of(await make_user(Role.ADMIN))
    existing = await make_user(Role.VIEWER)
    with pytest.raises(ValidationError) as refused:
        async with session_scope(sessionmaker) as session:
            await admin.create_staff_user(
                session,
                me,
                existing.email.upper(),
                admin.StaffUserInput("X", "viewer", all_clients=False, client_ids=frozenset({uuid.uuid4()})),
            )
    assert set(refused.value.fields) == {"email", "client_ids"}


async def test_non_admins_cannot_manage_users(sessionmaker, make_user) -> None:
    analyst = scope_of(await make_user(Role.ANALYST))
    async with sessionmaker() as session:
        with pytest.raises(ForbiddenError):
            await admin.list_users(session, analyst)
        with pytest.raises(ForbiddenError):
            await admin.create_staff_user(
                session, analyst, "x@msp.example", admin.StaffUserInput("X", "admin", all_clients=True)
            )


async def test_update_changes_scope_and_audits_before_and_after(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    target = await make_user(Role.VIEWER)
    acme = await make_client(sessionmaker, "Acme")
    async with session_scope(sessionmaker) as session:
        await admin.update_user(
            session,
            me,
            target.id,
            admin.StaffUserInput("Renamed", "analyst", all_clients=False, client_ids=frozenset({acme.id})),
        )
    async with session_scope(sessionmaker) as session:
        # Back to all clients: the old list is dropped, not kept dormant.
        await admin.update_user(session, me, target.id, admin.StaffUserInput("Renamed", "analyst", all_clients=True))
    async with sessionmaker() as session:
        stored = await session.get(User, target.id)
        assert stored is not None
        assert (stored.display_name, stored.role, stored.all_clients, stored.client_ids) == (
            "Renamed",
            "analyst",
            True,
            frozenset(),
        )
    first, second = await audit_entries(sessionmaker, "user.update")
    assert first.before is not None
    assert first.after is not None
    assert (first.before["role"], first.after["role"]) == ("viewer", "analyst")
    assert (first.before["all_clients"], first.after["all_clients"]) == (True, False)
    assert first.after["client_ids"] == [str(acme.id)]
    assert second.before is not None
    assert second.after is not None
    assert (second.before["client_ids"], second.after["client_ids"]) == ([str(acme.id)], [])


async def test_an_unchanged_save_writes_no_audit_entry(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    target = await make_user(Role.VIEWER)
    async with session_scope(sessionmaker) as session:
        await admin.update_user(
            session, me, target.id, admin.StaffUserInput(target.display_name, "viewer", all_clients=True)
        )
    assert await audit_entries(sessionmaker, "user.update") == []


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(sessionmaker, make_user) -> None:
    only_admin = await make_user(Role.ADMIN)
    me = scope_of(only_admin)
    await make_user(Role.ADMIN, active=False)  # an inactive admin does not count
    with pytest.raises(ValidationError) as refused:
        async with session_scope(sessionmaker) as session:
            await admin.update_user(session, me, only_admin.id, admin.StaffUserInput("Me", "analyst", all_clients=True))
    assert "last active administrator" in refused.value.fields["role"]

    # With a second active admin, the demotion goes through.
    second = await make_user(Role.ADMIN)
    async with session_scope(sessionmaker) as session:
        await admin.update_user(session, me, only_admin.id, admin.StaffUserInput("Me", "analyst", all_clients=True))
    # Now `second` is the last one: another admin's scope cannot deactivate them either.
    with pytest.raises(ValidationError):
        async with session_scope(sessionmaker) as session:
            await admin.deactivate_user(session, me, second.id)
    async with sessionmaker() as session:
        stored = await session.get(User, second.id)
        assert stored is not None
        assert stored.is_active


async def test_an_admin_cannot_deactivate_themselves(sessionmaker, make_user) -> None:
    me_user = await make_user(Role.ADMIN)
    await make_user(Role.ADMIN)
    with pytest.raises(ValidationError) as refused:
        async with session_scope(sessionmaker) as session:
            await admin.deactivate_user(session, scope_of(me_user), me_user.id)
    assert "your own account" in refused.value.fields["status"]
    assert await audit_entries(sessionmaker) == []


async def test_deactivate_and_reactivate_are_audited(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    target = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        await admin.deactivate_user(session, me, target.id)
    async with session_scope(sessionmaker) as session:
        await admin.deactivate_user(session, me, target.id)  # already inactive: nothing to record
    async with session_scope(sessionmaker) as session:
        await admin.reactivate_user(session, me, target.id)
    [deactivated] = await audit_entries(sessionmaker, "user.deactivate")
    [reactivated] = await audit_entries(sessionmaker, "user.reactivate")
    assert deactivated.before is not None
    assert deactivated.after is not None
    assert (deactivated.before["is_active"], deactivated.after["is_active"]) == (True, False)
    assert reactivated.before is not None
    assert reactivated.after is not None
    assert (reactivated.before["is_active"], reactivated.after["is_active"]) == (False, True)
    assert deactivated.actor_id == me.user_id


async def test_reset_password_generated_or_chosen(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    target = await make_user(Role.ANALYST)
    async with session_scope(sessionmaker) as session:
        generated = await admin.reset_password(session, me, target.id)
    assert generated is not None
    async with sessionmaker() as session:
        stored = await session.get(User, target.id)
        assert stored is not None
        assert verify_password(stored.password_hash, generated)
        assert not verify_password(stored.password_hash, TEST_PASSWORD)

    async with session_scope(sessionmaker) as session:
        assert await admin.reset_password(session, me, target.id, "a chosen long password") is None
    with pytest.raises(ValidationError):
        async with session_scope(sessionmaker) as session:
            await admin.reset_password(session, me, target.id, "short")

    entries = await audit_entries(sessionmaker, "user.password_reset")
    assert len(entries) == 2
    assert entries[0].after is not None
    assert entries[0].after["generated"] is True
    assert entries[1].after is not None
    assert entries[1].after["generated"] is False
    assert all(generated not in str(e.after) and "chosen" not in str(e.after) for e in entries)


async def test_list_users_summarises_scope(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    clients = [await make_client(sessionmaker, name) for name in ("Acme", "Globex", "Initech")]
    async with session_scope(sessionmaker) as session:
        await admin.create_staff_user(
            session,
            me,
            "limited@msp.example",
            admin.StaffUserInput("Limited", "viewer", all_clients=False, client_ids=frozenset(c.id for c in clients)),
            password=TEST_PASSWORD,
        )
    async with sessionmaker() as session:
        listing = {item.user.email: item for item in await admin.list_users(session, me)}
    assert listing["limited@msp.example"].client_names == ["Acme", "Globex", "Initech"]
    assert listing["limited@msp.example"].scope_summary == "Acme, Globex +1 more"
    assert listing[me.label].scope_summary == "All clients"

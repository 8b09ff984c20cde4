"""The audit log query: order, filters, pagination, client scoping and the before/after diff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.settings.audit_log import PAGE_SIZE, AuditFilter, Change, diff, query_audit_log
from tests.domain.test_settings_helpers import make_client, scope_of


async def _add(sessionmaker, entries: list[AuditEntry]) -> None:
    async with session_scope(sessionmaker) as session:
        session.add_all(entries)


def _entry(action: str, at: datetime, **kwargs) -> AuditEntry:
    object_type = kwargs.pop("object_type", action.split(".", 1)[0])
    return AuditEntry(
        action=action,
        object_type=object_type,
        object_id="x",
        object_label=kwargs.pop("label", action),
        actor_label=kwargs.pop("actor_label", "someone@msp.example"),
        created_at=at,
        **kwargs,
    )


async def test_filters_and_newest_first(sessionmaker, make_user) -> None:
    alice, bob = await make_user(Role.ADMIN), await make_user(Role.ADMIN)
    me = scope_of(alice)
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    await _add(
        sessionmaker,
        [
            _entry("priority.update", day - timedelta(days=2), actor_id=alice.id),
            _entry("priority.create", day - timedelta(days=1), actor_id=bob.id),
            _entry("user.create", day, actor_id=alice.id),
            _entry("user.deactivate", day + timedelta(hours=11, minutes=59), actor_id=bob.id),
            _entry("priority_x.weird", day + timedelta(days=1), actor_id=bob.id, object_type="other"),
        ],
    )

    async def actions(filters: AuditFilter) -> list[str]:
        async with sessionmaker() as session:
            return [row.entry.action for row in (await query_audit_log(session, me, filters)).rows]

    assert await actions(AuditFilter()) == [
        "priority_x.weird",
        "user.deactivate",
        "user.create",
        "priority.create",
        "priority.update",
    ]
    assert await actions(AuditFilter(action="priority.")) == ["priority.create", "priority.update"]
    assert await actions(AuditFilter(action="priority_")) == ["priority_x.weird"]  # "_" is no wildcard
    assert await actions(AuditFilter(object_type="user")) == ["user.deactivate", "user.create"]
    assert await actions(AuditFilter(actor_id=bob.id)) == ["priority_x.weird", "user.deactivate", "priority.create"]
    # Dates are whole UTC days, both ends included.
    assert await actions(AuditFilter(since=date(2026, 3, 10), until=date(2026, 3, 10))) == [
        "user.deactivate",
        "user.create",
    ]
    assert await actions(AuditFilter(since=date(2026, 3, 9), until=date(2026, 3, 9), actor_id=bob.id)) == [
        "priority.create"
    ]


async def test_pages_of_fifty(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await _add(sessionmaker, [_entry("status.update", start + timedelta(minutes=n), label=str(n)) for n in range(120)])
    async with sessionmaker() as session:
        first = await query_audit_log(session, me, AuditFilter(), page=1)
        third = await query_audit_log(session, me, AuditFilter(), page=3)
        beyond = await query_audit_log(session, me, AuditFilter(), page=4)
    assert len(first.rows) == PAGE_SIZE == 50
    assert first.has_next
    assert not first.has_previous
    assert first.rows[0].entry.object_label == "119"
    assert [row.entry.object_label for row in third.rows] == [str(n) for n in range(19, -1, -1)]
    assert not third.has_next
    assert third.has_previous
    assert beyond.rows == []


async def test_client_entries_follow_the_scope(sessionmaker, make_user) -> None:
    user = await make_user(Role.ADMIN)
    acme, globex = await make_client(sessionmaker, "Acme"), await make_client(sessionmaker, "Globex")
    now = datetime.now(UTC)
    await _add(
        sessionmaker,
        [
            _entry("ticket.close", now, client_id=acme.id, label="acme"),
            _entry("ticket.close", now, client_id=globex.id, label="globex"),
            _entry("priority.update", now, label="global"),
        ],
    )
    limited = Scope(user.id, Role.ADMIN, all_clients=False, client_ids=frozenset({acme.id}), label=user.email)
    async with sessionmaker() as session:
        rows = (await query_audit_log(session, limited, AuditFilter())).rows
    assert sorted((row.entry.object_label, row.client_name) for row in rows) == [("acme", "Acme"), ("global", None)]


async def test_client_ids_in_user_changes_show_as_names(sessionmaker, make_user) -> None:
    me = scope_of(await make_user(Role.ADMIN))
    acme = await make_client(sessionmaker, "Acme")
    await _add(
        sessionmaker,
        [
            _entry(
                "user.update",
                datetime.now(UTC),
                before={"role": "viewer", "client_ids": [], "is_active": True},
                after={"role": "analyst", "client_ids": [str(acme.id)], "is_active": True},
            )
        ],
    )
    async with sessionmaker() as session:
        [row] = (await query_audit_log(session, me, AuditFilter())).rows
    assert row.changes == [Change("role", "viewer", "analyst"), Change("client_ids", "none", "Acme")]


def test_diff_shows_changed_keys_only() -> None:
    assert diff({"a": 1, "b": True, "c": None}, {"a": 2, "b": True, "c": None}) == [Change("a", "1", "2")]
    assert diff(None, {"name": "X", "sla": None, "closed": False}) == [
        Change("name", "—", "X"),
        Change("closed", "—", "no"),
    ]
    assert diff({"name": "X"}, None) == [Change("name", "X", "—")]
    assert diff({"fields": ["a"]}, {"fields": ["a", "b"]}) == [Change("fields", "a", "a, b")]

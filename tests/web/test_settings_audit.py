"""The audit log viewer: diffs of changes, filters, pages, and the HTMX fragment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.tickets.models import Priority
from tests.conftest import csrf_token, sign_in
from tests.domain.test_settings_helpers import by_name


async def test_viewer_shows_changes_with_old_and_new_values(client, make_user, sessionmaker) -> None:
    admin = await make_user(Role.ADMIN)
    other = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    p1 = await by_name(sessionmaker, Priority, "P1 - Critical")
    token = await csrf_token(client, "/settings/priorities")
    await client.post(
        f"/settings/priorities/{p1.id}",
        data={
            "name": "P1 - Critical",
            "rank": "1",
            "sla_response_minutes": "10",
            "sla_resolve_minutes": "240",
            "_csrf_token": token,
        },
    )
    await client.post("/settings/asset-groups", data={"name": "OT", "_csrf_token": token})
    async with session_scope(sessionmaker) as session:
        session.add(
            AuditEntry(
                actor_id=other.id,
                actor_label=other.email,
                action="status.update",
                object_type="status",
                object_id="x",
                object_label="New",
                created_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
                before={"rank": 1},
                after={"rank": 2},
            )
        )

    page = await client.get("/settings/audit")
    assert page.status_code == 200
    rows = page.text.split('data-testid="audit-row"')[1:]
    assert [row.split('"', 2)[1] for row in rows] == ["asset_group.create", "priority.update", "status.update"]
    priority_row = rows[1]
    assert admin.email in priority_row
    assert "P1 - Critical" in priority_row
    assert re.search(r'sla_response_minutes</span>\s*<span class="diff-old">15</span>', priority_row)
    assert '<span class="diff-new">10</span>' in priority_row
    assert "sla_resolve_minutes" not in priority_row  # unchanged keys are not shown
    assert "2026-01-05 09:30" in rows[2]

    by_action = await client.get("/settings/audit", params={"action": "priority."})
    assert by_action.text.count('data-testid="audit-row"') == 1
    by_actor = await client.get("/settings/audit", params={"actor": str(other.id)})
    assert by_actor.text.count('data-testid="audit-row"') == 1
    assert 'data-action="status.update"' in by_actor.text
    by_type = await client.get("/settings/audit", params={"object_type": "asset_group"})
    assert 'data-action="asset_group.create"' in by_type.text
    assert by_type.text.count('data-testid="audit-row"') == 1
    by_date = await client.get("/settings/audit", params={"since": "2026-01-05", "until": "2026-01-05"})
    assert by_date.text.count('data-testid="audit-row"') == 1
    assert 'data-action="status.update"' in by_date.text
    bad_date = await client.get("/settings/audit", params={"since": "yesterday"})
    assert "Use a date like 2026-01-31." in bad_date.text


async def test_pages_and_the_htmx_fragment(client, make_user, sessionmaker) -> None:
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    async with session_scope(sessionmaker) as session:
        session.add_all(
            AuditEntry(
                actor_label="system",
                action="priority.update",
                object_type="priority",
                object_id=str(n),
                object_label=f"entry-{n}",
                created_at=start + timedelta(minutes=n),
            )
            for n in range(60)
        )
    first = await client.get("/settings/audit", params={"action": "priority"})
    assert first.text.count('data-testid="audit-row"') == 50
    assert "entry-59" in first.text
    assert 'href="/settings/audit?action=priority&amp;page=2"' in first.text
    assert 'data-testid="audit-newer"' not in first.text

    second = await client.get(
        "/settings/audit", params={"action": "priority", "page": "2"}, headers={"HX-Request": "true"}
    )
    assert second.status_code == 200
    assert second.text.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in second.text
    assert second.text.count('data-testid="audit-row"') == 10
    assert re.search(r"entry-0\s*</td>", second.text)
    assert 'data-testid="audit-older"' not in second.text
    assert 'href="/settings/audit?action=priority&amp;page=1"' in second.text
    assert second.headers["vary"] == "HX-Request"

"""Reference-data pages: inline row edits, add forms, deletes, and their error messages."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from portal.domain.accounts.models import Role
from portal.domain.assets.models import AssetGroup, AssetType
from portal.domain.tickets.models import Priority, Status, TicketType
from tests.conftest import csrf_token, sign_in
from tests.domain.test_settings_helpers import audit_entries, by_name, make_ticket


async def _as_admin(client: AsyncTestClient[Litestar], make_user) -> None:
    admin = await make_user(Role.ADMIN)
    assert (await sign_in(client, admin.email)).status_code == 303


async def _post(client: AsyncTestClient[Litestar], path: str, data: dict[str, Any]) -> httpx.Response:
    token = await csrf_token(client, "/settings/priorities")
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def _row(html: str, testid: str, name: str) -> str:
    """The HTML of the table row whose data-name is ``name``."""
    match = re.search(rf'<tr [^>]*data-testid="{testid}" data-name="{re.escape(name)}".*?</tr>', html, re.S)
    assert match, f"no {testid} row for {name}"
    return match.group(0)


async def test_edit_a_priority_sla_in_its_row(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    p2 = await by_name(sessionmaker, Priority, "P2 - High")
    page = await client.get("/settings/priorities")
    row = _row(page.text, "priority-row", "P2 - High")
    # Inputs live in the cells and belong to the row's own form.
    assert f'<form id="priority-{p2.id}-form" method="post" action="/settings/priorities/{p2.id}"' in row
    assert f'form="priority-{p2.id}-form"' in row

    response = await _post(
        client,
        f"/settings/priorities/{p2.id}",
        {"name": "P2 - High", "rank": "2", "sla_response_minutes": "30", "sla_resolve_minutes": ""},
    )
    assert response.status_code == 303
    stored = await by_name(sessionmaker, Priority, "P2 - High")
    assert (stored.sla_response_minutes, stored.sla_resolve_minutes) == (30, None)
    after = await client.get("/settings/priorities")
    assert "Priority “P2 - High” saved." in after.text
    assert 'value="30"' in _row(after.text, "priority-row", "P2 - High")
    [entry] = await audit_entries(sessionmaker, "priority.update")
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["sla_response_minutes"], entry.after["sla_response_minutes"]) == (60, 30)
    assert (entry.before["sla_resolve_minutes"], entry.after["sla_resolve_minutes"]) == (480, None)


async def test_priority_errors_show_in_the_failing_row_and_change_nothing(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    p3 = await by_name(sessionmaker, Priority, "P3 - Medium")
    response = await _post(
        client, f"/settings/priorities/{p3.id}", {"name": "P3 - Renamed", "rank": "1", "sla_response_minutes": "x"}
    )
    assert response.status_code == 422
    # Typing errors are found first; nothing reaches the database.
    row = _row(response.text, "priority-row", "P3 - Medium")
    assert 'class="row-error"' in row
    assert "Enter a whole number, or leave it empty." in row
    assert 'value="P3 - Renamed"' in row  # what was typed is kept

    clash = await _post(client, f"/settings/priorities/{p3.id}", {"name": "P3 - Medium", "rank": "1"})
    assert clash.status_code == 422
    assert "Rank 1 is already taken by “P1 - Critical”." in _row(clash.text, "priority-row", "P3 - Medium")
    assert "Rank 1 is already taken" not in _row(clash.text, "priority-row", "P1 - Critical")

    duplicate = await _post(client, "/settings/priorities", {"name": "p1 - critical", "rank": "7"})
    assert duplicate.status_code == 422
    assert "Another priority already has this name." in duplicate.text
    assert (await by_name(sessionmaker, Priority, "P3 - Medium")).rank == 3
    assert await audit_entries(sessionmaker) == []


async def test_add_and_delete_a_priority_and_refuse_one_in_use(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    added = await _post(
        client, "/settings/priorities", {"name": "P5 - Info", "rank": "5", "sla_resolve_minutes": "10080"}
    )
    assert added.status_code == 303
    p5 = await by_name(sessionmaker, Priority, "P5 - Info")
    assert p5.sla_resolve_minutes == 10080
    assert (await _post(client, f"/settings/priorities/{p5.id}/delete", {})).status_code == 303
    assert await by_name(sessionmaker, Priority, "P5 - Info") is None

    await make_ticket(sessionmaker, priority_name="P1 - Critical")
    p1 = await by_name(sessionmaker, Priority, "P1 - Critical")
    page = await client.get("/settings/priorities")
    assert "In use" in _row(page.text, "priority-row", "P1 - Critical")  # no delete button offered
    refused = await _post(client, f"/settings/priorities/{p1.id}/delete", {})
    assert refused.status_code == 422
    assert "This priority is used by 1 ticket, so it cannot be deleted." in refused.text
    assert await by_name(sessionmaker, Priority, "P1 - Critical") is not None
    assert [e.action for e in await audit_entries(sessionmaker)] == ["priority.create", "priority.delete"]


async def test_statuses_resolved_must_be_closed(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    refused = await _post(client, "/settings/statuses", {"name": "Fixed", "is_resolved": "on", "rank": "6"})
    assert refused.status_code == 422
    assert "A resolved status must also be a closed one." in refused.text
    assert await by_name(sessionmaker, Status, "Fixed") is None

    assert (
        await _post(
            client, "/settings/statuses", {"name": "Fixed", "is_closed": "on", "is_resolved": "on", "rank": "6"}
        )
    ).status_code == 303
    fixed = await by_name(sessionmaker, Status, "Fixed")
    assert (fixed.is_closed, fixed.is_resolved, fixed.rank) == (True, True, 6)

    # Unticking "closed" in the row keeps "resolved": refused, shown in that row.
    row_refused = await _post(
        client, f"/settings/statuses/{fixed.id}", {"name": "Fixed", "is_resolved": "on", "rank": "6"}
    )
    assert row_refused.status_code == 422
    assert "A resolved status must also be a closed one." in _row(row_refused.text, "status-row", "Fixed")
    assert (await by_name(sessionmaker, Status, "Fixed")).is_closed


async def test_ticket_type_pages_and_custom_fields(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    p2 = await by_name(sessionmaker, Priority, "P2 - High")
    new = await by_name(sessionmaker, Status, "New")
    closed = await by_name(sessionmaker, Status, "Closed")
    listing = await client.get("/settings/ticket-types")
    assert "Security Incident" in listing.text
    assert f'<option value="{closed.id}"' not in listing.text  # only open statuses are offered

    refused = await _post(
        client,
        "/settings/ticket-types",
        {"name": "Phishing", "default_priority_id": str(p2.id), "default_status_id": str(closed.id)},
    )
    assert refused.status_code == 422
    assert "New tickets cannot start closed" in refused.text

    created = await _post(
        client,
        "/settings/ticket-types",
        {
            "name": "Phishing",
            "default_priority_id": str(p2.id),
            "default_status_id": str(new.id),
            "classification_required_on_close": "on",
        },
    )
    assert created.status_code == 303
    phishing = await by_name(sessionmaker, TicketType, "Phishing")
    assert created.headers["location"] == f"/settings/ticket-types/{phishing.id}"
    assert phishing.classification_required_on_close

    field = await _post(
        client,
        f"/settings/ticket-types/{phishing.id}/fields",
        {"label": "Reported by", "kind": "choice", "choices": "User\r\nMail filter\r\n", "required_on_close": "on"},
    )
    assert field.status_code == 303
    page = await client.get(f"/settings/ticket-types/{phishing.id}")
    assert "Field “Reported by” added (key reported_by)." in page.text
    assert 'data-testid="custom-field-row"' in page.text
    assert "User · Mail filter" in page.text
    duplicate = await _post(
        client, f"/settings/ticket-types/{phishing.id}/fields", {"label": "Reported  by", "kind": "text"}
    )
    assert duplicate.status_code == 422
    assert "already has a field with the key “reported_by”" in duplicate.text

    removed = await _post(client, f"/settings/ticket-types/{phishing.id}/fields/reported_by/delete", {})
    assert removed.status_code == 303
    assert (await by_name(sessionmaker, TicketType, "Phishing")).custom_fields == []

    renamed = await _post(
        client,
        f"/settings/ticket-types/{phishing.id}",
        {"name": "Phishing report", "default_priority_id": str(p2.id), "default_status_id": str(new.id)},
    )
    assert renamed.status_code == 303
    stored = await by_name(sessionmaker, TicketType, "Phishing report")
    assert stored.classification_required_on_close is False  # an unticked box is a "no"
    assert [e.action for e in await audit_entries(sessionmaker)] == [
        "ticket_type.create",
        "ticket_type.field_add",
        "ticket_type.field_remove",
        "ticket_type.update",
    ]
    assert (await _post(client, f"/settings/ticket-types/{phishing.id}/delete", {})).status_code == 303
    assert await by_name(sessionmaker, TicketType, "Phishing report") is None


async def test_asset_groups_and_types_pages(client, make_user, sessionmaker) -> None:
    await _as_admin(client, make_user)
    assert (await _post(client, "/settings/asset-groups", {"name": "OT"})).status_code == 303
    ot = await by_name(sessionmaker, AssetGroup, "OT")
    assert (await _post(client, "/settings/asset-types", {"name": "PLC", "group_id": str(ot.id)})).status_code == 303
    plc = await by_name(sessionmaker, AssetType, "PLC")
    assert plc.group_id == ot.id

    groups = await client.get("/settings/asset-groups")
    assert "In use" in _row(groups.text, "asset-group-row", "OT")
    refused = await _post(client, f"/settings/asset-groups/{ot.id}/delete", {})
    assert refused.status_code == 422
    assert "used by 1 asset type" in refused.text

    no_group = await _post(client, f"/settings/asset-types/{plc.id}", {"name": "PLC", "group_id": ""})
    assert no_group.status_code == 422
    assert "Choose the group this type belongs to." in _row(no_group.text, "asset-type-row", "PLC")

    assert (await _post(client, f"/settings/asset-groups/{ot.id}", {"name": "Industrial"})).status_code == 303
    assert (await _post(client, f"/settings/asset-types/{plc.id}/delete", {})).status_code == 303
    assert (await _post(client, f"/settings/asset-groups/{ot.id}/delete", {})).status_code == 303
    assert await by_name(sessionmaker, AssetGroup, "Industrial") is None
    assert [e.action for e in await audit_entries(sessionmaker)] == [
        "asset_group.create",
        "asset_type.create",
        "asset_group.update",
        "asset_type.delete",
        "asset_group.delete",
    ]

"""Tickets over the JSON API: the page rules (scope, roles, classification) hold here too."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from portal.domain.accounts.models import Role
from portal.domain.audit.models import AuditEntry
from portal.domain.tickets.models import TicketType


async def _type_id(sessionmaker, name: str = "Alert") -> str:
    async with sessionmaker() as session:
        ticket_type = await session.scalar(select(TicketType).where(TicketType.name == name))
    assert ticket_type is not None
    return str(ticket_type.id)


async def test_ticket_lifecycle_over_the_api(
    client: AsyncTestClient[Litestar], make_client, api_token, sessionmaker
) -> None:
    mine = await make_client("Api Client")
    headers = await api_token(Role.ANALYST, clients=[mine])
    created = await client.post(
        "/api/v1/tickets",
        json={"client_id": str(mine.id), "ticket_type_id": await _type_id(sessionmaker), "summary": "Beacon to C2"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["source"] == "api"
    assert ticket["status"]["is_closed"] is False
    assert ticket["number"] >= 1001

    note = await client.post(f"/api/v1/tickets/{ticket['id']}/actions", json={"body": "Isolated host"}, headers=headers)
    assert note.status_code == 201, note.text
    assert note.json()["kind"] == "note"
    assert note.json()["author"] is not None

    refused = await client.post(
        f"/api/v1/tickets/{ticket['id']}/close",
        json={"classification": "TruePositive", "classification_reason": "InaccurateData"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    closed = await client.post(
        f"/api/v1/tickets/{ticket['id']}/close",
        json={"classification": "TruePositive", "classification_reason": "SuspiciousActivity", "note": "Contained"},
        headers=headers,
    )
    assert closed.status_code == 201, closed.text
    body = closed.json()
    assert body["status"]["is_closed"] is True
    assert (body["classification"], body["classification_reason"]) == ("TruePositive", "SuspiciousActivity")

    open_list = await client.get(f"/api/v1/tickets?client_id={mine.id}&status=open", headers=headers)
    closed_list = await client.get(f"/api/v1/tickets?client_id={mine.id}&status=closed", headers=headers)
    assert open_list.json()["items"] == []
    assert [row["id"] for row in closed_list.json()["items"]] == [ticket["id"]]

    actions = (await client.get(f"/api/v1/tickets/{ticket['id']}/actions", headers=headers)).json()["items"]
    assert [action["kind"] for action in actions] == ["created", "note", "closure"]

    reopened = await client.post(f"/api/v1/tickets/{ticket['id']}/reopen", json={"note": "Back again"}, headers=headers)
    assert reopened.status_code == 201, reopened.text
    assert reopened.json()["status"]["is_closed"] is False
    async with sessionmaker() as session:
        audit = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.created_at))).all()
    assert "ticket.close" in audit
    assert "ticket.reopen" in audit


async def test_ticket_api_respects_scope_and_roles(
    client: AsyncTestClient[Litestar], make_client, api_token, sessionmaker
) -> None:
    mine = await make_client("Scoped A")
    theirs = await make_client("Scoped B")
    admin = await api_token(Role.ADMIN)
    type_id = await _type_id(sessionmaker)
    other = (
        await client.post(
            "/api/v1/tickets",
            json={"client_id": str(theirs.id), "ticket_type_id": type_id, "summary": "Not yours"},
            headers=admin,
        )
    ).json()
    limited = await api_token(Role.ANALYST, clients=[mine])
    assert (await client.get(f"/api/v1/tickets/{other['id']}", headers=limited)).status_code == 404
    assert (await client.get("/api/v1/tickets", headers=limited)).json()["items"] == []
    sneaky = await client.post(
        "/api/v1/tickets",
        json={"client_id": str(theirs.id), "ticket_type_id": type_id, "summary": "x"},
        headers=limited,
    )
    assert sneaky.status_code == 404
    viewer = await api_token(Role.VIEWER)
    assert (await client.get(f"/api/v1/tickets/{other['id']}", headers=viewer)).status_code == 200
    denied = await client.post(f"/api/v1/tickets/{other['id']}/actions", json={"body": "hi"}, headers=viewer)
    assert denied.status_code == 403


async def test_patch_changes_priority_and_agent(
    client: AsyncTestClient[Litestar], make_client, api_token, make_user, sessionmaker
) -> None:
    from portal.domain.tickets.models import Priority

    mine = await make_client("Patchable")
    headers = await api_token(Role.ADMIN)
    agent = await make_user(Role.ANALYST)
    async with sessionmaker() as session:
        top = await session.scalar(select(Priority).order_by(Priority.rank).limit(1))
    assert top is not None
    ticket = (
        await client.post(
            "/api/v1/tickets",
            json={"client_id": str(mine.id), "ticket_type_id": await _type_id(sessionmaker), "summary": "p"},
            headers=headers,
        )
    ).json()
    patched = await client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"priority_id": str(top.id), "agent_id": str(agent.id)}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["priority"]["id"] == str(top.id)
    assert patched.json()["agent"]["id"] == str(agent.id)
    since = await client.get("/api/v1/tickets", params={"updated_since": patched.json()["updated_at"]}, headers=headers)
    assert [row["id"] for row in since.json()["items"]] == [ticket["id"]]

"""The set-based page apply and the per-item fallback give the same database on the same input,
bad records included: each bad record is a problem on the run with its remote id, the rest of
the page lands, counts are exact, and running the same pages again changes nothing.

The input is a Sentinel workspace's incidents across two pages (the vendor whose payloads are
easiest to shape by hand); the mirror, batches and engine under it are every vendor's.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.engine import session_scope
from portal.domain.audit.models import AuditEntry
from portal.domain.clients.models import Client
from portal.domain.integrations.models import Connection
from portal.domain.links.models import ExternalLink
from portal.domain.sync.models import OutboxMessage, SyncRun
from portal.domain.tickets.models import Ticket, TicketAction
from portal.integrations.base import Applied, RemoteItem
from tests.integrations.sentinel.test_incidents_apply import WORKSPACE, World, build_world, comment, incident, item
from tests.sync.pages import apply_through_engine

Snapshot = dict[str, Any]
EARLY = "2026-11-20T10:30:00Z"


def first_page() -> list[RemoteItem]:
    malformed = incident("inc-bad")
    malformed["properties"]["title"] = ""  # nothing to call the ticket: a mapping problem
    unwritable = incident("inc-nul", title="Beacon to C2")
    return [
        item(incident("inc-1"), [comment("c-1", "Looking at it", created=EARLY), comment("c-2", "Blocked the IP")]),
        item(incident("inc-2", modified="2026-11-20T12:01:00Z", severity="High")),
        item(
            incident(
                "inc-3",
                status="Closed",
                classification="TruePositive",
                classificationReason="SuspiciousActivity",
                classificationComment="Contained",
            )
        ),
        item(malformed),
        # PostgreSQL refuses a NUL in text: the page's multi-row write fails on this one record.
        item(unwritable, [comment("c-9", "payload \x00 bytes")]),
        item(incident("inc-2", modified="2026-11-20T11:00:00Z")),  # the same incident again, an older read
    ]


def second_page() -> list[RemoteItem]:
    return [
        item(
            incident("inc-1", modified="2026-11-20T12:30:00Z", severity="Low", title="Brute force (confirmed)"),
            [
                comment("c-1", "Looking at it", created=EARLY),
                comment("c-2", "Blocked the IP"),
                comment("c-3", "Reset password", created="2026-11-20T12:20:00Z"),
            ],
        ),
        item(incident("inc-2", modified="2026-11-20T12:01:00Z", severity="High")),  # unchanged
        item(incident("inc-3", modified="2026-11-20T12:40:00Z", status="Active")),  # reopened in Sentinel
        item(incident("inc-4", modified="2026-11-20T12:41:00Z", severity="Medium")),
    ]


async def snapshot(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> Snapshot:
    """What the import left, keyed by remote id: ids and import times aside, everything a person sees."""
    async with sessionmaker() as session:
        links = (
            await session.scalars(select(ExternalLink).where(ExternalLink.connection_id == world.connection_id))
        ).all()
        tickets = {link.local_id: link for link in links if link.local_type == "ticket"}
        action_links = {link.local_id: link.remote_id for link in links if link.local_type == "ticket_action"}
        state: Snapshot = {}
        for ticket in (await session.scalars(select(Ticket).where(Ticket.id.in_(tickets)))).all():
            link = tickets[ticket.id]
            actions = (
                await session.scalars(
                    select(TicketAction)
                    .where(TicketAction.ticket_id == ticket.id)
                    .order_by(TicketAction.occurred_at, TicketAction.kind, TicketAction.body)
                )
            ).all()
            audit = (
                await session.scalars(
                    select(AuditEntry.action).where(AuditEntry.object_id == str(ticket.id)).order_by(AuditEntry.action)
                )
            ).all()
            state[link.remote_id] = {
                "link": (
                    link.remote_type,
                    link.fingerprint,
                    link.remote_modified_at,
                    link.remote_label,
                    link.remote_url,
                ),
                "ticket": (
                    ticket.client_id == world.client_id,
                    ticket.summary,
                    ticket.details,
                    ticket.source,
                    ticket.ticket_type_id,
                    ticket.priority_id,
                    ticket.status_id,
                    ticket.agent_id,
                    ticket.opened_at,
                    ticket.closed_at is not None,
                    ticket.classification,
                    ticket.classification_reason,
                    ticket.custom_fields,
                ),
                "actions": [
                    (a.kind, a.body, a.external_author, a.author_id, a.occurred_at, a.changes, action_links.get(a.id))
                    for a in actions
                ],
                "audit": list(audit),
            }
        return state


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def counters(run: SyncRun) -> tuple[int, int, int, int, int]:
    return run.created, run.updated, run.unchanged, run.skipped, run.failed


def problem_ids(run: SyncRun) -> list[str]:
    return sorted(problem["remote_id"] for problem in run.problems)


async def import_twice(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, *, fall_back: bool
) -> tuple[list[tuple[tuple[int, int, int, int, int], list[str]]], dict[tuple[str, str], Applied | None]]:
    """Both pages, then both pages again; the counters and problems of each run."""
    runs = []
    outcomes: dict[tuple[str, str], Applied | None] = {}
    for page in (first_page(), second_page(), first_page(), second_page()):
        result, run = await apply_through_engine(sessionmaker, world.handler, world.target, page, fall_back=fall_back)
        runs.append((counters(run), problem_ids(run)))
        outcomes = outcomes or result
    return runs, outcomes


def remote(name: str) -> str:
    return WORKSPACE.incident_remote_id(name)


@pytest.fixture
async def worlds(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[World, World]:
    set_based = await build_world(sessionmaker)
    async with session_scope(sessionmaker) as session:  # names are unique; the second world needs its own
        await session.execute(update(Client).where(Client.id == set_based.client_id).values(name="Fabrikam (pages)"))
        await session.execute(
            update(Connection).where(Connection.id == set_based.connection_id).values(name="Sentinel (pages)")
        )
    return set_based, await build_world(sessionmaker)


async def test_the_page_path_and_the_per_item_path_leave_the_same_database(
    sessionmaker: async_sessionmaker[AsyncSession], worlds: tuple[World, World]
) -> None:
    set_based, one_by_one = worlds
    runs, outcomes = await import_twice(sessionmaker, set_based, fall_back=False)
    fallback_runs, fallback_outcomes = await import_twice(sessionmaker, one_by_one, fall_back=True)

    assert runs == fallback_runs
    assert outcomes == fallback_outcomes
    assert await snapshot(sessionmaker, set_based) == await snapshot(sessionmaker, one_by_one)

    bad = [remote("inc-bad"), remote("inc-nul")]
    # created, updated, unchanged, skipped (the repeated incident), failed: exact on every run.
    assert runs[0] == ((3, 0, 0, 1, 2), bad)
    assert runs[1] == ((1, 2, 1, 0, 0), [])
    # The same pages again: the first page's reads are older than what is stored, the second's
    # are what is stored. Nothing is created or updated; only the bad records stay problems.
    assert runs[2][0][:2] == (0, 0)
    assert runs[2][1] == bad
    assert runs[3] == ((0, 0, 4, 0, 0), [])


async def test_bad_records_lose_nothing_else_and_a_rerun_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], worlds: tuple[World, World]
) -> None:
    world, _ = worlds
    await apply_through_engine(sessionmaker, world.handler, world.target, first_page())
    await apply_through_engine(sessionmaker, world.handler, world.target, second_page())
    state = await snapshot(sessionmaker, world)
    assert sorted(state) == sorted(remote(name) for name in ("inc-1", "inc-2", "inc-3", "inc-4"))

    first = state[remote("inc-1")]
    assert first["ticket"][1] == "Brute force (confirmed)"
    notes = [(body, link) for kind, body, _, _, _, _, link in first["actions"] if kind == "note"]
    assert [body for body, _ in notes] == ["Looking at it", "Blocked the IP", "Reset password"]  # each once
    assert all(link is not None for _, link in notes)
    third = state[remote("inc-3")]
    assert [kind for kind, *_ in third["actions"]][-2:] == ["closure", "reopen"]
    assert third["ticket"][9] is False  # open again

    rows = {model: await count(sessionmaker, model) for model in (Ticket, TicketAction, ExternalLink, AuditEntry)}
    _, rerun = await apply_through_engine(sessionmaker, world.handler, world.target, second_page())
    assert counters(rerun) == (0, 0, 4, 0, 0)
    assert {model: await count(sessionmaker, model) for model in rows} == rows
    assert await snapshot(sessionmaker, world) == state
    assert await count(sessionmaker, OutboxMessage) == 0  # nothing imported is sent back


async def test_a_record_of_another_workspace_is_a_problem_not_a_ticket(
    sessionmaker: async_sessionmaker[AsyncSession], worlds: tuple[World, World]
) -> None:
    """An item whose client scope is unknown to the link (another customer's workspace) never lands."""
    world, _ = worlds
    stranger = item(incident("inc-x"))
    stranger = RemoteItem(
        remote_type=stranger.remote_type,
        remote_id=stranger.remote_id.replace(WORKSPACE.name, "someone-elses-ws"),
        modified_at=stranger.modified_at,
        data=stranger.data,
    )
    page = [item(incident("inc-1")), stranger]
    outcomes, run = await apply_through_engine(sessionmaker, world.handler, world.target, page)
    assert outcomes[page[0].key] is Applied.CREATED
    assert problem_ids(run) == [stranger.remote_id]
    assert run.failed == 1
    assert sorted(await snapshot(sessionmaker, world)) == [remote("inc-1")]

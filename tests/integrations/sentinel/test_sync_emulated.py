"""The Sentinel import through the real engine against the emulator: the 7-day first run then incremental,
a 429 storm, token expiry and revocation, 403s, comments both ways without echo, and an etag race."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from portal.db.engine import session_scope
from portal.domain.accounts.models import Role
from portal.domain.integrations.models import Connection
from portal.domain.sync.models import OutboxMessage, SyncState
from portal.domain.sync.relay import relay
from portal.domain.tickets import service as tickets
from portal.domain.tickets.models import Status, Ticket, TicketAction
from portal.integrations.sentinel.emulator.times import from_ticks
from tests.domain.test_tickets_data import scope_of
from tests.integrations.sentinel.world import World, make_world


def recent(world: World, days: int = 7) -> set[str]:
    since = world.state.clock.now() - timedelta(days=days)
    return {i.name for i in world.workspace.incidents.values() if from_ticks(i.modified) >= since}


@pytest.fixture
async def world(settings, sessionmaker) -> World:
    return await make_world(settings, sessionmaker)


async def test_first_run_reads_seven_days_then_only_what_changed(world: World) -> None:
    expected = recent(world)
    assert 0 < len(expected) < len(world.workspace.incidents)  # the seed has older incidents too
    steps = await world.run_to_end()
    assert steps[-1].outcome == "finished"
    assert len(steps) > 1  # one page per job: several jobs
    assert set(await world.links_per_incident()) == expected
    assert set((await world.links_per_incident()).values()) == {1}
    first_list = world.transport.paths("/incidents")[0]
    assert "properties%2FlastModifiedTimeUtc+ge+" in str(first_list.url) or "lastModifiedTimeUtc ge" in str(
        first_list.url.params.get("$filter")
    )

    before = len(world.transport.requests)
    new = world.raise_incident("Mass download from SharePoint")
    assert (await world.run_to_end())[-1].outcome == "finished"
    assert new.name in await world.links_per_incident()
    lists = [r for r in world.transport.requests[before:] if r.url.path.endswith("/incidents")]
    # The second run asks only from the watermark (minus the overlap), not the 7 days again.
    since = lists[0].url.params["$filter"].rsplit(" ", 1)[1]
    async with session_scope(world.sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.connection_id == world.connection_id))
        assert state is not None
        assert state.watermark is not None
    assert since > (world.state.clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert len(await world.tickets()) == len(expected) + 1


async def test_a_429_storm_finishes_the_import_with_nothing_lost(world: World) -> None:
    # Forty throttled answers in a row, on lists and comment reads alike, with ARM's Retry-After.
    world.state.faults.add("rate_limit", count=40, retry_after=1, path_prefix="/subscriptions")
    expected = recent(world)
    outcomes: list[str] = []
    for _ in range(400):
        step = await world.advance()
        outcomes.append(step.outcome)
        if step.outcome == "finished":
            break
    assert "retry" in outcomes  # it was throttled, recorded it, and said when to come back
    assert outcomes[-1] == "finished"
    assert set(await world.links_per_incident()) == expected
    assert set((await world.links_per_incident()).values()) == {1}
    throttled = [r for r in world.transport.requests if r.url.path.startswith("/subscriptions")]
    assert len(throttled) > 40
    async with session_scope(world.sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.connection_id == world.connection_id))
        assert state is not None
        assert state.consecutive_failures == 0
        assert state.watermark is not None


async def test_a_30_percent_429_storm_imports_60_new_incidents_with_their_comments_during_the_storm(
    settings, sessionmaker
) -> None:
    world = await make_world(settings, sessionmaker, page_size=10)
    new = [world.raise_incident(f"Storm incident {n}") for n in range(60)]
    author = world.state.author_of(None)
    for n, incident in enumerate(new[::3]):
        world.state.put_comment(world.workspace, incident, f"c-{n}", f"Analyst note {n}", author)
    expected = recent(world)
    # Three reads in ten, lists and comment reads alike, answer 429 with Retry-After: 1, and keep doing so.
    storm = world.state.faults.add("rate_limit", count=10**6, chance=0.3, retry_after=1, path_prefix="/subscriptions")
    outcomes: list[str] = []
    waits: list[float] = []
    for _ in range(400):
        step = await world.advance()
        outcomes.append(step.outcome)
        if step.retry_in is not None:
            waits.append(step.retry_in)
        if step.outcome in ("finished", "failed"):
            break
    assert outcomes[-1] == "finished"
    assert storm in world.state.faults.plans  # it finished while the storm was still raging
    assert set(await world.links_per_incident()) == expected  # nothing lost
    assert set((await world.links_per_incident()).values()) == {1}  # nothing doubled
    # A throttled page is fetched again from its own cursor: the first page is asked for only until it
    # answers once, every later list call carries the skip token of the page it continues.
    lists = [str(r.url).lower() for r in world.transport.requests if r.url.path.endswith("/incidents")]
    continued = [i for i, url in enumerate(lists) if "skiptoken" in url]
    assert continued  # several pages
    assert all("skiptoken" in url for url in lists[continued[0] :])  # never back to the first page
    assert all(wait < 2 for wait in waits)  # the vendor asked for 1 s: that is the wait, not minutes
    async with session_scope(world.sessionmaker) as session:
        notes = (
            await session.scalars(
                select(TicketAction.body)
                .join(Ticket, Ticket.id == TicketAction.ticket_id)
                .where(Ticket.client_id == world.client_id, TicketAction.kind == "note")
            )
        ).all()
    assert sorted(b for b in notes if b.startswith("Analyst note")) == sorted(f"Analyst note {n}" for n in range(20))


async def test_an_expired_access_token_is_refreshed_and_the_run_goes_on(world: World) -> None:
    world.state.identity.expire_access_tokens()
    assert (await world.run_to_end())[-1].outcome == "finished"
    refreshes = [r for r in world.transport.paths("/oauth2/v2.0/token") if b"grant_type=refresh_token" in r.content]
    assert len(refreshes) == 1
    assert refreshes[0].url.path == f"/{world.tenant.tenant_id}/oauth2/v2.0/token"
    assert (await world.connection()).status == "connected"


async def test_a_revoked_refresh_token_stops_the_connection_for_reauth(world: World) -> None:
    world.state.identity.revoke_refresh_tokens()
    world.state.identity.expire_access_tokens()
    step = await world.advance()
    assert step.outcome == "failed"
    connection = await world.connection()
    assert connection.status == "needs_reauth"
    assert f"sign in again for {world.tenant.tenant_id}" in connection.status_message  # which tenant
    assert (await world.advance()).outcome == "skipped"  # no loop hammering the token endpoint


async def test_a_reader_role_gets_403_shown_with_microsoft_s_words(settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker)
    world.state.set_role(world.workspace, world.tenant.admin_upn, None)
    step = await world.advance()
    assert step.outcome == "failed"
    async with session_scope(world.sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.connection_id == world.connection_id))
        assert state is not None
        assert "AuthorizationFailed" in state.last_error


async def test_an_unknown_workspace_is_shown_on_sync_health(settings, sessionmaker) -> None:
    world = await make_world(settings, sessionmaker, settings_extra={"workspace_name": "law-does-not-exist"})
    step = await world.advance()
    assert step.outcome == "failed"
    async with session_scope(world.sessionmaker) as session:
        state = await session.scalar(select(SyncState).where(SyncState.connection_id == world.connection_id))
        assert state is not None
        assert "not_found" in state.last_error.replace(" ", "_") or "NotFound" in state.last_error


async def test_comments_both_ways_and_no_echo_after_three_cycles(world: World, make_user) -> None:
    analyst = await make_user(Role.ANALYST, email="alice@msp.example")
    incident = world.raise_incident("Suspicious inbox rule")
    await world.run_to_end()
    ticket = await world.ticket_of(incident.name)
    author = {"objectId": "x", "email": world.tenant.analyst_upn, "name": "Megan Bowen"}
    world.state.put_comment(world.workspace, incident, "c-from-sentinel", "Rule forwards to a gmail address", author)
    await world.run_to_end()
    async with session_scope(world.sessionmaker) as session:
        await tickets.add_note(session, scope_of(analyst), ticket.id, "Removed the rule", sync_to_source=True)
    result = await relay(world.runtime)
    assert result.delivered == 1
    for _ in range(3):
        await world.run_to_end()
    async with session_scope(world.sessionmaker) as session:
        notes = (
            await session.scalars(
                select(TicketAction).where(TicketAction.ticket_id == ticket.id, TicketAction.kind == "note")
                .order_by(TicketAction.created_at)
            )
        ).all()  # fmt: skip
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert [(n.body, n.external_author) for n in notes] == [
        ("Rule forwards to a gmail address", "Megan Bowen"),
        ("Removed the rule", None),
    ]
    comments = [c.message for c in world.state.incident(world.workspace, incident.name).comments.values()]
    assert comments.count("Removed the rule\n\n— alice@msp.example (socdesk)") == 1


async def test_close_in_socdesk_then_reopen_in_sentinel(world: World, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    incident = world.raise_incident("Impossible travel")
    await world.run_to_end()
    ticket = await world.ticket_of(incident.name)
    async with session_scope(world.sessionmaker) as session:
        await tickets.close(
            session, scope_of(analyst), ticket.id, classification="TruePositive",
            classification_reason="SuspiciousActivity", note="Account reset",
        )  # fmt: skip
    assert (await relay(world.runtime)).delivered == 1
    remote = world.state.incident(world.workspace, incident.name)
    assert (remote.status, remote.classification, remote.classification_reason) == (
        "Closed", "TruePositive", "SuspiciousActivity",
    )  # fmt: skip
    assert remote.classification_comment == "Account reset"
    await world.run_to_end()  # our own closure comes back: nothing changes
    reopened = {**world.state.writable(remote), "status": "Active", "classification": None}
    reopened |= {"classificationReason": None, "classificationComment": None}
    world.state.update_incident(world.workspace, remote, reopened)
    await world.run_to_end()
    async with session_scope(world.sessionmaker) as session:
        reloaded = await session.get(Ticket, ticket.id, populate_existing=True)
        assert reloaded is not None
        await session.refresh(reloaded, ["status"])
        assert not reloaded.status.is_closed
        kinds = [
            a.kind
            for a in (await session.scalars(select(TicketAction).where(TicketAction.ticket_id == ticket.id))).all()
        ]
    assert kinds.count("reopen") == 1
    assert kinds.count("closure") == 1


async def test_an_etag_race_is_retried_and_lands(world: World, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    incident = world.raise_incident("Token theft")
    await world.run_to_end()
    ticket = await world.ticket_of(incident.name)
    async with session_scope(world.sessionmaker) as session:
        await tickets.close(session, scope_of(analyst), ticket.id, classification="Undetermined", note="")
    # An analyst saves the incident in Sentinel between our GET and our PUT: the first PUT gets 409.
    remote = world.state.incident(world.workspace, incident.name)
    raced = {"done": False}

    def analyst_saves_first(request: httpx.Request) -> None:
        if request.method == "PUT" and request.url.path.endswith(incident.name) and not raced["done"]:
            raced["done"] = True
            world.state.touch(world.workspace, remote, from_api=False)

    world.transport.before = analyst_saves_first
    result = await relay(world.runtime)
    world.transport.before = None
    assert result.delivered == 1
    puts = [r for r in world.transport.requests if r.method == "PUT" and r.url.path.endswith(incident.name)]
    assert len(puts) == 2
    assert remote.status == "Closed"
    assert remote.classification == "Undetermined"


async def test_a_status_moved_in_socdesk_moves_the_incident_when_it_maps_back(world: World, make_user) -> None:
    analyst = await make_user(Role.ANALYST)
    async with session_scope(world.sessionmaker) as session:
        statuses = {s.name: s for s in (await session.scalars(select(Status))).all()}
        connection = await session.get(Connection, world.connection_id)
        assert connection is not None
        in_progress = next(s for s in statuses.values() if not s.is_closed and s.name != "New")
        connection.mappings = {**connection.mappings, "status_Active": str(in_progress.id)}
    incident = world.raise_incident("Suspicious inbox rule")
    await world.run_to_end()
    ticket = await world.ticket_of(incident.name)
    unmapped = next(s for s in statuses.values() if not s.is_closed and s.id not in (in_progress.id, ticket.status_id))
    async with session_scope(world.sessionmaker) as session:
        await tickets.change_status(session, scope_of(analyst), ticket.id, unmapped.id)
    assert (await relay(world.runtime)).delivered == 1
    remote = world.state.incident(world.workspace, incident.name)
    assert remote.status == "New"  # no Sentinel status maps to that one: the incident is left alone
    async with session_scope(world.sessionmaker) as session:
        await tickets.change_status(session, scope_of(analyst), ticket.id, in_progress.id)
    assert (await relay(world.runtime)).delivered == 1
    assert remote.status == "Active"
    await world.run_to_end()  # Sentinel's Active comes back to a ticket already in that status: no echo
    async with session_scope(world.sessionmaker) as session:
        waiting = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        assert await session.scalar(waiting) == 0

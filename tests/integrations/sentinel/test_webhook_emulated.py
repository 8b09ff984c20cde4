"""The Logic App's deliveries at socdesk's webhook through the real app: one job and one ticket however
often the same delivery comes, wrong secrets and malformed bodies refused and logged, nothing queued."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.sync import engine
from portal.domain.sync.models import InboundEvent
from portal.integrations.sentinel.emulator.logicapp import trigger_payload
from tests.integrations.sentinel.world import WEBHOOK_SECRET, World, make_world
from workers.queue import QUEUE_NAME, SYNC_ITEM


async def _item_jobs(redis_url: str) -> list[str]:
    redis = Redis.from_url(redis_url)
    try:
        return [job.decode() for job in await redis.zrange(QUEUE_NAME, 0, -1) if job.decode().startswith(SYNC_ITEM)]
    finally:
        await redis.aclose()


async def _events(world: World) -> list[InboundEvent]:
    async with session_scope(world.sessionmaker) as session:
        return list((await session.scalars(select(InboundEvent).order_by(InboundEvent.received_at))).all())


def _payload(world: World, name: str, event: str = "Create") -> bytes:
    workspace = world.workspace
    incident = world.state.incident(workspace, name)
    return json.dumps(
        trigger_payload(
            event, incident.to_json(workspace, trigger=True), subscription=workspace.subscription_id,
            resource_group=workspace.resource_group, workspace=workspace.name, workspace_id=workspace.customer_id,
        )
    ).encode()  # fmt: skip


async def test_the_same_delivery_five_times_is_one_job_and_one_ticket(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    incident = world.raise_incident("Ransomware note found on FS01")
    body = _payload(world, incident.name)
    headers = {"Content-Type": "application/json", "X-Portal-Signature": WEBHOOK_SECRET}
    answers = [await client.post(f"/hooks/{world.connection_id}", content=body, headers=headers) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [202, 200, 200, 200, 200]
    assert answers[1].json()["status"] == "duplicate"
    [logged] = await _events(world)
    assert (logged.signature, logged.outcome) == ("valid", "queued")
    jobs = await _item_jobs(redis_url)
    assert len(jobs) == 1
    assert jobs[0].endswith(incident.name)

    # The queued job imports exactly that incident (its workspace's link completes the id).
    remote_id = jobs[0].rsplit(":", 1)[1]
    step = await engine.sync_item(world.runtime, world.connection_id, world.link_id, "incidents", remote_id)
    assert step.outcome == "finished"
    again = await engine.sync_item(world.runtime, world.connection_id, world.link_id, "incidents", remote_id)
    assert again.outcome == "finished"
    assert len(await world.tickets()) == 1
    assert (await world.ticket_of(incident.name)).summary == "Ransomware note found on FS01"


async def test_wrong_secret_and_malformed_bodies_are_refused_and_logged(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    incident = world.raise_incident("Something")
    body = _payload(world, incident.name)
    url = f"/hooks/{world.connection_id}"
    wrong = await client.post(url, content=body, headers={"X-Portal-Signature": "not-the-secret"})
    missing = await client.post(url, content=body)
    malformed = await client.post(url, content=b"{broken", headers={"X-Portal-Signature": WEBHOOK_SECRET})
    empty = await client.post(url, content=b"{}", headers={"X-Portal-Signature": WEBHOOK_SECRET})
    assert [r.status_code for r in (wrong, missing, malformed, empty)] == [401, 401, 401, 401]
    events = await _events(world)
    assert [(e.signature, e.outcome) for e in events] == [("invalid", "rejected")] * 4
    assert "does not match" in events[0].detail
    assert "not JSON" in events[2].detail
    assert "names no incident" in events[3].detail
    assert WEBHOOK_SECRET not in "".join(e.body_excerpt + e.detail for e in events)
    assert await _item_jobs(redis_url) == []


async def test_a_delivery_for_a_workspace_nobody_linked_queues_nothing(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    other = world.state.workspace("law-woodgrove-sentinel")
    incident = world.state.create_incident(other, {"title": "Elsewhere", "severity": "Low", "status": "New"})
    body = json.dumps(
        trigger_payload(
            "Create", incident.to_json(other, trigger=True), subscription=other.subscription_id,
            resource_group=other.resource_group, workspace=other.name, workspace_id=other.customer_id,
        )
    ).encode()  # fmt: skip
    answer = await client.post(
        f"/hooks/{world.connection_id}", content=body, headers={"X-Portal-Signature": WEBHOOK_SECRET}
    )
    assert answer.status_code == 202
    assert answer.json()["status"] == "ignored"
    scope = f"{other.subscription_id}/{other.resource_group}/{other.name}".lower()
    assert answer.json()["detail"] == f"No client is linked to {scope}."
    assert await _item_jobs(redis_url) == []

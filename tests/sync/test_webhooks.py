"""Webhook ingress: verified, logged, deduplicated, acknowledged; the work goes to the queue."""

from __future__ import annotations

import time

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select

from portal.config import Settings
from portal.db.engine import session_scope
from portal.domain.sync import engine
from portal.domain.sync.inbound import MAX_BODY_BYTES
from portal.domain.sync.models import InboundEvent
from portal.integrations.acme.emulator.webhooks import build_event, signed_request
from tests.sync.harness import WEBHOOK_SECRET, World, ago, make_world
from workers.queue import QUEUE_NAME, SYNC_ITEM

QUEUED = f"arq:job:{SYNC_ITEM}"


async def _events(world: World) -> list[InboundEvent]:
    async with session_scope(world.sessionmaker) as session:
        return list((await session.scalars(select(InboundEvent).order_by(InboundEvent.received_at))).all())


async def _queued_item_jobs(redis_url: str) -> list[str]:
    redis = Redis.from_url(redis_url)
    try:
        return [job.decode() for job in await redis.zrange(QUEUE_NAME, 0, -1) if job.decode().startswith(SYNC_ITEM)]
    finally:
        await redis.aclose()


async def test_a_signed_delivery_is_queued_once_however_often_it_is_redelivered(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    case_id = world.case("Pushed", modified_at=ago(world.state, minutes=1))
    event = build_event(world.tenant, case_id, "case.created", world.state.now())
    body, headers = signed_request(WEBHOOK_SECRET, event)

    answers = [await client.post(f"/hooks/{world.connection_id}", content=body, headers=headers) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [202, 200, 200, 200, 200]
    assert answers[1].json()["status"] == "duplicate"
    [logged] = await _events(world)
    assert (logged.signature, logged.outcome, logged.delivery_id) == ("valid", "queued", event["eventId"])
    assert logged.size == len(body)
    assert case_id in logged.body_excerpt
    jobs = await _queued_item_jobs(redis_url)
    assert len(jobs) == 1
    assert jobs[0].endswith(f"{world.tenant}/{case_id}")

    # The queued job imports exactly that case.
    step = await engine.sync_item(
        world.runtime, world.connection_id, world.link_id, "cases", f"{world.tenant}/{case_id}"
    )
    assert step.outcome == "finished"
    assert len(await world.tickets()) == 1


async def test_bad_signatures_and_stale_timestamps_are_refused_and_logged(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    event = build_event(world.tenant, "c-1", "case.updated", world.state.now())
    forged_body, forged = signed_request("not-the-secret-123456", event)
    stale_body, stale = signed_request(WEBHOOK_SECRET, event, timestamp=int(time.time()) - 3600)

    assert (await client.post(f"/hooks/{world.connection_id}", content=forged_body, headers=forged)).status_code == 401
    assert (await client.post(f"/hooks/{world.connection_id}", content=stale_body, headers=stale)).status_code == 401
    unsigned = await client.post(
        f"/hooks/{world.connection_id}", content=forged_body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    events = await _events(world)
    assert [(e.signature, e.outcome) for e in events] == [("invalid", "rejected")] * 3
    assert await _queued_item_jobs(redis_url) == []


async def test_an_oversized_body_is_refused(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar]
) -> None:
    world = await make_world(settings, sessionmaker)
    response = await client.post(
        f"/hooks/{world.connection_id}",
        content=b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_a_delivery_for_an_unlinked_tenant_is_logged_and_ignored(
    settings: Settings, sessionmaker, client: AsyncTestClient[Litestar], redis_url: str
) -> None:
    world = await make_world(settings, sessionmaker)
    body, headers = signed_request(
        WEBHOOK_SECRET, build_event("someone-else", "c-9", "case.created", world.state.now())
    )
    response = await client.post(f"/hooks/{world.connection_id}", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    [logged] = await _events(world)
    assert "someone-else" in logged.detail
    assert await _queued_item_jobs(redis_url) == []


async def test_an_unknown_connection_is_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/hooks/00000000-0000-0000-0000-000000000000", content=b"{}")
    assert response.status_code == 404

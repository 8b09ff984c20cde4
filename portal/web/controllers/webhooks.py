"""Webhook ingress: one address per connection, answered as soon as the work is queued."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domain.integrations.secrets import SecretBox
from portal.domain.sync.inbound import MAX_BODY_BYTES, receive
from workers.queue import JobQueue, enqueue_item_sync


class WebhookController(Controller):
    path = "/hooks"
    # Vendors authenticate with the connection's webhook secret, not a staff session or CSRF token.
    opt = {"exclude_from_auth": True, "exclude_from_csrf": True}
    include_in_schema = False

    @post("/{connection_id:uuid}", name="webhook", request_max_body_size=MAX_BODY_BYTES + 1)
    async def deliver(
        self,
        request: Request[Any, Any, Any],
        connection_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        secret_box: NamedDependency[SecretBox],
        queue: NamedDependency[JobQueue],
    ) -> Response[dict[str, str]]:
        body = await request.body()
        receipt = await receive(db_session, secret_box, connection_id, dict(request.headers), body)
        await db_session.commit()
        for work in receipt.work:
            await enqueue_item_sync(queue, work.connection_id, work.client_link_id, work.entity, work.remote_id)
        return Response({"status": receipt.outcome, "detail": receipt.detail}, status_code=receipt.status_code)

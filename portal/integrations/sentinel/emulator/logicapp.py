"""The "Logic App" of a workspace: an automation rule ("when incident is created / updated" ->
run playbook) whose playbook is a Sentinel incident trigger followed by an HTTP action that
POSTs ``@triggerBody()`` to a URL with the headers it was given (the shared secret).

The body is the incident trigger payload (``eventUniqueId``, ``objectSchemaType``,
``objectEventType`` Create/Update, ``workspaceInfo``, ``workspaceId``, ``object``: the incident
with ``Incidents`` in its id and type, ``alerts`` and ``relatedEntities`` in its properties).
A failed delivery (connection error, 429, 5xx) is retried like a Logic App HTTP action's
default policy (4 retries, exponentially spaced; ``retry_seconds`` is the first interval).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

EVENTS = frozenset({"Create", "Update"})


@dataclass
class LogicApp:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: frozenset[str] = EVENTS  # the automation rule's triggers
    include_api_changes: bool = True  # False: only changes made in the Sentinel portal (admin API) fire
    retries: int = 4
    retry_seconds: float = 7.0
    delay_seconds: float = 0.0  # a playbook run starts late
    drop_next: int = 0  # this many runs fail before their HTTP action (the delivery is lost)

    def to_json(self) -> dict[str, Any]:
        return {
            "delaySeconds": self.delay_seconds,
            "dropNext": self.drop_next,
            "url": self.url,
            "headerNames": sorted(self.headers),
            "events": sorted(self.events),
            "includeApiChanges": self.include_api_changes,
            "retries": self.retries,
            "retrySeconds": self.retry_seconds,
        }


@dataclass(frozen=True)
class Delivery:
    workspace: str
    event_id: str
    event_type: str
    incident: str
    status: int | None
    attempts: int
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "eventUniqueId": self.event_id,
            "objectEventType": self.event_type,
            "incident": self.incident,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
        }


def trigger_payload(
    event_type: str,
    incident: dict[str, Any],
    *,
    subscription: str,
    resource_group: str,
    workspace: str,
    workspace_id: str,
) -> dict[str, Any]:
    return {
        "eventUniqueId": str(uuid.uuid4()),
        "objectSchemaType": "Incident",
        "objectEventType": event_type,
        "workspaceInfo": {
            "SubscriptionId": subscription,
            "ResourceGroupName": resource_group,
            "WorkspaceName": workspace,
        },
        "workspaceId": workspace_id,
        "object": incident,
    }


class LogicApps:
    """Per workspace: the playbook, payloads waiting to go out, and what was delivered.

    Routes flush in a background task after answering; ``transport`` lets a test deliver into
    an in-process app (``httpx.ASGITransport``), ``sleep`` lets it skip the retry waits.
    """

    def __init__(self) -> None:
        self.apps: dict[str, LogicApp] = {}  # by workspace name (lower case)
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.last: dict[str, dict[str, Any]] = {}
        self.deliveries: list[Delivery] = []
        self.transport: httpx.AsyncBaseTransport | None = None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def reset(self) -> None:
        self.apps.clear()
        self.pending.clear()
        self.last.clear()
        self.deliveries.clear()
        self.transport = None

    def emit(self, workspace: str, payload: dict[str, Any], *, from_api: bool) -> bool:
        app = self.apps.get(workspace.lower())
        if app is None or payload["objectEventType"] not in app.events or (from_api and not app.include_api_changes):
            return False
        self.pending.append((workspace.lower(), payload))
        return True

    def redeliver(self, workspace: str, times: int = 1) -> int:
        """Queue the last payload of ``workspace`` again, unchanged (same eventUniqueId): a Logic App retry."""
        payload = self.last.get(workspace.lower())
        if payload is None:
            return 0
        self.pending += [(workspace.lower(), payload)] * times
        return times

    async def flush(self) -> list[Delivery]:
        batch, self.pending = self.pending, []
        sent: list[Delivery] = []
        if not batch:
            return sent
        async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
            for workspace, payload in batch:
                app = self.apps.get(workspace)
                if app is None:
                    continue
                self.last[workspace] = payload
                sent.append(await self._deliver(client, app, workspace, payload))
        self.deliveries = [*self.deliveries, *sent][-500:]
        return sent

    async def _deliver(
        self, client: httpx.AsyncClient, app: LogicApp, workspace: str, payload: dict[str, Any]
    ) -> Delivery:
        status: int | None = None
        error = ""
        attempt = 0
        if app.drop_next > 0:
            app.drop_next -= 1
            return Delivery(workspace, str(payload["eventUniqueId"]), str(payload["objectEventType"]),
                            str(payload["object"]["name"]), None, 0, "dropped")  # fmt: skip
        if app.delay_seconds:
            await self.sleep(app.delay_seconds)
        for attempt in range(1, app.retries + 2):
            try:
                response = await client.post(
                    app.url, json=payload, headers={**app.headers, "User-Agent": "azure-logic-apps/1.0"}
                )
                status, error = response.status_code, ""
                if status != 429 and status < 500:
                    break
            except httpx.HTTPError as exc:
                log.warning("logic app delivery to %s failed: %s", app.url, exc)
                status, error = None, type(exc).__name__
            if attempt <= app.retries:
                await self.sleep(app.retry_seconds * 2 ** (attempt - 1))
        return Delivery(
            workspace,
            str(payload["eventUniqueId"]),
            str(payload["objectEventType"]),
            str(payload["object"]["name"]),
            status,
            attempt,
            error,
        )

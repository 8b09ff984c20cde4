"""Console pages a link from socdesk can land on: the console's home and a threat's overview.

Only so that "open in SentinelOne" goes somewhere in the demo: no sign-in (the real console has
its own), no actions. The threat path is the console's own (``/incidents/threats/<id>/overview``).
"""

from __future__ import annotations

import html
from typing import Any

from litestar import MediaType, Router, get
from litestar.params import FromPath

from portal.integrations.sentinelone.emulator.state import S1State


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    )


def pages_router(state: S1State) -> Router:
    @get("/", media_type=MediaType.HTML, sync_to_thread=False)
    def home() -> str:
        rows = "".join(
            f"<li>{html.escape(account['name'])}: "
            f"{sum(1 for site in state.sites.values() if site['accountId'] == account['id'])} sites</li>"
            for account in state.accounts.values()
        )
        return _page(
            f"SentinelOne {state.name}",
            f"<h1>SentinelOne console {html.escape(state.name)}</h1>"
            f"<p>{len(state.agents)} endpoints, {len(state.threats)} threats, {len(state.alerts)} alerts.</p>"
            f"<ul>{rows}</ul>",
        )

    @get("/incidents/threats/{threat_id:str}/overview", media_type=MediaType.HTML, sync_to_thread=False)
    def threat_overview(threat_id: FromPath[str]) -> str:
        threat = state.threat(threat_id)
        info: dict[str, Any] = threat.info
        agent = state.agents.get(threat.agent_id)
        notes = "".join(
            f"<li><strong>{html.escape(note.creator)}</strong>: {html.escape(note.text)}</li>"
            for note in sorted(threat.notes.values(), key=lambda note: note.created_at)
        )
        return _page(
            f"Threat {info['threatName']}",
            f"<h1>{html.escape(info['threatName'])}</h1>"
            f"<p>{html.escape(info['classification'])}, {html.escape(info['confidenceLevel'])} on "
            f"{html.escape(agent['computerName'] if agent else threat.agent_id)}.</p>"
            f"<p>Status: {html.escape(info['incidentStatusDescription'])}. "
            f"Verdict: {html.escape(info['analystVerdictDescription'])}.</p>"
            f"<h2>Notes</h2><ul>{notes}</ul>",
        )

    return Router(path="/", route_handlers=[home, threat_overview])

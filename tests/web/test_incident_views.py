"""The incident and alert view: the queue filtered to connected tools, coloured by severity and SLA."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from portal.domain.accounts.models import Role
from tests.conftest import sign_in
from tests.domain.test_dashboard_figures import Estate, estate  # noqa: F401  (a fixture)


async def test_the_incident_view_lists_tool_tickets_with_their_sla_state(
    client: AsyncTestClient[Litestar],
    make_user,
    estate: Estate,  # noqa: F811
) -> None:
    admin = await make_user(Role.ADMIN)
    await sign_in(client, admin.email)
    response = await client.get("/tickets?source=security")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Incidents and alerts</h1>" in html
    assert html.count('data-testid="ticket-row"') == 2
    assert 'class="sev-row sev-row-1 sla-breached"' in html
    assert 'class="sev-row sev-row-2 sla-at_risk"' in html
    assert 'sse-connect="/live/stream?topics=tickets"' in html
    assert 'hx-get="/tickets?source=security" hx-trigger="sse:tickets, live-poll"' in html

    breached = await client.get("/tickets?sla=breached", headers={"HX-Request": "true"})
    assert breached.text.count('data-testid="ticket-row"') == 2
    assert 'aria-pressed="true" data-testid="quick-sla-breached"' in breached.text

    refused = await client.get("/tickets?sla=sometime")
    assert refused.status_code == 422

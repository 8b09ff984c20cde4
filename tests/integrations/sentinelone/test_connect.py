"""Connect: "Test connection" names the token's user and scope and reads its expiry; bad tokens say what to do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.db.base import utcnow
from portal.db.engine import session_scope
from portal.domain.access import Scope
from portal.domain.sync import health
from portal.domain.sync.connector import check_connection
from portal.integrations.errors import AuthExpired, Forbidden
from tests.integrations.sentinelone.conftest import FIXTURE, S1World


async def test_check_names_the_user_and_scope_and_stores_the_token_expiry(s1: S1World) -> None:
    async with session_scope(s1.sessionmaker) as session:
        check = await check_connection(session, s1.runtime, s1.connection_id)
    assert check.ok, check.message
    assert "Morgan Admin" in check.message
    assert "scope global" in check.message
    sites = sum(len(account.sites) for account in FIXTURE.accounts)
    assert f"sees 3 accounts and {sites} sites" in check.message
    expected = s1.state.users[FIXTURE.token.user_id].token_expires_at
    assert check.credential_expires_at == expected
    assert (await s1.connection()).credential_expires_at == expected


async def test_a_token_expiring_within_7_days_warns_on_sync_health(s1: S1World) -> None:
    async with session_scope(s1.sessionmaker) as session:
        await check_connection(session, s1.runtime, s1.connection_id)  # the fixture token has 5 days left
    async with session_scope(s1.sessionmaker) as session:
        found = await health.connection_health(session, Scope.system(), s1.connection_id)
    assert found.credential is not None
    assert found.credential.level == "warning"
    assert found.summary.health == health.HealthState.DEGRADED


async def test_a_token_with_weeks_left_does_not_warn(s1: S1World) -> None:
    s1.state.users[FIXTURE.token.user_id].token_expires_at = utcnow() + timedelta(days=40)
    async with session_scope(s1.sessionmaker) as session:
        await check_connection(session, s1.runtime, s1.connection_id)
    async with session_scope(s1.sessionmaker) as session:
        found = await health.connection_health(session, Scope.system(), s1.connection_id)
    assert found.credential is not None
    assert found.credential.level == "ok"


async def test_the_expiry_is_refreshed_by_a_sync_too(s1: S1World) -> None:
    later = utcnow() + timedelta(days=90)
    s1.state.users[FIXTURE.token.user_id].token_expires_at = later
    await s1.run("threats")
    assert (await s1.connection()).credential_expires_at == later


async def test_a_wrong_token_fails_the_check_with_what_to_do(s1: S1World) -> None:
    await s1.set_token("not-a-real-token")
    async with session_scope(s1.sessionmaker) as session:
        check = await check_connection(session, s1.runtime, s1.connection_id)
    assert not check.ok
    assert "refused the API token" in check.message
    assert "Setup tab" in check.message


async def test_an_expired_token_fails_the_sync_on_sync_health(s1: S1World) -> None:
    s1.state.users[FIXTURE.token.user_id].token_expires_at = utcnow() - timedelta(minutes=1)
    steps = await s1.run("threats")
    assert steps[-1].outcome == "failed"
    state = await s1.state_of("threats")
    assert "refused the API token" in state.last_error
    assert state.consecutive_failures == 1
    assert await s1.tickets() == []
    connection = await s1.connection()
    assert connection.status == "error"  # the connection page's banner says why
    assert "refused the API token" in connection.status_message
    async with session_scope(s1.sessionmaker) as session:
        found = await health.connection_health(session, Scope.system(), s1.connection_id)
    assert found.summary.health == health.HealthState.FAILING
    # A new token is saved: the next sync works and the connection is connected again, nothing lost.
    fresh = s1.state.create_user("Sync service", kind="service", expires_at=utcnow() + timedelta(days=180))
    await s1.set_token(fresh.token)
    client_id, _ = await s1.client_named("Everyone")
    for account in FIXTURE.accounts:
        await s1.link(client_id, account.id)
    assert (await s1.run("threats"))[-1].outcome == "finished"
    connection = await s1.connection()
    assert (connection.status, connection.status_message) == ("connected", "")
    assert len(await s1.tickets()) == len(s1.open_threats())


async def test_a_service_token_that_cannot_introspect_reads_its_expiry_from_the_user(s1: S1World) -> None:
    expires = utcnow().replace(microsecond=0) + timedelta(days=200)
    service = s1.state.create_user("Service", kind="service", expires_at=expires, introspectable=False)
    await s1.set_token(service.token)
    async with session_scope(s1.sessionmaker) as session:
        check = await check_connection(session, s1.runtime, s1.connection_id)
    assert check.ok, check.message
    assert check.credential_expires_at == expires


async def test_a_token_whose_role_cannot_see_alerts_fails_that_sync_with_which_permission(s1: S1World) -> None:
    user = s1.state.create_user("Narrow", permissions=("Threats.view", "Accounts.view", "Sites.view"))
    await s1.set_token(user.token)
    steps = await s1.run("alerts")
    assert steps[-1].outcome == "failed"
    state = await s1.state_of("alerts")
    assert "may not list alerts" in state.last_error
    assert "Custom Alerts.view" in state.last_error  # SentinelOne's own words name the permission
    api = await s1.api()
    with pytest.raises(Forbidden):
        await api.client.set_threat_status("1", "resolved")


async def test_a_wrong_token_is_refused_on_any_call(s1: S1World) -> None:
    await s1.set_token("nope")
    with pytest.raises(AuthExpired, match="refused the API token"):
        await (await s1.api()).client.current_user()


async def test_a_site_scope_token_is_told_to_use_site_matching(s1: S1World) -> None:
    site = FIXTURE.site("Seattle HQ")
    narrow = s1.state.create_user("Seattle only", kind="service", scope="site", scope_ids=[site.id])
    await s1.set_token(narrow.token)
    async with session_scope(s1.sessionmaker) as session:
        check = await check_connection(session, s1.runtime, s1.connection_id)
    assert check.ok, check.message
    assert "scope site: Seattle HQ as Admin" in check.message
    assert "sees 0 accounts and 1 site (a site-scope token: use site matching" in check.message

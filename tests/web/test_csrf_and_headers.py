"""CSRF on every unsafe request (forms and HTMX) and security headers on every response."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TEST_PASSWORD, csrf_token, sign_in


async def test_login_post_without_csrf_token_is_refused(client: AsyncTestClient[Litestar], make_user) -> None:
    user = await make_user()
    await client.get("/login")
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "Reload the page and try again" in response.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303  # not signed in


async def test_htmx_post_without_token_header_is_refused_and_with_it_accepted(
    client: AsyncTestClient[Litestar], make_user
) -> None:
    user = await make_user()
    await sign_in(client, user.email)
    refused = await client.post("/logout", headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert refused.headers["HX-Retarget"] == "#flashes"
    assert 'data-testid="error-flash"' in refused.text
    assert (await client.get("/")).status_code == 200  # still signed in

    token = await csrf_token(client, "/")
    page = await client.get("/")
    assert f'"X-CSRFToken": "{token}"' in page.text  # base.html hands htmx the token
    accepted = await client.post(
        "/logout", headers={"HX-Request": "true", "X-CSRFToken": token}, follow_redirects=False
    )
    assert accepted.status_code == 303


async def test_forged_token_is_refused(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/login")
    response = await client.post("/login", data={"email": "a@b.c", "password": "x", "_csrf_token": "forged"})
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/css/socdesk.css", "/no-such-page"])
async def test_security_headers_on_every_response(client: AsyncTestClient[Litestar], path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # plain HTTP here


async def test_unknown_page_is_a_404_page_not_a_500(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.text

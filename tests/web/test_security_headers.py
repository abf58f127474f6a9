"""Security headers (idp.server.security.ResponseHeaders, applied by idp/server/edge.py) on every response."""

from __future__ import annotations

import httpx

from tests.support.server import LiveIdp
from tests.web.conftest import browser, start_login


async def test_html_pages_get_the_strict_policy(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp)
    for path in (f"/login/{interaction.id}", "/login/expired", "/logout", "/logout/done"):
        page = await web.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in page.headers  # http issuer


async def test_other_responses_cannot_be_framed_either(web: httpx.AsyncClient) -> None:
    css = await web.get("/static/site.css")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in css.headers["content-security-policy"]
    health = await web.get("/healthz")
    assert health.headers["x-frame-options"] == "DENY"


async def test_hsts_with_an_https_issuer(live_idp_https: LiveIdp) -> None:
    async with browser(live_idp_https) as client:
        page = await client.get("/logout/done")
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")

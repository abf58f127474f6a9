"""Hardening: CSRF on every form, session rotation through the password flow, security headers
on the new pages, request size limits."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.security.flow import change_password
from tests.security.support import start_server
from tests.support.server import LiveIdp
from tests.web.conftest import browser, form_field, log_in, start_login, submit_login

IDP = Path(__file__).parents[2] / "idp"
LIMIT = 64 * 1024


def test_every_post_form_carries_a_csrf_token() -> None:
    """Audit of every template in idp/ (interaction pages, developer portal, …)."""
    forms = 0
    for template in sorted(IDP.rglob("templates/*.html")):
        html = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                forms += 1
                assert re.search(r'<input type="hidden" name="csrf" value="\{\{ csrf_token \}\}">',
                                 form), f"{template.name}: a POST form without the CSRF field"
    assert forms >= 5  # login, consent, logout, password, the portal's: the audit saw them


async def test_every_interaction_form_refuses_a_missing_token(local_idp: LiveIdp) -> None:
    username = f"csrf-{secrets.token_hex(4)}"
    await local_idp.services.directory.create_person(username, "Old-password-1")
    await local_idp.services.directory.expire_password(username)
    async with browser(local_idp) as client:
        login = await start_login(local_idp)
        await client.get(f"/login/{login.id}")  # the browser holds a CSRF cookie from here on
        assert (await client.post(f"/login/{login.id}", data={
            "username": "student", "password": "student123"})).status_code == 403

        changing = await start_login(local_idp)
        location = (await submit_login(client, changing, username, "Old-password-1")
                    ).headers["location"]
        assert (await client.post(location, data={
            "current_password": "Old-password-1", "new_password": "New-password-2",
            "new_password_again": "New-password-2"})).status_code == 403

        sid = await log_in(local_idp, client)
        consent = await start_login(local_idp, page="consent", sid=sid)
        await client.get(f"/consent/{consent.id}")
        assert (await client.post(f"/consent/{consent.id}", data={
            "decision": "allow"})).status_code == 403

        asked = await client.get("/logout")
        assert (await client.post("/logout", data={
            "confirm_id": form_field(asked.text, "confirm_id")})).status_code == 403
        assert await local_idp.services.sessions.get(sid) is not None  # still signed in


async def test_the_session_id_rotates_through_the_password_flow(local_idp: LiveIdp) -> None:
    username = f"rotate-{secrets.token_hex(4)}"
    await local_idp.services.directory.create_person(username, "Old-password-1")
    await local_idp.services.directory.require_password_change(username)
    async with browser(local_idp) as client:
        before = await log_in(local_idp, client, username="teacher", password="teacher123")
        interaction = await start_login(local_idp)
        location = (await submit_login(client, interaction, username, "Old-password-1")
                    ).headers["location"]
        changed = await change_password(client, location, "Old-password-1", "New-password-22")
        assert changed.status_code == 303
        after = client.cookies.get(local_idp.settings.session.cookie_name)
    assert after and after != before
    assert await local_idp.services.sessions.get(before) is None
    assert (await local_idp.services.sessions.get(after)).username == username  # type: ignore[union-attr]


async def test_the_password_pages_get_the_strict_headers(local_idp: LiveIdp) -> None:
    username = f"headers-{secrets.token_hex(4)}"
    await local_idp.services.directory.create_person(username, "Old-password-1")
    await local_idp.services.directory.expire_password(username)
    async with browser(local_idp) as client:
        interaction = await start_login(local_idp)
        location = (await submit_login(client, interaction, username, "Old-password-1")
                    ).headers["location"]
        page = await client.get(location)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert 'autocomplete="new-password"' in page.text


@pytest.fixture(scope="module")
async def https_idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    live = await start_server(tmp_path_factory.mktemp("https-idp"), issuer_scheme="https",
                              directory="local", redis_url=None)
    yield live
    await live.stop()


async def test_hsts_and_secure_cookies_on_https(https_idp: LiveIdp) -> None:
    async with browser(https_idp) as client:
        interaction = await start_login(https_idp)
        page = await client.get(f"/login/{interaction.id}")
        refused = await client.post("/token", content=b"x" * (LIMIT + 1),
                                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-idp_csrf=")
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= {
        part.strip().lower() for part in cookie.split(";")}
    assert refused.status_code == 413 and "strict-transport-security" in refused.headers


def _form_of(size: int) -> bytes:
    return b"grant_type=authorization_code&code=" + b"a" * (size - 35)


async def test_large_bodies_are_refused_with_a_readable_413(local_idp: LiveIdp) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with browser(local_idp) as client:
        token = await client.post("/token", content=_form_of(LIMIT + 1), headers=form)
        assert token.status_code == 413
        assert token.json() == {"error": "invalid_request",
                                "error_description": f"The request body is larger than {LIMIT} bytes."}
        page = await client.post("/login/whatever", content=_form_of(2 * LIMIT),
                                 headers={**form, "accept": "text/html", "accept-language": "en"})
        assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
        assert f"larger than this server accepts ({LIMIT} bytes)" in page.text

        async def chunks():  # noqa: ANN202 - no Content-Length: counted as it arrives
            for _ in range(LIMIT // 8192 + 1):  # just over: the server has it all when it says no
                yield b"a" * 8192

        chunked = await client.post("/token", content=chunks(), headers=form)
        assert chunked.status_code == 413
        under = await client.post("/token", content=_form_of(LIMIT - 100), headers=form)
        assert under.status_code in (400, 401)  # an OAuth error about the content, not its size
        bulk = await client.post("/admin/api/imports", content=b"a" * (LIMIT * 4),
                                 headers={"content-type": "text/csv"})
        assert bulk.status_code != 413  # the bulk intake may send a whole year's CSV

"""Login POST: CSRF, form checks, directory answers, session cookie and rotation, audit."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent
from tests.support.server import LiveIdp
from tests.web.conftest import (
    browser,
    error_message,
    form_field,
    log_in,
    start_login,
    submit_login,
)


class CountingDirectory:
    """The real directory, counting authenticate calls (to prove one was never made)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    async def authenticate(self, username: str, password: str) -> Any:
        self.calls += 1
        return await self.real.authenticate(username, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
async def counting(live_idp: LiveIdp) -> AsyncIterator[CountingDirectory]:
    real = live_idp.services.directory
    counter = CountingDirectory(real)
    live_idp.services.directory = counter  # type: ignore[assignment]
    try:
        yield counter
    finally:
        live_idp.services.directory = real


async def audit_events(live: LiveIdp, actor: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "login", AuditEvent.actor == actor).order_by(AuditEvent.id))
        return list(rows.scalars())


async def new_person(live: LiveIdp, password: str = "Correct-horse-1") -> str:
    username = f"user-{secrets.token_hex(4)}"
    await live.services.directory.create_person(username, password, name="Test Person")
    return username


async def test_success_sets_the_session_and_returns_to_the_engine(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    signin = await start_login(live_idp, app_id="course-app")
    response = await submit_login(web, signin, "Student", "student123")
    assert response.status_code == 303
    assert response.headers["location"] == signin.resume
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(live_idp.settings.session.cookie_name + "="))
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # the issuer is http
    sid = web.cookies.get(live_idp.settings.session.cookie_name)
    session = await live_idp.services.sessions.get(sid)
    assert session is not None and session.username == "student"  # as the directory spells it
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.sid == sid and isinstance(saved.extra["login_at"], int)
    events = await audit_events(live_idp, "student")
    assert events[-1].outcome == "success" and events[-1].client_id == "course-app"
    assert events[-1].ip and events[-1].ip.startswith("10.")


async def test_cookie_is_secure_with_an_https_issuer(live_idp_https: LiveIdp) -> None:
    live = live_idp_https
    signin = await start_login(live)
    async with browser(live) as client:
        page = await client.get(f"/login/{signin.id}")
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith("__Host-idp_csrf=") and "secure" in csrf_cookie.lower()
        token = form_field(page.text, "csrf")
        # the socket is plain HTTP, so the jar would hold back a Secure cookie: send it by hand
        response = await client.post(
            f"/login/{signin.id}",
            data={"csrf": token, "username": "student", "password": "student123"},
            headers={"cookie": f"__Host-idp_csrf={token}"},
        )
    assert response.status_code == 303, response.text
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(live.settings.session.cookie_name + "="))
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)


async def test_session_id_is_rotated_at_login(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    first = await log_in(live_idp, web)
    second = await log_in(live_idp, web)
    assert first != second
    assert await live_idp.services.sessions.get(first) is None
    assert await live_idp.services.sessions.get(second) is not None


async def test_same_person_keeps_the_apps_of_the_old_session(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    first = await log_in(live_idp, web)
    await live_idp.services.sessions.add_client(first, "library-app")
    second = await log_in(live_idp, web)
    assert await live_idp.services.sessions.clients(second) == {"library-app"}


@pytest.mark.parametrize("token", [None, "", "x" * 43, "not-even-the-right-length"])
async def test_missing_or_wrong_csrf_is_refused_without_a_session(
    live_idp: LiveIdp, web: httpx.AsyncClient, counting: CountingDirectory, token: str | None,
) -> None:
    signin = await start_login(live_idp)
    await web.get(f"/login/{signin.id}")
    data = {"username": "student", "password": "student123"}
    if token is not None:
        data["csrf"] = token
    response = await web.post(f"/login/{signin.id}", data=data,
                              headers={"accept-language": "en"})
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert live_idp.settings.session.cookie_name not in response.headers.get("set-cookie", "")
    assert web.cookies.get(live_idp.settings.session.cookie_name) is None
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.sid is None
    assert counting.calls == 0


async def test_token_of_another_browser_is_refused(live_idp: LiveIdp) -> None:
    """Login CSRF: the attacker's own token, pushed through the victim's browser, fails."""
    signin = await start_login(live_idp)
    async with browser(live_idp) as attacker, browser(live_idp) as victim:
        page = await attacker.get(f"/login/{signin.id}")
        token = form_field(page.text, "csrf")
        await victim.get("/logout/done")  # the victim has a cookie jar but not this token
        response = await victim.post(f"/login/{signin.id}", data={
            "csrf": token, "username": "student", "password": "student123"})
    assert response.status_code == 403


async def test_empty_fields_never_reach_the_directory(
    live_idp: LiveIdp, web: httpx.AsyncClient, counting: CountingDirectory,
) -> None:
    signin = await start_login(live_idp, ui_locales="en")
    for username, password in (("student", ""), ("", "student123"), ("   ", "x")):
        response = await submit_login(web, signin, username, password)
        assert response.status_code == 400
        assert error_message(response.text) == "Enter your username and password."
    assert counting.calls == 0
    assert web.cookies.get(live_idp.settings.session.cookie_name) is None


async def test_wrong_password_and_unknown_user_look_the_same(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    signin = await start_login(live_idp)
    wrong = await submit_login(web, signin, "teacher", "not-the-password")
    unknown = await submit_login(web, signin, f"nobody-{secrets.token_hex(3)}", "whatever")
    assert wrong.status_code == unknown.status_code == 401
    assert error_message(wrong.text) == error_message(unknown.text) == "用户名或密码错误"
    # the form comes back with the typed name, never the password
    assert 'value="teacher"' in wrong.text and "not-the-password" not in wrong.text
    events = await audit_events(live_idp, "teacher")
    assert events[-1].outcome == "invalid_credentials"


async def test_english_wrong_password_message(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    signin = await start_login(live_idp, ui_locales="en")
    response = await submit_login(web, signin, "teacher", "nope")
    assert error_message(response.text) == "Wrong username or password"


@pytest.mark.parametrize(("state", "message"), [
    ("lock", "This account is locked"),
    ("set_disabled", "This account is disabled"),
])
async def test_account_states_get_their_own_clear_message(
    live_idp: LiveIdp, web: httpx.AsyncClient, state: str, message: str,
) -> None:
    username = await new_person(live_idp)
    await getattr(live_idp.services.directory, state)(username)
    signin = await start_login(live_idp, ui_locales="en")
    response = await submit_login(web, signin, username, "Correct-horse-1")
    assert response.status_code == 403
    assert error_message(response.text).startswith(message)
    assert web.cookies.get(live_idp.settings.session.cookie_name) is None
    events = await audit_events(live_idp, username)
    assert events[-1].outcome not in ("success", "invalid_credentials")


@pytest.mark.parametrize(("state", "outcome"), [
    ("expire_password", "password_expired"),
    ("require_password_change", "must_change_password"),
])
async def test_password_states_lead_to_the_change_page(
    live_idp: LiveIdp, web: httpx.AsyncClient, state: str, outcome: str,
) -> None:
    """Issue 6: the right password that must be changed goes to /password/{id} (the flow itself
    is tested in tests/security/test_password_*.py), without a session yet."""
    username = await new_person(live_idp)
    await getattr(live_idp.services.directory, state)(username)
    signin = await start_login(live_idp, ui_locales="zh")
    response = await submit_login(web, signin, username, "Correct-horse-1")
    assert response.status_code == 303
    assert response.headers["location"] == f"/password/{signin.id}"
    assert web.cookies.get(live_idp.settings.session.cookie_name) is None
    page = await web.get(response.headers["location"])
    assert ("您的密码已过期" if state == "expire_password" else "您需要先修改密码") in page.text
    events = await audit_events(live_idp, username)
    assert events[-1].outcome == outcome


async def test_unreachable_directory_is_a_503_page(tmp_path) -> None:  # noqa: ANN001
    from tests.support.server import start_idp

    live = await start_idp(
        database_url=f"sqlite:///{tmp_path}/idp.db", keys_dir=tmp_path / "keys",
        directory="ldap", ldap={"url": "ldap://127.0.0.1:9", "user_base": "dc=example,dc=edu",
                                "network_timeout": 1, "timeout": 1},
    )
    try:
        signin = await start_login(live, ui_locales="en")
        async with browser(live) as client:
            response = await submit_login(client, signin, "student", "student123")
        assert response.status_code == 503
        assert "Sign-in is temporarily unavailable" in response.text
    finally:
        await live.stop()

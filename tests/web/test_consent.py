"""The consent page: the app, each scope in words, the claims it releases; allow or deny."""

from __future__ import annotations

import httpx

from tests.support.server import LiveIdp
from tests.web.conftest import form_field, log_in, start_login


async def _consent(live: LiveIdp, sid: str | None = None, **fields: object):  # noqa: ANN202
    """A consent signin as /authorize leaves it: bound to the session it saw."""
    return await start_login(live, page="consent", app_name="图书馆 Library",
                             scopes=["openid", "email", "campus"], sid=sid, **fields)


async def test_consent_page_describes_scopes_and_claims(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    sid = await log_in(live_idp, web)
    signin = await _consent(live_idp, sid, ui_locales="en")
    page = await web.get(f"/consent/{signin.id}")
    assert page.status_code == 200
    assert "Library would like to receive" in page.text
    assert "Signed in as student" in page.text
    assert 'data-scope="email"' in page.text and "Your email address" in page.text
    assert "whether the email is verified" in page.text  # a claim email releases
    assert "student/staff number, department, title" in page.text  # campus claims
    assert 'data-scope="profile"' not in page.text
    zh = await web.get(f"/consent/{signin.id}?ui_locales=zh")
    assert "您的电子邮箱地址" in zh.text and "学号/工号、院系/部门、职务" in zh.text


async def test_allow_grants_the_scopes(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    sid = await log_in(live_idp, web)
    signin = await _consent(live_idp, sid)
    page = await web.get(f"/consent/{signin.id}")
    response = await web.post(f"/consent/{signin.id}", data={
        "csrf": form_field(page.text, "csrf"), "decision": "allow"})
    assert response.status_code == 303
    assert response.headers["location"] == signin.resume
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.granted_scopes == ["openid", "email", "campus"]
    assert not saved.denied
    session = await live_idp.services.sessions.get(sid)
    assert session is not None and saved.extra["consent_subject"] == session.subject
    assert saved.sid == sid  # consent is not a fresh login: the engine's sid stays


async def test_deny(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    sid = await log_in(live_idp, web)
    signin = await _consent(live_idp, sid)
    page = await web.get(f"/consent/{signin.id}")
    response = await web.post(f"/consent/{signin.id}", data={
        "csrf": form_field(page.text, "csrf"), "decision": "deny"})
    assert response.status_code == 303
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.denied and saved.granted_scopes is None


async def test_consent_without_csrf_changes_nothing(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    sid = await log_in(live_idp, web)
    signin = await _consent(live_idp, sid)
    await web.get(f"/consent/{signin.id}")
    response = await web.post(f"/consent/{signin.id}", data={"decision": "allow"})
    assert response.status_code == 403
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.granted_scopes is None and not saved.denied


async def test_consent_needs_a_session(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    signin = await _consent(live_idp, ui_locales="en")
    page = await web.get(f"/consent/{signin.id}")
    assert page.status_code == 400 and "Your session has expired" in page.text


async def test_consent_belongs_to_the_session_the_engine_saw(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    first = await log_in(live_idp, web)
    signin = await _consent(live_idp, first, ui_locales="en")
    page = await web.get(f"/consent/{signin.id}")
    await log_in(live_idp, web, "teacher", "teacher123")  # someone else signs in meanwhile
    response = await web.post(f"/consent/{signin.id}", data={
        "csrf": form_field(page.text, "csrf"), "decision": "allow"})
    assert response.status_code == 400 and "Your session has expired" in response.text
    saved = await live_idp.services.signins.get(signin.id)
    assert saved is not None and saved.granted_scopes is None


async def test_login_interaction_at_consent_url_goes_to_login(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    signin = await start_login(live_idp)
    response = await web.get(f"/consent/{signin.id}")
    assert response.status_code == 303 and response.headers["location"] == f"/login/{signin.id}"

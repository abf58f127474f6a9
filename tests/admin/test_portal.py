"""The developer portal over real HTTP: sign-in through the real login form, access by group,
registering and editing apps with CSRF-protected forms, secret rotation with a grace period,
the claims preview and the quick-start snippets."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from idp.admin.portal_auth import PORTAL
from idp.db.models import AuditEvent, Client
from idp.sso.apps import get_client, invalidate_client
from tests.admin.conftest_registration import csrf_of, live_fixture, portal_login  # noqa: F401
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, tokens_for
from tests.support.server import LiveIdp

PORTAL_CLIENT_ID = PORTAL.client_id


@pytest.fixture
async def developer(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = await portal_login(live, "developer", "developer123")
    yield browser
    await browser.close()


def code_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]+)<', page)
    assert match, f"no #{element_id} in the page:\n{page[:3000]}"
    return html.unescape(match.group(1)).strip()


def app_form(csrf: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf": csrf, "name": "Library seats 图书馆座位", "app_type": "confidential",
        "redirect_uris": REDIRECT, "post_logout_redirect_uris": "https://rp.example.edu/bye",
        "backchannel_logout_uri": "https://rp.example.edu/backchannel",
        "scope": ["openid", "profile", "email", "offline_access"],
    }
    data.update(fields)
    return data


async def register_app(browser: Browser, **fields: object) -> tuple[str, str | None, str]:
    """Through the form; returns (client_id, secret shown once, the result page)."""
    form = await browser.http.get("/portal/apps/new")
    assert form.status_code == 200, form.text
    response = await browser.http.post("/portal/apps/new", data=app_form(csrf_of(form.text),
                                                                         **fields))
    assert response.status_code == 201, response.text
    secret = code_of(response.text, "client_secret") if 'id="client_secret"' in response.text \
        else None
    return code_of(response.text, "client_id"), secret, response.text


async def test_without_a_session_the_portal_sends_the_browser_to_log_in(
        live: LiveIdp) -> None:
    async with live.client() as http:
        first = await http.get("/portal/apps/new?x=1")
        assert first.status_code == 303
        assert first.headers["location"] == "/portal/login?next=%2Fportal%2Fapps%2Fnew%3Fx%3D1"
        login = await http.get(first.headers["location"])
    assert login.status_code == 303
    target = urlsplit(login.headers["location"])
    params = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert target.path == "/authorize"
    assert params["client_id"] == PORTAL_CLIENT_ID
    assert params["redirect_uri"] == f"{live.settings.issuer}/portal/callback"
    assert params["code_challenge_method"] == "S256" and params["state"]
    portal = await get_client(live.services.db, PORTAL_CLIENT_ID)
    assert portal is not None and portal.skip_consent and portal.status == "active"


async def test_login_returns_to_the_page_asked_for(live: LiveIdp) -> None:
    browser = Browser.open(live)
    try:
        first = await browser.http.get("/portal/apps/new")
        arrived = await browser.walk(first, username="developer", password="developer123")
        assert "login" in browser.pages and "consent" not in browser.pages  # first-party
        back = await browser.http.get(arrived.headers["location"])
        assert back.status_code == 303 and back.headers["location"] == "/portal/apps/new"
        page = await browser.http.get("/portal/apps/new")
        assert page.status_code == 200 and 'name="redirect_uris"' in page.text
    finally:
        await browser.close()


async def test_a_forged_callback_cannot_redirect_elsewhere(live: LiveIdp) -> None:
    async with live.client() as http:
        response = await http.get("/portal/callback?state=forged&code=x")
    assert response.status_code == 303 and response.headers["location"] == "/portal"


async def test_non_developers_get_a_readable_403(live: LiveIdp) -> None:
    browser = await portal_login(live, "student", "student123")
    try:
        page = await browser.http.get("/portal")
        assert page.status_code == 403
        assert "idp-developers" in page.text and "<h1>" in page.text
        assert (await browser.http.get("/portal/apps/new")).status_code == 403
    finally:
        await browser.close()


async def test_admins_get_in(live: LiveIdp) -> None:
    browser = await portal_login(live, "itadmin", "itadmin123")
    try:
        assert (await browser.http.get("/portal")).status_code == 200
    finally:
        await browser.close()


async def test_register_an_app_asking_for_campus_scopes_is_pending(
        live: LiveIdp, developer: Browser) -> None:
    client_id, secret, page = await register_app(
        developer, scope=["openid", "profile", "campus"],
        reason_campus="show the student number on the seat booking")
    assert secret and 'data-status="pending"' in page

    home = await developer.http.get("/portal")
    assert client_id in home.text
    row = re.search(rf'{client_id}.*?data-status="(\w+)"', home.text, re.S)
    assert row and row.group(1) == "pending"

    client = await get_client(live.services.db, client_id)
    assert client is not None and client.status == "pending"
    assert client.scopes == ["openid", "profile", "campus"]
    assert client.extra["scope_reasons"] == {"campus": "show the student number on the seat "
                                                       "booking"}
    assert client.backchannel_logout_uri == "https://rp.example.edu/backchannel"
    assert client.post_logout_redirect_uris == ["https://rp.example.edu/bye"]
    person = await live.services.directory.find("developer")
    assert person is not None and client.owner == person.subject

    async with live.client() as http:
        refused = await http.post("/token", data={"grant_type": "authorization_code",
                                                  "code": "x", "redirect_uri": REDIRECT},
                                  auth=(client_id, secret))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_basic_scopes_are_active_at_once(live: LiveIdp, developer: Browser) -> None:
    client_id, secret, page = await register_app(developer)
    assert 'data-status="active"' in page
    client = await get_client(live.services.db, client_id)
    assert client is not None
    tokens = await tokens_for(live, RegisteredClient(client, secret))
    assert tokens["id_token"]


async def test_a_scope_needing_approval_needs_a_reason(live: LiveIdp,
                                                       developer: Browser) -> None:
    before = await _count_clients(live)
    form = await developer.http.get("/portal/apps/new")
    response = await developer.http.post("/portal/apps/new", data=app_form(
        csrf_of(form.text), scope=["openid", "groups"]))
    assert response.status_code == 400
    assert "groups" in response.text and 'role="alert"' in response.text
    assert await _count_clients(live) == before


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "http://rp.example.edu/cb"])
async def test_bad_redirect_uris_are_shown_on_the_form(live: LiveIdp, developer: Browser,
                                                      uri: str) -> None:
    before = await _count_clients(live)
    form = await developer.http.get("/portal/apps/new")
    response = await developer.http.post("/portal/apps/new", data=app_form(
        csrf_of(form.text), redirect_uris=uri))
    assert response.status_code == 400
    assert "must use https" in response.text
    assert html.escape(uri) in response.text  # what was typed is kept on the form
    assert await _count_clients(live) == before


async def test_forms_need_the_csrf_token(live: LiveIdp, developer: Browser) -> None:
    before = await _count_clients(live)
    for csrf in (None, "x" * 43, "wrong"):
        data = app_form(csrf or "")
        if csrf is None:
            data.pop("csrf")
        response = await developer.http.post("/portal/apps/new", data=data)
        assert response.status_code == 403, response.text
    assert await _count_clients(live) == before


async def _count_clients(live: LiveIdp) -> int:
    async with live.services.db() as db:
        return len((await db.execute(select(Client.client_id))).all())


async def test_rotated_secret_and_old_secret_both_work_during_the_grace_period(
        live: LiveIdp, developer: Browser) -> None:
    client_id, old_secret, _ = await register_app(developer)
    assert old_secret
    app = await developer.http.get(f"/portal/apps/{client_id}")
    rotated = await developer.http.post(f"/portal/apps/{client_id}/secret",
                                        data={"csrf": csrf_of(app.text)})
    assert rotated.status_code == 200, rotated.text
    new_secret = code_of(rotated.text, "client_secret")
    assert new_secret != old_secret
    row = await get_client(live.services.db, client_id)
    assert row is not None and row.previous_secret_expires is not None
    grace = row.previous_secret_expires - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < grace <= timedelta(days=7)

    for secret in (new_secret, old_secret):
        tokens = await tokens_for(live, RegisteredClient(row, secret))
        assert tokens["access_token"]

    async with live.services.db() as db, db.begin():  # the grace period ends
        await db.execute(update(Client).where(Client.client_id == client_id).values(
            previous_secret_expires=datetime.now(UTC) - timedelta(seconds=1)))
    invalidate_client(live.services.db, client_id)
    async with live.client() as http:
        old = await http.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                              "redirect_uri": REDIRECT},
                              auth=(client_id, old_secret))
        new = await http.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                              "redirect_uri": REDIRECT},
                              auth=(client_id, new_secret))
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    assert new.status_code == 400 and new.json()["error"] == "invalid_grant"  # authenticated


async def test_claims_preview_shows_the_developers_own_values(developer: Browser) -> None:
    """The rules of who and what (test people, approved scopes, audit) are in
    test_portal_preview.py; here, the form and what it shows by default: oneself."""
    client_id, _, _ = await register_app(developer, scope=["openid", "profile", "email"])
    app = await developer.http.get(f"/portal/apps/{client_id}")
    assert 'name="username" value="developer"' in app.text
    preview = await developer.http.post(f"/portal/apps/{client_id}/preview",
                                        data={"csrf": csrf_of(app.text), "username": "developer"})
    assert preview.status_code == 200, preview.text
    claims = code_of(preview.text, "claims")
    assert '"name": "赵敏"' in claims
    assert '"email": "developer@example.edu"' in claims
    assert '"preferred_username": "developer"' in claims
    assert "groups" not in claims  # no groups scope asked for


async def test_snippets_carry_the_apps_real_values(live: LiveIdp,
                                                   developer: Browser) -> None:
    client_id, secret, _ = await register_app(developer)
    page = await developer.http.get(f"/portal/apps/{client_id}")
    for key in ("python", "node", "java"):
        snippet = _snippet(page.text, key)
        assert client_id in snippet, key
        assert live.settings.issuer in snippet, key
        assert REDIRECT in snippet, key
        assert "openid profile email offline_access" in snippet \
            or "openid,profile,email,offline_access" in snippet, key
        assert secret is not None and secret not in snippet  # never embedded
    assert "client.discovery(" in _snippet(page.text, "node")
    assert "issuer-uri:" in _snippet(page.text, "java")
    assert "oauth.register(" in _snippet(page.text, "python")


def _snippet(page: str, key: str) -> str:
    match = re.search(rf'<pre id="snippet-{key}"><code[^>]*>(.*?)</code></pre>', page, re.S)
    assert match, f"no {key} snippet"
    return html.unescape(match.group(1))


async def test_edit_an_app_and_ask_for_more(live: LiveIdp, developer: Browser) -> None:
    client_id, _, _ = await register_app(developer)
    form = await developer.http.get(f"/portal/apps/{client_id}/edit")
    assert form.status_code == 200 and "Library seats" in form.text
    response = await developer.http.post(f"/portal/apps/{client_id}/edit", data=app_form(
        csrf_of(form.text), name="Renamed app",
        redirect_uris=f"{REDIRECT}\nhttps://rp.example.edu/cb2",
        scope=["openid", "profile", "groups"], reason_groups="seat rules per group"))
    assert response.status_code == 303
    assert response.headers["location"] == f"/portal/apps/{client_id}?saved=1"
    client = await get_client(live.services.db, client_id)
    assert client is not None
    assert client.name == "Renamed app" and client.status == "pending"
    assert client.redirect_uris == [REDIRECT, "https://rp.example.edu/cb2"]
    assert client.token_endpoint_auth_method == "client_secret_basic"  # kept


async def test_someone_elses_app_is_not_found(live: LiveIdp, developer: Browser) -> None:
    client_id, _, _ = await register_app(developer)
    other = await portal_login(live, "itadmin", "itadmin123")
    try:
        assert (await other.http.get(f"/portal/apps/{client_id}")).status_code == 404
        response = await other.http.post(f"/portal/apps/{client_id}/secret", data={"csrf": ""})
        assert response.status_code == 404
        assert client_id not in (await other.http.get("/portal")).text
    finally:
        await other.close()


async def test_developer_actions_are_audited(live: LiveIdp, developer: Browser) -> None:
    client_id, _, _ = await register_app(developer)
    app = await developer.http.get(f"/portal/apps/{client_id}")
    await developer.http.post(f"/portal/apps/{client_id}/secret", data={"csrf": csrf_of(app.text)})
    await developer.http.post(f"/portal/apps/{client_id}/preview",
                              data={"csrf": csrf_of(app.text), "username": "developer"})
    async with live.services.db() as db:
        events = (await db.execute(select(AuditEvent).where(
            AuditEvent.client_id == client_id).order_by(AuditEvent.id))).scalars().all()
    assert [(e.kind, e.actor, e.detail["action"]) for e in events] == [
        ("developer", "developer", "register"), ("developer", "developer", "rotate_secret"),
        ("developer", "developer", "claims_preview")]
    assert events[2].detail["target"] == "developer"


async def test_the_portal_speaks_english_on_request(developer: Browser) -> None:
    english = await developer.http.get("/portal?ui_locales=en")
    assert "My apps" in english.text
    assert "My apps" in (await developer.http.get("/portal")).text  # remembered
    chinese = await developer.http.get("/portal?ui_locales=zh")
    assert "我的应用" in chinese.text


async def test_the_app_form_sets_the_card_of_the_app_portal(live: LiveIdp,
                                                            developer: Browser) -> None:
    client_id, _, _ = await register_app(developer, home_url="https://seats.example.edu/",
                                         description="图书馆座位预约")
    client = await get_client(live.services.db, client_id)
    assert client is not None
    assert client.extra["client_uri"] == "https://seats.example.edu/"
    assert client.extra["description"] == "图书馆座位预约"
    form = await developer.http.get(f"/portal/apps/{client_id}/edit")
    assert 'value="https://seats.example.edu/"' in form.text
    saved = await developer.http.post(f"/portal/apps/{client_id}/edit", data=app_form(
        csrf_of(form.text), home_url="", description=""))
    assert saved.status_code == 303, saved.text
    invalidate_client(live.services.db, client_id)
    client = await get_client(live.services.db, client_id)
    assert client is not None and "client_uri" not in client.extra
    assert "description" not in client.extra

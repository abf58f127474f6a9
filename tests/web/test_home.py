"""The app portal at / over real HTTP: signed out it offers the sign-in; signed in it shows a
card for every active app with a home page that the person's access rule allows, most recently
used first, with a search; the admin API sets an app's card."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from idp.admin.service_clients import set_access_rule, set_card
from idp.db.models import AuditEvent, Client
from idp.protocols.cas.registry import create_service
from idp.protocols.oidc.clients import create_client
from idp.sso.access import AccessRule
from tests.admin.conftest_registration import live_fixture  # noqa: F401
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


async def _app(live: LiveIdp, name: str, *, home: str | None = "auto", protocol: str = "oidc",
               status: str = "active", description: str = "") -> Client:
    host = f"{secrets.token_hex(4)}.example.edu"
    if protocol == "cas":
        client = await create_service(live.services.db, name=name,
                                      services=[f"https://{host}/cas"], status=status)
    else:
        client, _ = await create_client(live.services.db, name=name,
                                        redirect_uris=[f"https://{host}/cb"])
        if status != "active":
            async with live.services.db() as db, db.begin():
                row = await db.get(Client, client.client_id)
                assert row is not None
                row.status = status
    card: dict[str, str | None] = {"description": description or None}
    if home:
        card["client_uri"] = f"https://{host}/" if home == "auto" else home
    await set_card(live.services.db, client.client_id, card)
    return client


@pytest.fixture
async def student(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = Browser.open(live)
    first = await browser.http.get("/apps")
    assert first.status_code == 303, first.text
    arrived = await browser.walk(first, username="student", password="student123")
    assert arrived.status_code == 302, arrived.text
    back = await browser.http.get(arrived.headers["location"])
    assert back.status_code == 303 and back.headers["location"] == "/apps"
    yield browser
    await browser.close()


def _shown(page: str, *apps: Client) -> list[bool]:
    return [f'data-client-id="{app.client_id}"' in page for app in apps]


async def test_signed_out_the_front_door_offers_the_sign_in(live: LiveIdp) -> None:
    async with live.client() as http:
        page = await http.get("/")
        icon = await http.get("/favicon.ico")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'href="/apps/login"' in page.text and 'rel="icon"' in page.text
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")


async def test_the_cards_follow_status_home_page_and_access_rule(
        live: LiveIdp, student: Browser) -> None:
    library = await _app(live, "图书馆 Library", description="借阅与续借")
    jw = await _app(live, "教务系统", protocol="cas")
    staff_only = await _app(live, "人事系统")
    await set_access_rule(live.services.db, staff_only.client_id, AccessRule(("staff",), ()))
    students_only = await _app(live, "学工系统")
    await set_access_rule(live.services.db, students_only.client_id,
                          AccessRule((), ("student",)))
    no_home = await _app(live, "接口平台", home=None)
    disabled = await _app(live, "旧系统", status="disabled")

    for path in ("/", "/apps"):
        page = await student.http.get(path)
        assert page.status_code == 200, page.text
        assert _shown(page.text, library, jw, students_only) == [True, True, True]
        assert _shown(page.text, staff_only, no_home, disabled) == [False, False, False]
        assert "借阅与续借" in page.text and 'id="sign-out"' in page.text
        assert 'href="/account"' in page.text and "张三" in page.text


async def test_recently_used_first_and_search(live: LiveIdp, student: Browser) -> None:
    tag = secrets.token_hex(3)
    older = await _app(live, f"A 财务 {tag}")
    newer = await _app(live, f"B 财务 {tag}")
    never = await _app(live, f"0 财务 {tag}")
    me = await live.services.directory.find("student")
    assert me is not None
    now = datetime.now(UTC)
    async with live.services.db() as db, db.begin():
        db.add_all([
            AuditEvent(kind="token", outcome="success", actor=me.subject,
                       client_id=older.client_id, at=now - timedelta(days=2),
                       detail={"grant": "authorization_code"}),
            AuditEvent(kind="cas", outcome="ticket_issued", actor=me.username,
                       client_id=newer.client_id, at=now - timedelta(hours=1), detail={}),
            AuditEvent(kind="token", outcome="invalid_grant", actor=me.subject,
                       client_id=never.client_id, at=now, detail={}),
        ])
    page = await student.http.get("/apps", params={"q": f"财务 {tag}"})
    order = [page.text.index(f'data-client-id="{c.client_id}"') for c in (newer, older, never)]
    assert order == sorted(order), "recently used first, then the rest by name"
    assert page.text.count('class="recent"') == 2
    nothing = await student.http.get("/apps", params={"q": "no-such-app-" + tag})
    assert 'data-client-id="' not in nothing.text and 'id="none"' in nothing.text


async def test_the_admin_api_sets_and_clears_a_card(live: LiveIdp) -> None:
    from idp.admin import service_clients
    from idp.admin.service_common import Actor, Invalid

    app = await _app(live, "OA 办公", home=None)
    actor = Actor(username="itadmin", via="api")
    edited = await service_clients.edit(live.services, actor, app.client_id, {
        "home_url": "https://oa.example.edu/", "description": "公文与审批"})
    assert edited.extra["client_uri"] == "https://oa.example.edu/"
    assert edited.extra["description"] == "公文与审批"
    with pytest.raises(Invalid, match="https"):
        await service_clients.edit(live.services, actor, app.client_id,
                                   {"icon_url": "javascript:alert(1)"})
    cleared = await service_clients.edit(live.services, actor, app.client_id, {"home_url": ""})
    assert "client_uri" not in cleared.extra and cleared.extra["description"] == "公文与审批"


async def test_an_apps_live_refresh_tokens_leave_out_expired_revoked_and_rotated(
        live: LiveIdp) -> None:
    """The console's count of an app's refresh tokens (service_clients.active_refresh_tokens):
    a family refreshed twice is one live token, not three."""
    from idp.admin.service_clients import active_refresh_tokens
    from idp.db.models import RefreshToken

    app = await _app(live, "统计 Stats")
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    async with live.services.db() as db, db.begin():
        for n, (expires, revoked, rotated) in enumerate((
                (later, None, None), (now - timedelta(minutes=1), None, None), (later, now, None),
                (later, None, now - timedelta(minutes=2)), (later, None, now - timedelta(minutes=1)),
                (later, None, None))):
            db.add(RefreshToken(digest=secrets.token_hex(32), family_id=f"f{min(n, 3)}",
                                client_id=app.client_id, subject="s", scope="openid",
                                expires_at=expires, revoked_at=revoked, rotated_at=rotated))
    assert await active_refresh_tokens(live.services, app.client_id) == 2

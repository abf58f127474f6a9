"""The way in (a link on the login page) while activation is on, and a readable 404 while it is
off (IDP_ACTIVATION_FACTS empty, the default)."""

from __future__ import annotations

import httpx

from tests.support.server import LiveIdp


async def login_page(http: httpx.AsyncClient, locale: str) -> str:
    """The login page the account page sends a signed-out browser to."""
    response = await http.get(f"/account?ui_locales={locale}")
    for _ in range(5):
        location = response.headers.get("location", "")
        if location.startswith("/login/"):
            page = await http.get(location)
            assert page.status_code == 200
            return page.text
        assert response.status_code in (302, 303), response.text
        response = await http.get(location)
    raise AssertionError("no login page")


async def test_the_login_page_links_to_activation(activation_local_sqlite: LiveIdp) -> None:
    async with activation_local_sqlite.client(headers={"Accept-Language": "zh-CN"}) as http:
        zh = await login_page(http, "zh")
    async with activation_local_sqlite.client(headers={"Accept-Language": "en"}) as http:
        en = await login_page(http, "en")
    assert 'href="/activate?ui_locales=zh">新生激活</a>' in zh
    assert 'href="/activate?ui_locales=en">Activate your account</a>' in en


async def test_off_by_default_with_a_readable_404(live_idp: LiveIdp) -> None:
    assert live_idp.settings.activation.facts == []
    async with live_idp.client(headers={"Accept-Language": "en"}) as http:
        page = await http.get("/activate")
        posted = await http.post("/activate", data={"username": "student", "fact_0": "x"})
        step = await http.post("/activate/password", data={"ticket": "x" * 43})
        login = await login_page(http, "en")
    assert page.status_code == posted.status_code == step.status_code == 404
    assert "Account activation is not offered" in page.text
    assert "Ask the IT service desk" in page.text
    assert "/activate" not in login

"""The login page: language choice, phone layout, page chrome, expired links."""

from __future__ import annotations

import httpx

from idp.web.i18n import CATALOGUE, LOCALES, from_accept_language, from_ui_locales
from tests.support.server import LiveIdp
from tests.web.conftest import browser, start_login


def test_every_string_exists_in_both_languages() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LOCALES), key
        assert all(value.strip() for value in entry.values()), key


def test_language_negotiation_rules() -> None:
    assert from_ui_locales("fr-CA zh-Hant en") == "zh"
    assert from_ui_locales("de") is None
    assert from_accept_language("fr;q=1, en-GB;q=0.8, zh-CN;q=0.9") == "zh"
    assert from_accept_language("zh;q=0, en;q=0.1") == "en"
    assert from_accept_language("en;q=bogus") is None


async def test_ui_locales_of_the_request_chooses_chinese(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp, ui_locales="zh-CN en")
    page = await web.get(f"/login/{interaction.id}", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "用户名（学号/工号）" in page.text and "登录以继续使用 选课系统 Course Selection" in page.text
    assert live_idp.settings.site.campus_name_zh in page.text


async def test_ui_locales_wins_over_accept_language(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp, ui_locales="en")
    page = await web.get(f"/login/{interaction.id}", headers={"accept-language": "zh-CN"})
    assert '<html lang="en">' in page.text
    assert "Sign in to continue to 选课系统 Course Selection" in page.text
    assert live_idp.settings.site.campus_name in page.text


async def test_accept_language_chooses_when_no_ui_locales(live_idp: LiveIdp) -> None:
    interaction = await start_login(live_idp)
    async with browser(live_idp, **{"accept-language": "en-US,en;q=0.9,zh;q=0.5"}) as client:
        page = await client.get(f"/login/{interaction.id}")
    assert '<html lang="en">' in page.text and "Password" in page.text


async def test_default_locale_without_any_preference(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp)
    page = await web.get(f"/login/{interaction.id}")
    assert live_idp.settings.site.default_locale == "zh"
    assert '<html lang="zh-CN">' in page.text


async def test_language_switch_link_leads_to_the_other_language(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp, ui_locales="zh")
    page = await web.get(f"/login/{interaction.id}")
    assert f'href="/login/{interaction.id}?ui_locales=en"' in page.text
    switched = await web.get(f"/login/{interaction.id}?ui_locales=en")
    assert '<html lang="en">' in switched.text
    assert f'href="/login/{interaction.id}?ui_locales=zh"' in switched.text


async def test_page_fits_a_phone_and_works_without_javascript(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp)
    page = await web.get(f"/login/{interaction.id}")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    assert "<script" not in page.text
    assert f'<form method="post" action="/login/{interaction.id}">' in page.text
    assert page.headers["cache-control"] == "no-store"
    css = await web.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "min-height: 48px" in css.text  # tap targets
    assert (await web.get("/static/..%2Fpages.py")).status_code == 404


async def test_login_hint_is_prefilled_and_escaped(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp, login_hint='teacher"><b>x')
    page = await web.get(f"/login/{interaction.id}")
    assert 'value="teacher&#34;&gt;&lt;b&gt;x"' in page.text
    assert "<b>x" not in page.text


async def test_logo_and_campus_name_on_every_page(tmp_path) -> None:  # noqa: ANN001
    from tests.support.server import start_idp

    live = await start_idp(
        database_url=f"sqlite:///{tmp_path}/idp.db", keys_dir=tmp_path / "keys",
        site={"campus_name": "Example Tech", "campus_name_zh": "示例理工大学",
              "logo_url": "https://cdn.example.edu/logo.svg", "default_locale": "en"},
    )
    try:
        interaction = await start_login(live)
        async with browser(live) as client:
            login = await client.get(f"/login/{interaction.id}")
            expired = await client.get("/login/no-such-interaction")
            signed_out = await client.get("/logout/done?ui_locales=zh")
        for page in (login, expired):
            assert "Example Tech" in page.text
            assert 'src="https://cdn.example.edu/logo.svg"' in page.text
        assert "示例理工大学" in signed_out.text and "已退出" in signed_out.text
        assert "https://cdn.example.edu" in login.headers["content-security-policy"]
    finally:
        await live.stop()


async def test_unknown_interaction_is_a_readable_page(web: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/login/nope"), ("POST", "/login/nope"),
                         ("GET", "/consent/nope"), ("GET", "/login/" + "x" * 500)):
        page = await web.request(method, path, headers={"accept-language": "en"})
        assert page.status_code == 400, (method, path)
        assert "This sign-in link has expired" in page.text
        assert "Go back to the app and try again" in page.text
    zh = await web.get("/login/nope")
    assert "登录链接已失效" in zh.text


async def test_consent_interaction_at_login_url_goes_to_consent(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    interaction = await start_login(live_idp, page="consent")
    response = await web.get(f"/login/{interaction.id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/consent/{interaction.id}"


def test_every_scope_and_claim_has_words_in_both_languages() -> None:
    from idp.protocols.oidc.claims import SCOPE_CLAIMS, SUPPORTED_SCOPES
    from idp.web.scopes import CLAIM_TEXT, SCOPE_TEXT

    for scope in SUPPORTED_SCOPES:
        assert set(SCOPE_TEXT[scope]) == set(LOCALES), scope
    for claims in SCOPE_CLAIMS.values():
        for claim in claims:
            assert set(CLAIM_TEXT[claim]) == set(LOCALES), claim

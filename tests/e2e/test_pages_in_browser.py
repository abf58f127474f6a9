"""The IdP's pages as a browser shows them: Chinese and English, a phone, and the error page
that a bad redirect_uri must get (never a redirect to it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack
from tests.e2e.test_single_sign_on import click_and_land, log_in_at_idp

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True,
         "has_touch": True}


def open_login_page(page: Page, demo: DemoStack) -> None:
    page.goto(demo.hall)
    click_and_land(page, "#login", "**/login/**")


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_login_page_in_chinese_then_english(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context(locale="zh-CN").new_page()
    open_login_page(page, demo)
    assert page.get_attribute("html", "lang", ) in ("zh-CN", "zh")
    assert page.inner_text("h1") == "登录"
    assert "用户名" in page.inner_text("label[for=username]")
    page.screenshot(path=artifacts / "login-page-zh.png", full_page=True)

    with page.expect_navigation():
        page.click("a.lang")  # the language switch keeps the same login
    assert "/login/" in page.url
    assert page.inner_text("h1") == "Sign in"
    assert page.get_attribute("html", "lang") == "en"
    page.screenshot(path=artifacts / "login-page-en.png", full_page=True)
    # the switch does not lose the sign-in: it completes in English
    with page.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(page)
    assert page.inner_text("#name") == "张三"


def test_english_browser_gets_english(
        demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    page = new_context(locale="en-US").new_page()
    open_login_page(page, demo)
    assert page.inner_text("h1") == "Sign in"
    assert "Username" in page.inner_text("label[for=username]")


def test_phone_sized_viewport(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context(**PHONE).new_page()
    open_login_page(page, demo)
    assert fits_width(page), "the login page scrolls sideways on a phone"
    button = page.locator("button[type=submit]").bounding_box()
    assert button is not None and button["x"] >= 0 and button["x"] + button["width"] <= 390
    assert button["height"] >= 32, "the sign-in button is too small to tap"
    page.screenshot(path=artifacts / "login-page-phone.png", full_page=True)
    page.tap("#username")
    page.fill("#username", "student")
    page.fill("#password", "student123")
    with page.expect_navigation(url=demo.hall + "/"):
        page.tap("button[type=submit]")
    assert page.inner_text("#name") == "张三"
    assert fits_width(page)
    page.screenshot(path=artifacts / "service-hall-phone.png", full_page=True)


def test_bad_redirect_uri_gets_an_error_page_at_the_idp(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context().new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    query = urlencode({"response_type": "code", "client_id": demo.clients["hall"]["client_id"],
                       "redirect_uri": "https://evil.example.com/callback", "scope": "openid",
                       "state": "s1"})
    response = page.goto(f"{demo.issuer}/authorize?{query}")
    assert response is not None and response.status == 400
    assert page.url.startswith(demo.issuer + "/authorize")
    assert not any("evil.example.com" in url.split("?")[0] for url in requested)
    assert "redirect" in page.inner_text("main").lower()
    page.screenshot(path=artifacts / "error-bad-redirect-uri.png", full_page=True)


def test_outside_an_apps_rule_a_page_names_the_app_and_whom_to_ask(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    import json

    added = demo.idp("clients", "add", "--name", "人事系统 HR", "--redirect-uri",
                     "https://hr.example.edu/callback", "--allow-group", "staff", "--json")
    assert added.returncode == 0, added.stderr
    client_id = json.loads(added.stdout)["client_id"]
    page = new_context(locale="zh-CN").new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    query = urlencode({"response_type": "code", "client_id": client_id, "scope": "openid",
                       "redirect_uri": "https://hr.example.edu/callback", "state": "s1"})
    page.goto(f"{demo.issuer}/authorize?{query}")
    with page.expect_response(lambda r: r.status == 403):
        log_in_at_idp(page)  # the student, not in the group staff
    text = page.inner_text("main")
    assert "人事系统 HR" in text
    assert page.url.startswith(demo.issuer)
    assert not any(url.startswith("https://hr.example.edu") for url in requested), "no code"
    page.screenshot(path=artifacts / "access-refused-zh.png", full_page=True)

"""A newcomer's path through the demo, in a real browser: log in once at the service hall, move
to OA, the academic affairs system (a CAS app) and the data platform without a password, log out
at the data platform and be logged out of every app (OA hears it by back-channel logout, the CAS
app by a SAML single logout request)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack


def visited(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("framenavigated", lambda frame: urls.append(frame.url) if frame == page.main_frame
            else None)
    return urls


def click_and_land(page: Page, selector: str, url: str) -> None:
    """Click, then wait until the redirect chain it starts ends at `url`."""
    with page.expect_navigation(url=url):
        page.click(selector)


def log_in_at_idp(page: Page, username: str = "student", password: str = "student123") -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_in_once_then_single_sign_on_and_single_logout(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context().new_page()
    urls = visited(page)

    # 1. the service hall: not signed in, so to the IdP's login page and back
    page.goto(demo.hall)
    assert "You are not signed in" in page.inner_text("#status")
    click_and_land(page, "#login", "**/login/**")
    assert page.url.startswith(demo.issuer)
    page.screenshot(path=artifacts / "login-page.png", full_page=True)
    with page.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(page)
    assert page.inner_text("#name") == "张三"
    assert page.inner_text("td[data-claim=preferred_username]") == "student"
    assert page.inner_text("td[data-claim=campus_number]") == "2023010001"
    hall_sid = page.inner_text("td[data-claim=sid]")
    page.screenshot(path=artifacts / "service-hall.png", full_page=True)

    # 2. OA: one click, no password (the IdP's SSO session answers at once)
    logins_so_far = sum("/login/" in url for url in urls)
    click_and_land(page, f"a[href='{demo.oa}']", demo.oa + "/")
    click_and_land(page, "#login", demo.oa + "/")
    assert page.inner_text("#name") == "张三"
    assert sum("/login/" in url for url in urls) == logins_so_far, "OA asked for a password"
    assert page.inner_text("td[data-claim=sid]") == hall_sid  # the same SSO session
    page.screenshot(path=artifacts / "oa.png", full_page=True)

    # 2b. the academic affairs system speaks CAS, not OIDC: the same session, no password
    click_and_land(page, f"a[href='{demo.hall}']", demo.hall + "/")
    click_and_land(page, f"a[href='{demo.academic}']", demo.academic + "/")
    click_and_land(page, "#login", demo.academic + "/")
    assert page.inner_text("#user") == "student"
    assert page.inner_text("#name") == "张三"
    assert page.inner_text("td[data-claim=employeeNumber]") == "2023010001"
    assert sum("/login/" in url for url in urls) == logins_so_far, "the CAS app asked again"
    page.screenshot(path=artifacts / "academic-affairs.png", full_page=True)

    # 3. the data platform (a single-page app): SSO too, and the campus API answers it
    page.goto(demo.data)
    page.wait_for_selector("#signed-out:not([hidden])")
    click_and_land(page, "#login", demo.data + "/callback*")
    page.wait_for_selector("#signed-in:not([hidden])")
    assert page.inner_text("#name") == "张三"
    page.wait_for_selector("#timetable td")
    assert "CS101" in page.inner_text("#timetable")
    assert page.is_hidden("#error")
    assert sum("/login/" in url for url in urls) == logins_so_far
    page.screenshot(path=artifacts / "data-platform.png", full_page=True)

    # 4. log out at the data platform: back there, signed out
    click_and_land(page, "#logout", demo.data + "/")
    page.wait_for_selector("#signed-out:not([hidden])")
    page.screenshot(path=artifacts / "data-platform-signed-out.png", full_page=True)

    # OA received a valid back-channel logout token for this very session
    calls = httpx.get(f"{demo.oa}/backchannel-log").json()
    assert any(c["accepted"] and c["sid"] == hall_sid and c["sessions_ended"] == 1
               for c in calls), calls

    # the IdP counted the logout and both deliveries (hall and OA have back-channel URIs)
    metrics = httpx.get(f"{demo.issuer}/metrics").text
    for app in ("hall", "oa"):
        delivered = (f'idp_backchannel_logout_deliveries_total{{client_id="'
                     f'{demo.clients[app]["client_id"]}",outcome="delivered"}}')
        assert delivered in metrics, metrics

    # the CAS app received its single logout request and ended the session it opened
    calls = httpx.get(f"{demo.academic}/slo-log").json()
    assert any(c["sessions_ended"] == 1 for c in calls), calls

    # 5. every app is signed out, and the IdP asks for the password again
    page.goto(demo.oa)
    assert "You are not signed in" in page.inner_text("#status")
    page.goto(demo.academic)
    assert "You are not signed in" in page.inner_text("#status")
    page.goto(demo.hall)
    assert "You are not signed in" in page.inner_text("#status")
    click_and_land(page, "#login", "**/login/**")  # the SSO session is gone too


def test_a_second_person_does_not_see_the_first(
        demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    first, second = new_context().new_page(), new_context().new_page()
    for page, (username, password, name) in ((first, ("student", "student123", "张三")),
                                             (second, ("teacher", "teacher123", "李老师"))):
        page.goto(demo.oa)
        click_and_land(page, "#login", "**/login/**")
        with page.expect_navigation(url=demo.oa + "/"):
            log_in_at_idp(page, username, password)
        assert page.inner_text("#name") == name
    first.reload()
    assert first.inner_text("#name") == "张三"


def test_logout_at_a_server_side_app_ends_the_others(
        demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    page = new_context().new_page()
    page.goto(demo.hall)
    click_and_land(page, "#login", "**/login/**")
    with page.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(page, "teacher", "teacher123")
    page.goto(demo.oa)
    click_and_land(page, "#login", demo.oa + "/")
    assert page.inner_text("#name") == "李老师"
    click_and_land(page, "#logout", demo.oa + "/")  # OA -> the IdP's logout -> back to OA
    assert "You are not signed in" in page.inner_text("#status")
    page.goto(demo.hall)
    assert "You are not signed in" in page.inner_text("#status")


def test_the_front_door_shows_the_demo_apps_and_opens_them_signed_in(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context().new_page()
    page.goto(demo.issuer + "/")
    click_and_land(page, "#sign-in", "**/login/**")
    with page.expect_navigation(url=demo.issuer + "/apps"):
        log_in_at_idp(page)
    names = page.locator("li.app-card .name").all_inner_texts()
    assert len(names) == 4 and any("教务系统" in name for name in names), names
    page.screenshot(path=artifacts / "app-portal.png", full_page=True)
    # the card links to the app, which signs the person in through the SSO session
    click_and_land(page, f"li.app-card a[href='{demo.oa}/']", demo.oa + "/")
    click_and_land(page, "#login", demo.oa + "/")
    assert page.inner_text("#name") == "张三"
    page.goto(demo.issuer + "/")
    assert page.locator("li.app-card .recent").count() >= 1
    assert page.locator("li.app-card").first.locator(".recent").count() == 1

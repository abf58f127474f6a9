"""QR sign-in in real browsers: two contexts, a PC-sized one at the service hall's login and a
phone-sized one that "scans" by opening the URL the PC's page carries beside the code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack, start_demo
from tests.e2e.test_pages_in_browser import PHONE, fits_width
from tests.e2e.test_single_sign_on import click_and_land, log_in_at_idp

PC = {"viewport": {"width": 1280, "height": 800}}


def qr_tab_at_the_hall(page: Page, demo: DemoStack) -> str:
    """The PC opens the service hall, goes to the login page, picks "scan to sign in"; returns
    the URL the code holds."""
    page.goto(demo.hall)
    click_and_land(page, "#login", "**/login/**")
    assert page.is_visible("#qr-tab"), "no QR tab on a PC-sized login page"
    click_and_land(page, "#qr-tab", "**/qr")
    page.wait_for_selector("#qr-image")
    assert page.get_attribute("#qr-image", "src").startswith("data:image/svg+xml")
    url = page.get_attribute("#qr", "data-url")
    assert url and url.startswith(demo.issuer + "/qr/")
    assert not page.is_visible("#qr-refresh"), "a new code is offered only when one is needed"
    return url


def test_a_phone_signs_the_pc_in_by_scanning(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    pc = new_context(**PC).new_page()
    errors: list[str] = []
    pc.on("pageerror", lambda error: errors.append(str(error)))
    pc.on("response", lambda response: errors.append(f"{response.status} {response.url}")
          if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    url = qr_tab_at_the_hall(pc, demo)
    pc.screenshot(path=artifacts / "qr-login-pc.png", full_page=True)

    phone = new_context(**(PHONE | {"viewport": {"width": 360, "height": 740}})).new_page()
    phone.goto(url)  # not signed in on the phone: its own login first, then the confirmation
    assert "/login/" in phone.url
    assert not phone.is_visible("#qr-tab"), "a phone cannot scan its own screen"
    log_in_at_idp(phone, "teacher", "teacher123")
    phone.wait_for_selector("#qr-confirm")
    assert phone.inner_text("#qr-device") == "Chrome · Linux"  # headless Chromium on the PC
    assert fits_width(phone), "the confirmation page scrolls sideways at 360 px"
    phone.screenshot(path=artifacts / "qr-confirm-phone-360.png", full_page=True)
    phone.set_viewport_size({"width": 430, "height": 900})
    assert fits_width(phone)
    for button in ("#qr-confirm", "#qr-refuse"):
        box = phone.locator(button).bounding_box()
        assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 430
    pc.wait_for_selector("#qr-status[data-state=scanned]")  # the PC saw the scan

    with pc.expect_navigation(url=demo.hall + "/", timeout=10_000):
        phone.click("#qr-confirm")
    assert phone.get_attribute("#qr-done", "data-state") == "qr_done_confirmed"
    assert pc.inner_text("#name") == "李老师"
    assert not errors, errors  # the tab's script ran without an error (CSP included)
    assert pc.inner_text("td[data-claim=preferred_username]") == "teacher"
    pc.screenshot(path=artifacts / "qr-login-pc-signed-in.png", full_page=True)


def test_refused_on_the_phone_then_a_fresh_code(
        demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    pc = new_context(**PC).new_page()
    url = qr_tab_at_the_hall(pc, demo)
    phone = new_context(**PHONE).new_page()
    phone.goto(url)
    log_in_at_idp(phone)
    phone.wait_for_selector("#qr-refuse")
    phone.click("#qr-refuse")
    assert phone.get_attribute("#qr-done", "data-state") == "qr_done_refused"
    pc.wait_for_selector("#qr-status[data-state=refused]")
    assert "/qr" in pc.url  # not signed in
    pc.click("#qr-refresh")
    pc.wait_for_function("url => document.getElementById('qr').dataset.url !== url", arg=url)
    fresh = pc.get_attribute("#qr", "data-url")
    assert fresh and fresh != url and pc.get_attribute("#qr-status", "data-state") == "waiting"
    # the fresh code works: the phone (signed in now) confirms it straight away
    phone.goto(fresh)
    with pc.expect_navigation(url=demo.hall + "/", timeout=10_000):
        phone.click("#qr-confirm")
    assert pc.inner_text("td[data-claim=preferred_username]") == "student"


@pytest.fixture(scope="module")
def short_lived_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo with codes that live 10 s (the shortest IDP_QR_TTL allows)."""
    stack = start_demo(tmp_path_factory.mktemp("demo-qr"), IDP_QR_TTL="10")
    yield stack
    stack.stop()


def test_an_expired_code_is_replaced_by_the_page(
        short_lived_demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    demo = short_lived_demo
    phone = new_context(**PHONE).new_page()  # signed in beforehand, at the service hall
    phone.goto(demo.hall)
    click_and_land(phone, "#login", "**/login/**")
    with phone.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(phone)
    pc = new_context(**PC).new_page()
    url = qr_tab_at_the_hall(pc, demo)
    # no request of its own: the page notices the expiry and shows a fresh code
    pc.wait_for_function("url => document.getElementById('qr').dataset.url !== url", arg=url,
                         timeout=20_000)
    fresh = pc.get_attribute("#qr", "data-url")
    assert fresh and fresh != url and pc.get_attribute("#qr-status", "data-state") == "waiting"
    phone.goto(url)
    assert phone.is_visible("h1") and not phone.is_visible("#qr-confirm")  # the old one is gone
    phone.goto(fresh)
    with pc.expect_navigation(url=demo.hall + "/", timeout=10_000):
        phone.click("#qr-confirm")
    assert pc.inner_text("td[data-claim=preferred_username]") == "student"

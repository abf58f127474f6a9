"""A new student on a phone (360 px wide, in Chinese): from the login page's "新生激活" link
through the facts and the new password to a sign-in with it; the page then refuses a second
activation. The student was marked by `idp users import --activate`, run beside the demo."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack
from tests.e2e.test_pages_in_browser import fits_width, open_login_page
from tests.e2e.test_single_sign_on import log_in_at_idp

NARROW_PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 3,
                "is_mobile": True, "has_touch": True}


def _intake(demo: DemoStack) -> tuple[str, str]:
    username, number = f"xs{secrets.token_hex(3)}", f"2026{secrets.randbelow(10**6):06d}"
    file = demo.root / f"{username}.csv"
    file.write_text("username,name,family_name,given_name,number\n"
                    f"{username},李新生,李,新生,{number}\n", encoding="utf-8")
    done = demo.idp("users", "import", str(file), "--activate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 to activate" in done.stdout
    return username, number


def _submit(page: Page) -> None:
    with page.expect_navigation():
        page.tap("button[type=submit]")


def test_a_new_student_activates_on_a_phone(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    username, number = _intake(demo)
    page = new_context(**NARROW_PHONE).new_page()
    open_login_page(page, demo)
    with page.expect_navigation():
        page.tap("text=新生激活")
    assert page.inner_text("h1") == "激活账号"
    assert "学号/工号" in page.inner_text("main") and fits_width(page)
    page.screenshot(path=artifacts / "activate-facts-phone.png", full_page=True)

    page.fill("#username", username)
    page.fill("#fact_0", number)
    page.fill("#fact_1", "王")  # a wrong surname first
    page.fill("#fact_2", "新生")
    _submit(page)
    assert "信息不匹配" in page.inner_text("[role=alert]")
    page.fill("#fact_1", "李")
    _submit(page)
    assert page.inner_text("h1") == "设置密码与找回方式" and fits_width(page)
    page.screenshot(path=artifacts / "activate-password-phone.png", full_page=True)

    page.fill("#new", "Golden-autumn-2026")
    page.fill("#confirm", "Golden-autumn-2026")
    page.fill("#email", f"{username}@mail.example.cn")
    _submit(page)
    assert page.inner_text("h1") == "账号已激活" and fits_width(page)
    page.screenshot(path=artifacts / "activate-done-phone.png", full_page=True)

    with page.expect_navigation(url="**/login/**"):
        page.tap("main a[href='/account']")
    with page.expect_navigation(url=demo.issuer + "/account"):
        log_in_at_idp(page, username, "Golden-autumn-2026")
    assert username in page.inner_text("main") or "李新生" in page.inner_text("main")

    # once active, the page refuses and points to sign-in and password reset
    page.goto(demo.issuer + "/activate")
    page.fill("#username", username)
    page.fill("#fact_0", number)
    page.fill("#fact_1", "李")
    page.fill("#fact_2", "新生")
    _submit(page)
    assert page.inner_text("h1") == "账号无需激活"
    assert page.locator("main a[href='/account/forgot']").count() == 1 and fits_width(page)

"""The attribute-release record in a real browser: a person signs in at the service hall (OIDC)
and opens the academic affairs system (CAS); /account then shows both apps under
"哪些应用获取了我的哪些信息", with what each received, in words."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack
from tests.e2e.test_single_sign_on import click_and_land, log_in_at_idp


def _listed(page: Page, issuer: str, names: list[str], seconds: float = 10.0) -> None:
    """Reload /account until every app name is in its release section (the record is written
    behind the responses, within about a second)."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(issuer + "/account")
        text = page.inner_text("#releases")
        if all(name in text for name in names) or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def test_the_account_page_shows_which_apps_received_what(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    page = new_context().new_page()
    page.goto(demo.hall)
    click_and_land(page, "#login", "**/login/**")
    with page.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(page)
    click_and_land(page, f"a[href='{demo.academic}']", demo.academic + "/")
    click_and_land(page, "#login", demo.academic + "/")
    assert page.inner_text("#user") == "student"

    hall, academic = "网上服务大厅 Online Service Hall (demo)", "教务系统 Academic Affairs (demo, CAS)"
    _listed(page, demo.issuer, [hall, academic])
    section = page.inner_text("#releases")
    assert "哪些应用获取了我的哪些信息" in section
    assert hall in section and academic in section
    hall_item = page.locator(f"[data-release='{demo.clients['hall']['client_id']}']")
    assert "姓名" in hall_item.inner_text() and "账号标识" in hall_item.inner_text()
    cas_item = page.locator(f"[data-release='{demo.clients['academic']['client_id']}']")
    assert "用户名" in cas_item.inner_text() and "学号/工号" in cas_item.inner_text()
    page.locator("#releases").screenshot(path=artifacts / "account-releases.png")

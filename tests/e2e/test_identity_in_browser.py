"""Several identities, one person, in a real browser: after the student entry's own password,
the page "以哪个身份登录" shows both identities; the app gets a code for the one clicked; the
account page lists the identities and the app's choice. Screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext

from tests.e2e.identity_stack import RP, STUDENT, TA, IdentityStack, start_identity_stack
from tests.e2e.test_single_sign_on import log_in_at_idp


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityStack]:
    running = start_identity_stack(tmp_path_factory.mktemp("identities"))
    yield running
    running.stop()


def test_choose_an_identity_then_see_it_on_the_account_page(
        stack: IdentityStack, new_context: Callable[..., BrowserContext],
        artifacts: Path) -> None:
    page = new_context(locale="zh-CN").new_page()
    page.goto(f"{stack.issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": stack.client_id, "scope": "openid profile",
        "redirect_uri": f"{RP}/callback", "state": "s1"}))
    with page.expect_navigation(url="**/identity/**"):
        log_in_at_idp(page, STUDENT[0], STUDENT[1])
    assert page.inner_text("h1") == "以哪个身份登录"
    choices = page.locator("li[data-identity]")
    assert choices.count() == 2
    ta = page.locator(f'li[data-identity="{TA[0]}"]')
    for shown in (TA[2], TA[3], TA[4], TA[5]):
        assert shown in ta.inner_text()
    page.screenshot(path=artifacts / "identity-choice-zh.png", full_page=True)

    # the app itself is not running: the request the browser is sent to is what counts
    with page.expect_request(f"{RP}/**") as sent:
        ta.locator("button").click()
    query = parse_qs(urlsplit(sent.value.url).query)
    assert query["state"] == ["s1"] and query["code"][0]

    page = page.context.new_page()  # the same browser profile: its session
    page.goto(f"{stack.issuer}/account")
    section = page.locator("#identities")
    assert "我的身份" in section.inner_text()
    assert page.locator("#identities li[data-identity]").count() == 2
    app_row = page.locator("#identities li[data-identity-app]")
    assert "研究生系统" in app_row.inner_text()
    assert TA[2] in app_row.locator("option[selected]").inner_text()
    page.screenshot(path=artifacts / "account-identities-zh.png", full_page=True)



"""The consent page in a real browser on a 360 px phone: a third-party app registered with
`idp clients add --require-scope`, the required scopes marked and not untickable, an optional
one unticked and then missing from the app's tokens; a form tampered with in the page gets a
readable error; the consent is withdrawn on /account and asked for again."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import IDP, DemoStack
from tests.e2e.test_single_sign_on import log_in_at_idp

PHONE_360 = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 3,
             "is_mobile": True, "has_touch": True}


class _Callback(BaseHTTPRequestHandler):
    """The app's redirect URI: a page that says it was reached (the test reads the code)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><h1 id='app'>Library</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def callback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()
    server.server_close()


def register_library(demo: DemoStack, callback: str) -> dict[str, str]:
    """A third-party app as an IT admin registers it: it asks for consent, e-mail required."""
    env = {"IDP_DATABASE_URL": f"sqlite:///{demo.root}/idp.db",
           "IDP_KEYS_DIR": str(demo.root / "keys"), "LDAPNOINIT": "1", "PATH": "/usr/bin:/bin"}
    added = subprocess.run(
        [IDP, "clients", "add", "--name", "图书馆 Library", "--redirect-uri", callback,
         "--require-scope", "email", "--json"],
        capture_output=True, text=True, timeout=120, env=env, cwd=demo.root, check=True)
    return json.loads(added.stdout) | {"callback": callback}


def authorize(page: Page, demo: DemoStack, client: dict[str, str], scope: str) -> None:
    query = urlencode({"response_type": "code", "client_id": client["client_id"],
                       "redirect_uri": client["callback"], "scope": scope,
                       "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)})
    page.goto(f"{demo.issuer}/authorize?{query}")


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def redeem(demo: DemoStack, client: dict[str, str], url: str) -> dict[str, object]:
    code = parse_qs(urlsplit(url).query)["code"][0]
    tokens = httpx.post(f"{demo.issuer}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": client["callback"]},
        auth=(client["client_id"], client["client_secret"]))
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    keys = KeySet.import_key_set(httpx.get(f"{demo.issuer}/jwks").json())
    body["id_token_claims"] = jwt.decode(body["id_token"], keys,
                                         algorithms=["RS256", "ES256"]).claims
    return body


def test_consent_per_scope_on_a_phone(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path,
        callback: str) -> None:
    client = register_library(demo, callback)
    page = new_context(**PHONE_360).new_page()

    authorize(page, demo, client, "openid profile email phone")
    with page.expect_navigation(url="**/consent/**"):
        log_in_at_idp(page)
    assert page.inner_text("h1") == "授权"
    assert fits_width(page), "the consent page scrolls sideways at 360 px"
    for required in ("openid", "email"):
        line = page.locator(f"li[data-scope={required}]")
        assert line.get_attribute("data-required") == "1"
        assert line.locator("input[type=checkbox]").is_disabled()
        assert "不能取消" in line.inner_text()
    assert "图书馆 Library 缺少这一项将无法使用" in page.inner_text("li[data-scope=email]")
    phone = page.locator("li[data-scope=phone] input[type=checkbox]")
    assert phone.is_checked()
    box = page.locator("li[data-scope=phone] label").bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 360
    page.screenshot(path=artifacts / "consent-phone-zh.png", full_page=True)

    phone.tap()  # the whole line is the label: tapping anywhere on it unticks
    assert not phone.is_checked()
    with page.expect_navigation(url=callback + "*"):
        page.tap("button[value=allow]")
    tokens = redeem(demo, client, page.url)
    assert tokens["scope"] == "openid profile email"
    claims = tokens["id_token_claims"]
    assert isinstance(claims, dict)
    assert claims["email"] == "student@example.edu" and "phone_number" not in claims

    # one scope more: the page again, phone still unticked as the person left it
    authorize(page, demo, client, "openid profile email phone groups")
    page.wait_for_url("**/consent/**")
    assert not page.locator("li[data-scope=phone] input[type=checkbox]").is_checked()
    assert page.locator("li[data-scope=groups] input[type=checkbox]").is_checked()
    # a form changed in the page (the hidden required scope removed): a readable 400
    page.evaluate("document.querySelector('input[type=hidden][name=scope][value=email]')"
                  ".remove()")
    with page.expect_navigation():
        page.tap("button[value=allow]")
    assert page.inner_text("h1") == "无法提交授权"
    assert "必需" in page.inner_text("main") and fits_width(page)
    page.screenshot(path=artifacts / "consent-tampered-phone-zh.png", full_page=True)

    # /account: what the app was allowed and what not; withdrawing it
    page.goto(f"{demo.issuer}/account?ui_locales=en")
    page.wait_for_url("**/account*")
    consent = page.locator(f"li[data-consent='{client['client_id']}']")
    assert consent.locator("li[data-scope=email]").count() == 1
    assert consent.locator("li[data-declined=phone]").count() == 1
    assert fits_width(page)
    page.screenshot(path=artifacts / "account-consents-phone-en.png", full_page=True)
    with page.expect_navigation(url="**/account*"):
        consent.locator("button[type=submit]").tap()
    assert page.locator(f"li[data-consent='{client['client_id']}']").count() == 0

    # asked again, from a clean slate
    authorize(page, demo, client, "openid profile email phone")
    page.wait_for_url("**/consent/**")
    assert page.locator("li[data-scope=phone] input[type=checkbox]").is_checked()


def test_consent_page_in_english(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path,
        callback: str) -> None:
    client = register_library(demo, callback)
    page = new_context(locale="en-US", **PHONE_360).new_page()
    authorize(page, demo, client, "openid profile email")
    with page.expect_navigation(url="**/consent/**"):
        log_in_at_idp(page)
    assert page.inner_text("h1") == "Allow access"
    assert "cannot work without this" in page.inner_text("li[data-scope=email]")
    assert "Untick anything you would rather not share" in page.inner_text("main")
    assert fits_width(page)
    page.screenshot(path=artifacts / "consent-phone-en.png", full_page=True)

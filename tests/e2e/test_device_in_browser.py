"""Device sign-in (RFC 8628) in a real browser on a phone: a device (a command-line tool here)
asks for a code, the person opens `verification_uri_complete` at 360 px in Chinese or types
the code at 430 px in English, signs in, sees the code on the confirmation page and confirms or
refuses; the device's next poll hears the answer. Every page fits the phone's width."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import IDP, DemoStack

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def phone(width: int) -> dict[str, object]:
    return {"viewport": {"width": width, "height": 780}, "device_scale_factor": 3,
            "is_mobile": True, "has_touch": True}


def fits_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def device_app(demo: DemoStack) -> str:
    """A public command-line tool, registered as an admin registers one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({"IDP_ISSUER": demo.issuer, "IDP_DATABASE_URL": f"sqlite:///{demo.root}/idp.db",
                "IDP_KEYS_DIR": str(demo.root / "keys"), "LDAPNOINIT": "1"})
    added = subprocess.run([IDP, "clients", "add", "--name", "campus-cli", "--public",
                            "--grant-type", DEVICE, "--json"], cwd=demo.root, env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    return str(json.loads(added.stdout)["client_id"])


def start(demo: DemoStack, client_id: str) -> dict[str, object]:
    response = httpx.post(f"{demo.issuer}/device_authorization",
                          data={"client_id": client_id, "scope": "openid profile"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(demo: DemoStack, client_id: str, device_code: object) -> httpx.Response:
    return httpx.post(f"{demo.issuer}/token", data={
        "grant_type": DEVICE, "device_code": device_code, "client_id": client_id})


def sign_in_and_answer(page: Page, width: int, artifacts: Path, name: str,
                       answer: str) -> str:
    """From the filled-in code page: Continue, sign in, and answer on the confirmation page.
    Returns the code the confirmation page showed."""
    assert fits_width(page), f"the code page scrolls sideways at {width} px"
    page.screenshot(path=artifacts / f"device-code-{name}.png", full_page=True)
    with page.expect_navigation(url="**/login/**"):
        page.tap("button[type=submit]")
    page.fill("#username", "student")
    page.fill("#password", "student123")
    with page.expect_navigation(url="**/consent/**"):
        page.tap("button[type=submit]")
    assert fits_width(page), f"the confirmation page scrolls sideways at {width} px"
    shown = page.inner_text("p.user-code")
    box = page.locator("button[value=allow]").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert box["height"] >= 32, "the confirm button is too small to tap"
    page.screenshot(path=artifacts / f"device-confirm-{name}.png", full_page=True)
    with page.expect_navigation(url="**/device/done**"):
        page.tap(f"button[value={answer}]")
    assert fits_width(page)
    page.screenshot(path=artifacts / f"device-done-{name}.png", full_page=True)
    return shown


def test_device_confirmed_on_a_small_phone_in_chinese(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    client_id = device_app(demo)
    started = start(demo, client_id)
    page = new_context(locale="zh-CN", **phone(360)).new_page()
    page.goto(str(started["verification_uri_complete"]))
    assert page.inner_text("h1") == "设备登录"
    assert page.input_value("#user_code") == started["user_code"]
    # arriving with the code filled in approves nothing
    assert poll(demo, client_id, started["device_code"]).json()["error"] == "authorization_pending"
    shown = sign_in_and_answer(page, 360, artifacts, "zh-360", "allow")
    assert shown == started["user_code"]
    assert page.inner_text("h1") == "设备已登录"
    tokens = poll(demo, client_id, started["device_code"])
    assert tokens.status_code == 200 and tokens.json()["id_token"]


def test_device_refused_on_a_large_phone_in_english(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    client_id = device_app(demo)
    started = start(demo, client_id)
    page = new_context(locale="en-US", **phone(430)).new_page()
    page.goto(f"{demo.issuer}/device")
    assert page.inner_text("h1") == "Sign in a device"
    page.tap("#user_code")
    page.fill("#user_code", str(started["user_code"]).lower().replace("-", " "))
    shown = sign_in_and_answer(page, 430, artifacts, "en-430", "deny")
    assert shown == started["user_code"]
    assert page.inner_text("h1") == "Refused"
    denied = poll(demo, client_id, started["device_code"])
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"

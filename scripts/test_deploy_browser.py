"""The browser part of `make test-deploy`: Debian's chromium, driven by Playwright, against the
stack's published port 443 through Caddy. The browser trusts Caddy's local CA by its public key
(DEPLOY_CA), nothing else: a wrong certificate still fails.

    test_deploy_browser.py               sign in at the service hall, then SSO into OA
    test_deploy_browser.py --login-only  the sign-in at the service hall alone

Host names come from the environment (deploy/idp.env); *.localhost is this machine in chromium.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def spki_pin(ca_file: str) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the CA: chromium accepts chains that contain it."""
    public = subprocess.run(["openssl", "x509", "-in", ca_file, "-noout", "-pubkey"],
                            check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def main() -> None:
    login_only = "--login-only" in sys.argv
    hall = f"https://{os.environ['HALL_HOST']}"
    oa = f"https://{os.environ['OA_HOST']}"
    issuer = f"https://{os.environ['IDP_HOST']}"
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--ignore-certificate-errors-spki-list={spki_pin(os.environ['DEPLOY_CA'])}"]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        context = browser.new_context(locale="zh-CN")
        context.set_default_timeout(20_000)
        page = context.new_page()
        logins: list[str] = []
        page.on("framenavigated", lambda frame: logins.append(frame.url)
                if frame == page.main_frame and "/login/" in frame.url else None)

        page.goto(hall + "/")
        assert "You are not signed in" in page.inner_text("#status")
        with page.expect_navigation(url="**/login/**"):
            page.click("#login")
        assert page.url.startswith(issuer + "/login/"), page.url
        page.fill("#username", "student")
        page.fill("#password", "student123")
        with page.expect_navigation(url=hall + "/"):
            page.click("button[type=submit]")
        assert page.inner_text("#name") == "张三"
        assert page.inner_text("td[data-claim=preferred_username]") == "student"
        sid = page.inner_text("td[data-claim=sid]")
        print("signed in at the service hall:", page.inner_text("#name"))
        if not login_only:
            page.goto(oa + "/")
            with page.expect_navigation(url=oa + "/"):
                page.click("#login")
            assert page.inner_text("#name") == "张三"
            assert page.inner_text("td[data-claim=sid]") == sid, "not the same SSO session"
            assert len(logins) == 1, f"OA asked for a password again: {logins}"
            print("signed in to OA without a password, same session", sid)
        browser.close()


if __name__ == "__main__":
    main()

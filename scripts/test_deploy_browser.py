"""The browser part of `make test-deploy`: Debian's chromium, driven by Playwright, against the
stack's published port 443 through Caddy. The browser trusts Caddy's local CA (DEPLOY_CA), put
into the NSS database of a throwaway home directory, as an IT admin would on a trial machine:
a certificate not signed by that CA still fails.

    test_deploy_browser.py               sign in at the service hall, then SSO into OA
    test_deploy_browser.py --login-only  the sign-in at the service hall alone

Host names come from the environment (deploy/idp.env); *.localhost is this machine in chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def home_trusting(ca_file: str, home: str) -> dict[str, str]:
    """An environment whose HOME has an NSS database (chromium's trust store) with the CA."""
    nssdb = f"sql:{home}/.pki/nssdb"
    os.makedirs(f"{home}/.pki/nssdb")
    subprocess.run(["certutil", "-d", nssdb, "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", nssdb, "-A", "-t", "C,,", "-n", "campus-idp local CA",
                    "-i", ca_file], check=True)
    return {**os.environ, "HOME": home}


def main() -> None:
    login_only = "--login-only" in sys.argv
    hall = f"https://{os.environ['HALL_HOST']}"
    oa = f"https://{os.environ['OA_HOST']}"
    issuer = f"https://{os.environ['IDP_HOST']}"
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with tempfile.TemporaryDirectory() as home, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=args,
                                         env=home_trusting(os.environ["DEPLOY_CA"], home))
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

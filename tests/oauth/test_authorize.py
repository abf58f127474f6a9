"""The authorization endpoint: RFC 6749 §4.1.1/§4.1.2.1, OIDC Core §3.1.2, RFC 7636."""

from __future__ import annotations

import secrets

from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, pkce_pair, query_of, register
from tests.support.server import LiveIdp


def params(client: RegisteredClient, **extra: str) -> dict[str, str]:
    values = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile", "state": secrets.token_urlsafe(8)}
    values.update(extra)
    return values


def assert_error_page(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_unknown_client_gets_an_error_page(browser: Browser, confidential) -> None:
    response = await browser.http.get("/authorize", params=params(confidential, client_id="nope"))
    assert_error_page(response)


async def test_unregistered_redirect_uri_gets_an_error_page(browser: Browser, confidential) -> None:
    response = await browser.http.get("/authorize", params=params(
        confidential, redirect_uri="https://evil.example/cb"))
    assert_error_page(response)


async def test_unsupported_response_type(browser: Browser, confidential) -> None:
    p = params(confidential, response_type="token")
    response = await browser.http.get("/authorize", params=p)
    assert response.status_code == 302
    result = query_of(response.headers["location"])
    assert result["error"] == "unsupported_response_type"
    assert result["state"] == p["state"]
    # with a redirect URI that is not registered: never a redirect
    response = await browser.http.get("/authorize", params=params(
        confidential, response_type="id_token", redirect_uri="https://evil.example/cb"))
    assert_error_page(response)


async def test_missing_response_type_is_an_error_not_a_crash(browser: Browser,
                                                             confidential) -> None:
    p = params(confidential)
    del p["response_type"]
    response = await browser.http.get("/authorize", params=p)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=" in response.headers["location"]


async def test_public_client_must_use_pkce_s256(live: LiveIdp, browser: Browser) -> None:
    public = await register(live, public=True)
    response = await browser.http.get("/authorize", params=params(public))
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    _, challenge = pkce_pair()
    for method in ("plain", None):
        extra = {"code_challenge": challenge}
        if method:
            extra["code_challenge_method"] = method
        response = await browser.http.get("/authorize", params=params(public, **extra))
        assert query_of(response.headers["location"])["error"] == "invalid_request", method


async def test_prompt_none_with_other_values_is_invalid(browser: Browser, confidential) -> None:
    response = await browser.http.get("/authorize", params=params(confidential,
                                                                  prompt="none login"))
    result = query_of(response.headers["location"])
    assert result["error"] == "invalid_request"


async def test_consent_is_asked_once_then_remembered(browser: Browser, confidential) -> None:
    code, _ = await browser.code(confidential)
    assert browser.pages == ["login", "authorize", "consent"]
    code2, _ = await browser.code(confidential)
    assert browser.pages == []  # signed in, consent stored: straight back to the client
    assert code2 != code
    await browser.code(confidential, scope="openid profile email")
    assert browser.pages == ["consent"]  # a new scope needs consent again
    await browser.code(confidential, prompt="consent")
    assert browser.pages == ["consent"]


async def test_first_party_client_skips_consent(browser: Browser, first_party) -> None:
    await browser.code(first_party)
    assert browser.pages == ["login", "authorize"]


async def test_denied_consent_returns_access_denied(browser: Browser, confidential) -> None:
    p = params(confidential)
    response = await browser.authorize(p, consent="deny")
    result = query_of(response.headers["location"])
    assert result["error"] == "access_denied"
    assert result["state"] == p["state"]


async def test_login_hint_and_ui_locales_reach_the_login_page(browser: Browser,
                                                              confidential) -> None:
    response = await browser.http.get("/authorize", params=params(
        confidential, login_hint="teacher", ui_locales="en"))
    assert response.status_code == 303
    page = await browser.http.get(response.headers["location"])
    assert 'value="teacher"' in page.text
    assert 'lang="en"' in page.text


async def test_scopes_the_client_may_not_have_are_dropped(live: LiveIdp, browser: Browser) -> None:
    client = await register(live, scopes=["openid", "profile"], skip_consent=True)
    code, _ = await browser.code(client, scope="openid profile groups")
    from tests.oauth.flow import exchange

    response = await exchange(live, client, code)
    assert response.json()["scope"] == "openid profile"


async def test_interaction_cannot_be_resumed_twice(browser: Browser, first_party) -> None:
    await browser.code(first_party, prompt="login")
    response = await browser.http.get("/authorize", params=params(first_party, prompt="login"))
    login = response.headers["location"]
    signin_id = login.rsplit("/", 1)[1]
    response = await browser.http.get(f"/authorize/resume/{signin_id}")
    # not logged in through this signin: a login page again (or the page says expired)
    assert response.status_code in (303, 400)
    again = await browser.http.get(f"/authorize/resume/{signin_id}")
    assert_error_page(again)

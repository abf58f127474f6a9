"""RP-Initiated Logout 1.0 at /logout: hints, registered redirects, the confirmation page."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from idp.db.models import Client
from idp.protocols.oidc.clients import create_client
from tests.support.server import LiveIdp
from tests.web.conftest import browser, form_field, log_in

BYE = "https://rp.example.edu/bye?from=idp"


async def new_client(live: LiveIdp, **fields: Any) -> Client:
    fields.setdefault("post_logout_redirect_uris", [BYE])
    client, _ = await create_client(live.services.db, name="Course Selection",
                                    redirect_uris=["https://rp.example.edu/cb"], **fields)
    return client


def id_token(live: LiveIdp, client: Client, sub: str, sid: str, **claims: Any) -> str:
    """An ID token as the engine issues it (same KeyRing, same claims)."""
    now = int(time.time())
    body = {"iss": live.settings.issuer, "aud": client.client_id, "sub": sub, "sid": sid,
            "iat": now, "exp": now + 300, "auth_time": now, "nonce": "n-1", **claims}
    return live.services.keys.sign(body, alg=client.id_token_signed_response_alg)


async def signed_in(live: LiveIdp, web: httpx.AsyncClient, client: Client) -> tuple[str, str]:
    """Log in, sign into `client` (as /authorize does), return (sid, id_token)."""
    sid = await log_in(live, web)
    await live.services.sessions.add_client(sid, client.client_id)
    session = await live.services.sessions.get(sid)
    assert session is not None
    return sid, id_token(live, client, session.subject, sid)


def cookie_cleared(response: httpx.Response, live: LiveIdp) -> bool:
    name = live.settings.session.cookie_name
    return any(c.startswith(f'{name}=""') or c.startswith(f"{name}=;") or
               (c.startswith(f"{name}=") and "max-age=0" in c.lower())
               for c in response.headers.get_list("set-cookie"))


async def test_valid_hint_and_registered_uri_redirect_with_state(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    client = await new_client(live_idp)
    sid, token = await signed_in(live_idp, web, client)
    response = await web.get("/logout", params={
        "id_token_hint": token, "post_logout_redirect_uri": BYE, "state": "s t&1"})
    assert response.status_code in (302, 303)
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://rp.example.edu/bye"
    assert parse_qs(location.query) == {"from": ["idp"], "state": ["s t&1"]}
    assert await live_idp.services.sessions.get(sid) is None
    assert cookie_cleared(response, live_idp)


async def test_expired_hint_is_still_accepted(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    client = await new_client(live_idp)
    sid, _ = await signed_in(live_idp, web, client)
    session = await live_idp.services.sessions.get(sid)
    assert session is not None
    old = id_token(live_idp, client, session.subject, sid, iat=1_600_000_000, exp=1_600_000_600)
    response = await web.post("/logout", data={  # an RP may POST the form too
        "id_token_hint": old, "client_id": client.client_id, "post_logout_redirect_uri": BYE})
    assert response.headers["location"] == BYE
    assert await live_idp.services.sessions.get(sid) is None


async def test_cross_site_post_without_our_cookie_ends_the_hinted_session(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    """SameSite=Lax keeps the session cookie off an RP's cross-site POST: the hint's sid
    decides which session ends."""
    client = await new_client(live_idp)
    sid, token = await signed_in(live_idp, web, client)
    async with browser(live_idp) as no_cookies:
        response = await no_cookies.post("/logout", data={
            "id_token_hint": token, "post_logout_redirect_uri": BYE})
    assert response.headers["location"] == BYE
    assert await live_idp.services.sessions.get(sid) is None


async def test_unregistered_uri_is_never_followed(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    client = await new_client(live_idp)
    sid, token = await signed_in(live_idp, web, client)
    for uri in ("https://evil.example.com/", "https://rp.example.edu/bye?from=idp&x=1",
                "https://rp.example.edu/bye"):
        response = await web.get("/logout", params={
            "id_token_hint": token, "post_logout_redirect_uri": uri, "ui_locales": "en"})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/logout/done?")
        done = await web.get(response.headers["location"])
        assert "You are signed out" in done.text and "not registered" in done.text
    assert await live_idp.services.sessions.get(sid) is None


async def test_uri_of_another_client_is_not_followed(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    mine = await new_client(live_idp, post_logout_redirect_uris=[])
    await new_client(live_idp)  # registers BYE, but for someone else
    _, token = await signed_in(live_idp, web, mine)
    response = await web.get("/logout", params={"id_token_hint": token,
                                                "post_logout_redirect_uri": BYE})
    assert response.headers["location"].startswith("/logout/done?")


async def test_no_hint_asks_first_then_redirects_for_the_named_client(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    client = await new_client(live_idp)
    sid, _ = await signed_in(live_idp, web, client)
    page = await web.get("/logout", params={
        "client_id": client.client_id, "post_logout_redirect_uri": BYE, "state": "abc",
        "ui_locales": "en"})
    assert page.status_code == 200
    assert "Course Selection asks to sign you out" in page.text
    assert await live_idp.services.sessions.get(sid) is not None  # nothing ended yet
    confirmed = await web.post("/logout", data={
        "csrf": form_field(page.text, "csrf"), "confirm_id": form_field(page.text, "confirm_id")})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == BYE + "&state=abc"
    assert await live_idp.services.sessions.get(sid) is None
    assert cookie_cleared(confirmed, live_idp)


async def test_confirmation_without_a_client_ends_on_the_signed_out_page(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    sid = await log_in(live_idp, web)
    page = await web.get("/logout", params={"post_logout_redirect_uri": BYE})
    assert page.status_code == 200 and "<form" in page.text
    confirmed = await web.post("/logout", data={
        "csrf": form_field(page.text, "csrf"), "confirm_id": form_field(page.text, "confirm_id")})
    assert confirmed.headers["location"].startswith("/logout/done?")
    assert await live_idp.services.sessions.get(sid) is None


async def test_confirmation_needs_its_csrf_token_and_is_single_use(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    sid = await log_in(live_idp, web)
    page = await web.get("/logout")
    confirm_id = form_field(page.text, "confirm_id")
    forged = await web.post("/logout", data={"confirm_id": confirm_id, "csrf": "x" * 43})
    assert forged.status_code == 403
    assert await live_idp.services.sessions.get(sid) is not None
    page = await web.get("/logout")
    data = {"csrf": form_field(page.text, "csrf"), "confirm_id": form_field(page.text, "confirm_id")}
    assert (await web.post("/logout", data=data)).status_code == 303
    assert (await web.post("/logout", data=data)).status_code == 403


def _alg_none(token: str) -> str:
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}."


def _other_payload(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def test_tampered_hints_are_not_trusted(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    client = await new_client(live_idp)
    sid, token = await signed_in(live_idp, web, client)
    for bad in (_alg_none(token), _other_payload(token, sub="someone-else"), "garbage",
                token[:-4] + "AAAA"):
        response = await web.get("/logout", params={
            "id_token_hint": bad, "post_logout_redirect_uri": BYE, "state": "x"})
        assert response.status_code == 200, bad
        assert "location" not in response.headers
        assert 'name="confirm_id"' in response.text
    assert await live_idp.services.sessions.get(sid) is not None


async def test_hint_of_another_issuer_or_person_asks_first(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    client = await new_client(live_idp)
    sid, _ = await signed_in(live_idp, web, client)
    other_person = id_token(live_idp, client, "someone-else", sid)
    other_issuer = id_token(live_idp, client, "x", sid, iss="https://other.example.edu")
    for hint in (other_person, other_issuer):
        response = await web.get("/logout", params={"id_token_hint": hint,
                                                    "post_logout_redirect_uri": BYE})
        assert response.status_code == 200 and "location" not in response.headers
    assert await live_idp.services.sessions.get(sid) is not None


async def test_client_id_must_match_the_hint(live_idp: LiveIdp, web: httpx.AsyncClient) -> None:
    client = await new_client(live_idp)
    other = await new_client(live_idp)
    sid, token = await signed_in(live_idp, web, client)
    response = await web.get("/logout", params={
        "id_token_hint": token, "client_id": other.client_id, "post_logout_redirect_uri": BYE,
        "ui_locales": "en"})
    assert response.status_code == 400 and "Invalid sign-out request" in response.text
    assert await live_idp.services.sessions.get(sid) is not None


async def test_valid_hint_without_a_session_just_redirects(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    client = await new_client(live_idp)
    token = id_token(live_idp, client, "gone", secrets.token_urlsafe(8))
    response = await web.get("/logout", params={"id_token_hint": token,
                                                "post_logout_redirect_uri": BYE})
    assert response.headers["location"] == BYE

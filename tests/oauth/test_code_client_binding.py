"""Only the client a code was issued to can use it up, or, once it was used, replay it to revoke
what it issued (RFC 6749 §4.1.2, §3.2.1): the token endpoint authenticates the client before it
takes the code, and /introspect and /revoke never look at a code at all. Before, anyone who knew
a used code revoked its tokens (issue 15 item 2)."""

from __future__ import annotations

from typing import Any

import httpx

from idp.protocols.oidc import ledger
from idp.protocols.oidc.tokens import token_digest
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, exchange, pkce_pair, register
from tests.support.server import LiveIdp

SCOPE = "openid offline_access"


async def redeemed(live: LiveIdp, browser: Browser, client: RegisteredClient,
                   **extra: str) -> tuple[str, dict[str, Any]]:
    code, _ = await browser.code(client, scope=SCOPE, **extra)
    response = await exchange(live, client, code, **extra_verifier(extra))
    assert response.status_code == 200, response.text
    return code, response.json()


def extra_verifier(extra: dict[str, str]) -> dict[str, str]:
    return {"code_verifier": extra["verifier"]} if "verifier" in extra else {}


async def active(live: LiveIdp, client: RegisteredClient, token: str) -> bool:
    async with live.client() as http:
        response = await http.post("/introspect", data={"token": token}, auth=client.basic)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def post(live: LiveIdp, path: str, form: dict[str, str],
               auth: tuple[str, str] | None = None) -> httpx.Response:
    async with live.client() as http:
        return await http.post(path, data=form, auth=auth) if auth else await http.post(
            path, data=form)


def code_form(code: str, **more: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **more}


async def strangers_try(live: LiveIdp, owner: RegisteredClient, code: str) -> None:
    """Everything a stranger who knows the code (and the owner's client_id) can send: refused,
    at /token as invalid_client (no or wrong credentials) or invalid_grant (another client's
    own credentials), and at /introspect and /revoke without touching the code."""
    stranger = await register(live, skip_consent=True)
    cid = owner.client_id
    for form, auth in [(code_form(code, client_id=cid), None),
                       (code_form(code), (cid, "not-the-secret")),
                       (code_form(code, client_id=cid, client_secret="not-the-secret"), None),
                       (code_form(code), stranger.basic)]:
        response = await post(live, "/token", form, auth)
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] in ("invalid_client", "invalid_grant"), response.text
    for path in ("/introspect", "/revoke"):
        response = await post(live, path, {**code_form(code, client_id=cid), "token": "x"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        response = await post(live, path, {**code_form(code), "token": "x"}, stranger.basic)
        assert response.status_code == 200, response.text


async def test_a_used_code_from_a_stranger_revokes_nothing(live: LiveIdp, browser: Browser,
                                                           first_party: RegisteredClient) -> None:
    code, tokens = await redeemed(live, browser, first_party)
    await strangers_try(live, first_party, code)
    assert await active(live, first_party, tokens["access_token"])
    assert await active(live, first_party, tokens["refresh_token"])
    # the client it was issued to replaying it is the theft signal: that revokes both
    replay = await exchange(live, first_party, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not await active(live, first_party, tokens["access_token"])
    assert not await active(live, first_party, tokens["refresh_token"])


async def test_an_unused_code_from_a_stranger_stays_redeemable(
        live: LiveIdp, browser: Browser, first_party: RegisteredClient) -> None:
    code, _ = await browser.code(first_party, scope=SCOPE)
    await strangers_try(live, first_party, code)
    response = await exchange(live, first_party, code)
    assert response.status_code == 200, response.text
    assert await active(live, first_party, response.json()["access_token"])


async def userinfo_status(live: LiveIdp, access_token: str) -> int:
    async with live.client() as http:
        response = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def refresh_live(live: LiveIdp, refresh_token: str) -> bool:
    row = await ledger.refresh_row(live.services, token_digest(refresh_token))
    assert row is not None
    return row.revoked_at is None


async def test_a_public_clients_code_needs_its_verifier_to_be_used_or_replayed(
        live: LiveIdp, browser: Browser) -> None:
    """A public client's id is no secret: its PKCE verifier is what proves it is the client."""
    public = await register(live, public=True, skip_consent=True)
    verifier, challenge = pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code, _ = await browser.code(public, scope=SCOPE, **pkce)
    wrong = await exchange(live, public, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = await exchange(live, public, code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    first = await exchange(live, public, code, code_verifier=verifier)  # still there
    assert first.status_code == 200, first.text
    tokens = first.json()

    for attempt in ({}, {"code_verifier": pkce_pair()[0]}):  # a replay without the verifier
        replay = await exchange(live, public, code, **attempt)
        assert replay.status_code == 400, replay.text
    assert await userinfo_status(live, tokens["access_token"]) == 200
    assert await refresh_live(live, tokens["refresh_token"])

    replay = await exchange(live, public, code, code_verifier=verifier)  # the client's own
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await userinfo_status(live, tokens["access_token"]) == 401
    assert not await refresh_live(live, tokens["refresh_token"])

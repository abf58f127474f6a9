"""Back-Channel Logout 1.0: logout tokens POSTed to each client of the ended session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.db.models import LogoutDelivery
from idp.protocols.oidc.backchannel import BACKCHANNEL_EVENT
from idp.protocols.oidc.clients import create_client
from idp.sso.deliveries import RETRY_DELAYS
from tests.support.server import LiveIdp
from tests.web.flow import REDIRECT_URI, sign_in_to_client
from tests.web.receiver import Receiver, start_receiver
from tests.web.test_logout import BYE, new_client, signed_in


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    rp = await start_receiver()
    yield rp
    await rp.stop()


async def deliveries(live: LiveIdp, client_id: str) -> list[LogoutDelivery]:
    async with live.services.db() as db:
        rows = await db.execute(select(LogoutDelivery).where(LogoutDelivery.client_id == client_id))
        return list(rows.scalars())


async def settled(live: LiveIdp, client_id: str) -> LogoutDelivery:
    for _ in range(150):
        rows = await deliveries(live, client_id)
        if rows and rows[0].status != "pending":
            return rows[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the delivery to {client_id} never settled within 15 s")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_logout_token_reaches_the_client_and_verifies_against_jwks(
    live_idp: LiveIdp, web: httpx.AsyncClient, receiver: Receiver, alg: str,
) -> None:
    client = await new_client(live_idp, backchannel_logout_uri=f"{receiver.base_url}/ok",
                              id_token_signed_response_alg=alg)
    quiet = await new_client(live_idp)  # signed in too, but no back-channel URI
    sid, token = await signed_in(live_idp, web, client)
    await live_idp.services.sessions.add_client(sid, quiet.client_id)
    before = len(receiver.at("/ok"))
    response = await web.get("/logout", params={"id_token_hint": token,
                                                "post_logout_redirect_uri": BYE})
    assert response.headers["location"] == BYE
    assert await live_idp.services.sessions.get(sid) is None

    row = await settled(live_idp, client.client_id)
    assert (row.status, row.attempts, row.sid) == ("delivered", 1, sid)
    assert await deliveries(live_idp, quiet.client_id) == []
    got = receiver.at("/ok")[before:]
    assert len(got) == 1
    assert got[0].content_type.startswith("application/x-www-form-urlencoded")
    jwks = (await web.get("/jwks")).json()
    decoded = jwt.decode(got[0].form["logout_token"], KeySet.import_key_set(jwks),
                         algorithms=[alg])
    assert decoded.header["alg"] == alg and decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    assert claims["iss"] == live_idp.settings.issuer
    assert claims["aud"] == client.client_id
    assert claims["sid"] == sid and claims["sub"] == row.subject
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in claims and claims["jti"]
    now = time.time()
    assert now - 30 < claims["iat"] <= now + 1 and claims["iat"] < claims["exp"] <= now + 300


async def test_real_flow_id_token_signs_out_and_notifies(
    live_idp: LiveIdp, web: httpx.AsyncClient, receiver: Receiver,
) -> None:
    """End to end: an ID token from the real code flow (login + consent pages), then logout."""
    client, secret = await create_client(
        live_idp.services.db, name="Real RP", redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[BYE], backchannel_logout_uri=f"{receiver.base_url}/ok")
    tokens = await sign_in_to_client(web, client.client_id, secret or "")
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(
        (await web.get("/jwks")).json())).claims
    sid = web.cookies.get(live_idp.settings.session.cookie_name)
    assert claims["sid"] == sid
    response = await web.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": BYE, "state": "z"})
    assert response.headers["location"] == BYE + "&state=z"
    assert await live_idp.services.sessions.get(sid) is None
    row = await settled(live_idp, client.client_id)
    assert row.status == "delivered" and row.sid == sid and row.subject == claims["sub"]


async def test_failing_client_is_retried_then_recorded_as_failed(
    live_idp: LiveIdp, web: httpx.AsyncClient, receiver: Receiver,
) -> None:
    client = await new_client(live_idp, backchannel_logout_uri=f"{receiver.base_url}/fail")
    sid, token = await signed_in(live_idp, web, client)
    before = len(receiver.at("/fail"))
    await web.get("/logout", params={"id_token_hint": token})
    row = await settled(live_idp, client.client_id)
    attempts = len(RETRY_DELAYS) + 1
    assert (row.status, row.attempts, row.last_error) == ("failed", attempts, "HTTP 500")
    tokens = [r.form["logout_token"] for r in receiver.at("/fail")[before:]]
    assert len(tokens) == attempts and len(set(tokens)) == attempts  # a fresh jti each time
    assert await live_idp.services.sessions.get(sid) is None


async def test_unreachable_client_does_not_hold_the_browser(
    live_idp: LiveIdp, web: httpx.AsyncClient,
) -> None:
    from tests.support.server import _listen

    dead = _listen()  # a port that accepts connections but never answers
    client = await new_client(
        live_idp, backchannel_logout_uri=f"http://127.0.0.1:{dead.getsockname()[1]}/logout")
    sid, token = await signed_in(live_idp, web, client)
    started = time.monotonic()
    response = await web.get("/logout", params={"id_token_hint": token,
                                                "post_logout_redirect_uri": BYE})
    assert response.headers["location"] == BYE
    assert time.monotonic() - started < 5  # the browser waits BROWSER_WAIT at most
    rows = await deliveries(live_idp, client.client_id)
    assert rows and rows[0].status == "pending"  # still being retried in the background
    dead.close()


async def test_logout_session_is_reusable_outside_a_request(
    live_idp: LiveIdp, web: httpx.AsyncClient, receiver: Receiver,
) -> None:
    client = await new_client(live_idp, backchannel_logout_uri=f"{receiver.base_url}/ok")
    sid, _ = await signed_in(live_idp, web, client)
    result = await live_idp.services.logout.end(sid, reason="admin", wait=None)
    assert result.session is not None and result.session.sid == sid
    assert result.deliveries == {client.client_id: "delivered"}
    assert await live_idp.services.sessions.get(sid) is None
    again = await live_idp.services.logout.end(sid, reason="admin")
    assert again.session is None and again.deliveries == {}

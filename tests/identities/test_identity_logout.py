"""Logging out a person who chose an identity: each app's back-channel logout token names the
identity that app was given, and an id_token_hint of that identity ends the session (it is one
of the session's identities, not someone else)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.identities.conftest import STUDENT, TA, choose
from tests.identities.test_identity_oidc import params, subject_of, tokens
from tests.oauth.flow import Browser, register
from tests.support.server import LiveIdp
from tests.web.receiver import Receiver, start_receiver

BYE = "https://rp.example.edu/bye"


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    rp = await start_receiver()
    yield rp
    await rp.stop()


async def test_each_app_is_told_of_the_identity_it_was_given(
        live: LiveIdp, browser: Browser, receiver: Receiver) -> None:
    as_ta = await register(live, skip_consent=True, post_logout_redirect_uris=[BYE],
                           backchannel_logout_uri=f"{receiver.base_url}/ok")
    as_student = await register(live, skip_consent=True,
                                backchannel_logout_uri=f"{receiver.base_url}/ok")
    page = await browser.authorize(params(as_ta), username=STUDENT.username,
                                   password=STUDENT.password)
    id_token = (await tokens(live, as_ta, await choose(browser, page, TA.username)))["id_token"]
    page = await browser.authorize(params(as_student))
    await tokens(live, as_student, await choose(browser, page, STUDENT.username))

    before = len(receiver.at("/ok"))
    # the hint names the TA identity, not the entry signed in with: still this person
    bye = await browser.http.get("/logout", params={"id_token_hint": id_token,
                                                    "post_logout_redirect_uri": BYE})
    assert bye.status_code in (302, 303) and bye.headers["location"] == BYE

    keys = KeySet.import_key_set((await browser.http.get("/jwks")).json())
    told: dict[str, str] = {}
    for _ in range(100):
        for got in receiver.at("/ok")[before:]:
            claims = jwt.decode(got.form["logout_token"], keys,
                                algorithms=["RS256", "ES256"]).claims
            told[claims["aud"]] = claims["sub"]
        if {as_ta.client_id, as_student.client_id} <= set(told):
            break
        await asyncio.sleep(0.1)
    assert told[as_ta.client_id] == await subject_of(live, TA.username)
    assert told[as_student.client_id] == await subject_of(live, STUDENT.username)

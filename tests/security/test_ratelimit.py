"""Per-client rate limits on /token, /revoke and /introspect: a fixed window per client in the
Store, 429 with Retry-After and an OAuth error body, other clients unaffected."""

from __future__ import annotations

import asyncio

import httpx

from tests.security.conftest import LOCAL_THROTTLE, WINDOW
from tests.security.flow import register_app
from tests.support.server import LiveIdp
from tests.web.conftest import browser

LIMIT = LOCAL_THROTTLE.token_requests
BOGUS_CODE = {"grant_type": "authorization_code", "code": "not-a-code",
              "redirect_uri": "https://app.example.edu/cb"}


async def _token(client: httpx.AsyncClient, auth: tuple[str, str]) -> httpx.Response:
    return await client.post("/token", data=BOGUS_CODE, auth=auth)


async def test_a_client_over_its_limit_is_told_to_slow_down(local_idp: LiveIdp) -> None:
    app, other = await register_app(local_idp), await register_app(local_idp)
    async with browser(local_idp) as client:
        answers = [await _token(client, (app.client_id, app.secret)) for _ in range(LIMIT)]
        assert [a.status_code for a in answers] == [400] * LIMIT  # invalid_grant, counted
        refused = await _token(client, (app.client_id, app.secret))
        assert refused.status_code == 429
        assert refused.json()["error"] == "slow_down"
        assert 1 <= int(refused.headers["retry-after"]) <= WINDOW
        assert refused.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
        # /revoke draws on the same budget; another client has its own
        revoke = await client.post("/revoke", data={"token": "x"}, auth=(app.client_id, app.secret))
        assert revoke.status_code == 429
        assert (await _token(client, (other.client_id, other.secret))).status_code == 400
        # introspection is counted apart
        introspect = await client.post("/introspect", data={"token": "x"},
                                       auth=(app.client_id, app.secret))
        assert introspect.status_code == 200 and introspect.json() == {"active": False}

        await asyncio.sleep(int(refused.headers["retry-after"]) + 0.3)
        assert (await _token(client, (app.client_id, app.secret))).status_code == 400


async def test_the_client_id_in_the_body_is_counted_too(local_idp: LiveIdp) -> None:
    app = await register_app(local_idp)
    form = {**BOGUS_CODE, "client_id": app.client_id, "client_secret": "wrong"}
    async with browser(local_idp) as client:
        statuses = [(await client.post("/token", data=form)).status_code for _ in range(LIMIT + 1)]
        # the same client over Basic: the same bucket, already empty
        basic = await _token(client, (app.client_id, app.secret))
    assert statuses == [401] * LIMIT + [429]
    assert basic.status_code == 429


async def test_requests_naming_no_client_are_counted_per_address(local_idp: LiveIdp) -> None:
    async with browser(local_idp) as one, browser(local_idp) as two:
        statuses = [(await one.post("/introspect", data={"token": "x"})).status_code
                    for _ in range(LOCAL_THROTTLE.introspect_requests + 1)]
        elsewhere = await two.post("/introspect", data={"token": "x"})
    assert statuses[-1] == 429 and 429 not in statuses[:-1]
    assert elsewhere.status_code != 429

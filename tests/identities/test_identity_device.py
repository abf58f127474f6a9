"""Several identities, one person, through device sign-in (RFC 8628): the same choice in the
sign-in core as for OpenID Connect and CAS. The device's tokens name exactly the identity chosen
on the phone, and an app's access rule picks the identity without asking."""

from __future__ import annotations

from idp.admin.service_clients import set_access_rule
from idp.sso.access import AccessRule
from tests.device.flow import device_client, enter_code, poll, start
from tests.identities.conftest import STUDENT, TA, choose, offered
from tests.oauth.flow import Browser, verify_id_token
from tests.support.server import LiveIdp


async def test_the_device_gets_the_identity_chosen_on_the_phone(live: LiveIdp,
                                                                browser: Browser) -> None:
    client = await device_client(live)
    started = await start(live, client)
    entered = await enter_code(browser, started["user_code"])
    page = await browser.walk(entered, username=STUDENT.username, password=STUDENT.password)
    assert browser.pages[-1] == "identity"
    assert set(offered(page)) == {STUDENT.username, TA.username}
    done = await choose(browser, page, TA.username)
    assert done.status_code == 200 and "outcome=approved" in str(done.url), done.text[:500]
    tokens = await poll(live, client, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    claims = await verify_id_token(live, tokens.json()["id_token"], client.client_id)
    assert claims["preferred_username"] == TA.username


async def test_an_apps_rule_picks_the_identity(live: LiveIdp, browser: Browser) -> None:
    client = await device_client(live)
    await set_access_rule(live.services.db, client.client_id,
                          AccessRule(affiliations=("student",)))
    started = await start(live, client)
    entered = await enter_code(browser, started["user_code"])
    done = await browser.walk(entered, username=TA.username, password=TA.password)
    assert "identity" not in browser.pages and "outcome=approved" in str(done.url)
    tokens = await poll(live, client, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    claims = await verify_id_token(live, tokens.json()["id_token"], client.client_id)
    assert claims["preferred_username"] == STUDENT.username

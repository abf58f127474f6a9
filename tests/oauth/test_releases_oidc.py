"""The attribute-release record through OpenID Connect: every ID token (code redemption and
refresh), userinfo answer and active introspection is recorded as the claim names the app got,
for the person, folded per day; refused answers and machines' tokens record nothing. On the
embedded defaults and on slapd + Redis + PostgreSQL."""

from __future__ import annotations

from typing import Any

from idp.protocols.oidc.claims import CLAIMS_SUPPORTED, SCOPE_CLAIMS
from idp.sso import releases
from idp.sso.releases import ReleaseFilter
from tests.oauth.flow import RegisteredClient, register, tokens_for, verify_id_token
from tests.support.server import LiveIdp

PERSON_CLAIMS = {claim for claims in SCOPE_CLAIMS.values() for claim in claims}
PROTOCOL_CLAIMS = set(CLAIMS_SUPPORTED) - PERSON_CLAIMS


async def _recorded(live: LiveIdp, client_id: str) -> list[tuple[str, list[str], int]]:
    """(subject, claims, count) of the app's rows, once what is pending has been written."""
    await live.services.releases.flush()
    rows = await releases.search(live.services.db, ReleaseFilter(client_id=client_id))
    return sorted((r.subject, r.claims, r.count) for r in rows)


async def _subject(live: LiveIdp, username: str = "student") -> str:
    person = await live.services.directory.find(username)
    assert person is not None
    return person.subject


async def _refresh(live: LiveIdp, client: RegisteredClient, token: str) -> dict[str, Any]:
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": token}, auth=client.basic)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_id_token_records_the_person_claims_it_carries(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    token = await tokens_for(live, first_party, scope="openid profile email offline_access")
    claims = await verify_id_token(live, token["id_token"], first_party.client_id)
    carried = sorted(set(claims) - PROTOCOL_CLAIMS)
    assert "email" in carried and "name" in carried and "sub" in carried
    subject = await _subject(live)
    assert await _recorded(live, first_party.client_id) == [(subject, carried, 1)]

    # a refresh brings a new ID token: the same claims the same day fold into the same row
    await _refresh(live, first_party, token["refresh_token"])
    assert await _recorded(live, first_party.client_id) == [(subject, carried, 2)]


async def test_a_narrower_scope_is_another_claim_set(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    await tokens_for(live, first_party, scope="openid profile")
    await tokens_for(live, first_party, scope="openid")
    subject = await _subject(live)
    recorded = await _recorded(live, first_party.client_id)
    assert (subject, ["sub"], 1) in recorded and len(recorded) == 2
    [(_, wider, _)] = [row for row in recorded if row[1] != ["sub"]]
    assert "name" in wider and "email" not in wider


async def test_userinfo_records_what_it_answers(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    token = await tokens_for(live, first_party, scope="openid phone")
    async with live.client() as http:
        answer = await http.get("/userinfo",
                                headers={"Authorization": f"Bearer {token['access_token']}"})
        refused = await http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 200 and refused.status_code == 401
    subject = await _subject(live)
    # the ID token and the userinfo answer carried the same claims: one row, two answers
    assert await _recorded(live, first_party.client_id) == [(subject, sorted(answer.json()), 2)]


async def test_introspection_records_the_person_for_the_app_that_asked(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    token = await tokens_for(live, first_party, scope="openid offline_access")
    subject = await _subject(live)
    async with live.client() as http:
        for value in (token["access_token"], token["refresh_token"]):
            answer = await http.post("/introspect", data={"token": value}, auth=first_party.basic)
            assert answer.json()["active"] is True
        other = await register(live, skip_consent=True)
        inactive = await http.post("/introspect", data={"token": token["access_token"]},
                                   auth=other.basic)
        assert inactive.json() == {"active": False}
    # the ID token's ["sub"] and two introspections' ["sub"]: one row
    assert await _recorded(live, first_party.client_id) == [(subject, ["sub"], 3)]
    assert await _recorded(live, other.client_id) == []  # told nothing, recorded nothing


async def test_a_machine_token_records_no_release(live: LiveIdp) -> None:
    client = await register(live, grant_types=["client_credentials"], redirect_uris=[],
                            scopes=["api.read"])
    async with live.client() as http:
        issued = await http.post("/token", data={"grant_type": "client_credentials",
                                                 "scope": "api.read"}, auth=client.basic)
        answer = await http.post("/introspect", data={"token": issued.json()["access_token"]},
                                 auth=client.basic)
    assert answer.json()["active"] is True
    assert await _recorded(live, client.client_id) == []


async def test_a_refused_redemption_records_nothing(
        live: LiveIdp, first_party: RegisteredClient) -> None:
    from tests.oauth.flow import Browser, exchange

    browser = Browser.open(live)
    try:
        code, _ = await browser.code(first_party, scope="openid profile")
    finally:
        await browser.close()
    assert (await exchange(live, first_party, code)).status_code == 200
    replayed = await exchange(live, first_party, code)
    assert replayed.status_code == 400
    assert [count for _, _, count in await _recorded(live, first_party.client_id)] == [1]

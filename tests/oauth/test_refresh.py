"""The refresh_token grant: RFC 6749 §6, rotation and reuse detection (RFC 9700 §4.14.2),
OIDC Core §12."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from sqlalchemy import select

from idp.db.models import AuditEvent, RefreshToken
from idp.protocols.oidc.tokens import token_digest
from tests.oauth.flow import (
    REDIRECT,
    Browser,
    RegisteredClient,
    exchange,
    query_of,
    register,
    tokens_for,
    verify_id_token,
)
from tests.support.people import add_person, disable_person
from tests.support.server import LiveIdp

SCOPE = "openid profile email offline_access"


async def refresh(live: LiveIdp, client: RegisteredClient, token: str,
                  **extra: str) -> httpx.Response:
    async with live.client() as http:
        return await http.post("/token", auth=client.basic,
                               data={"grant_type": "refresh_token", "refresh_token": token,
                                     **extra})


async def test_refresh_through_authlib_client_rotates(live: LiveIdp, first_party) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE, nonce="n-1")
    async with AsyncOAuth2Client(first_party.client_id, first_party.secret) as rp:
        second = await rp.refresh_token(f"{live.settings.issuer}/token",
                                        refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == SCOPE
    old = await verify_id_token(live, first["id_token"], first_party.client_id)
    new = await verify_id_token(live, second["id_token"], first_party.client_id)
    assert new["sub"] == old["sub"] and new["auth_time"] == old["auth_time"]
    assert "nonce" not in new


def refreshes_counted(metrics: str, client: RegisteredClient) -> float:
    found = re.search(r'^idp_tokens_issued_total\{client_id="' + re.escape(client.client_id)
                      + r'",grant_type="refresh_token"\} ([0-9.]+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_rotation_is_counted_in_the_metrics(live: LiveIdp, first_party) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE)
    async with live.client() as http:
        before = refreshes_counted((await http.get("/metrics")).text, first_party)
        assert (await refresh(live, first_party, first["refresh_token"])).status_code == 200
        assert (await refresh(live, first_party, first["refresh_token"])).status_code == 400
        after = refreshes_counted((await http.get("/metrics")).text, first_party)
    assert after - before == 1  # the reuse is not a token issued


async def test_reuse_of_a_rotated_token_revokes_the_family(live: LiveIdp, first_party) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE)
    second = (await refresh(live, first_party, first["refresh_token"])).json()
    reuse = await refresh(live, first_party, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # the legitimate newest token is revoked with its family
    after = await refresh(live, first_party, second["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


async def refresh_outcomes(live: LiveIdp, client: RegisteredClient) -> list[str]:
    await live.services.audit.caught_up()  # a token issued is audited behind its response
    async with live.services.db() as db:
        rows = await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == "token", AuditEvent.client_id == client.client_id))
        return [row.outcome for row in rows
                if row.outcome != "success" or row.detail.get("grant") == "refresh_token"]


async def test_concurrent_refreshes_only_one_wins(live: LiveIdp, first_party) -> None:
    first = await tokens_for(live, first_party, scope=SCOPE)
    before = Counter(await refresh_outcomes(live, first_party))
    results = await asyncio.gather(*(refresh(live, first_party, first["refresh_token"])
                                     for _ in range(4)))
    statuses = sorted(response.status_code for response in results)
    assert statuses.count(200) <= 1, statuses
    assert statuses.count(400) >= 3, statuses
    # the audit log says what happened: a success only for a rotation that was answered
    logged = Counter(await refresh_outcomes(live, first_party)) - before
    assert logged["success"] == statuses.count(200), logged
    assert logged["refresh_reuse"] + logged["invalid_grant"] >= 3, logged


async def test_scope_may_be_narrowed_not_widened(live: LiveIdp, first_party) -> None:
    first = await tokens_for(live, first_party, scope="openid profile offline_access")
    wider = await refresh(live, first_party, first["refresh_token"], scope="openid email")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    first = await tokens_for(live, first_party, scope="openid profile offline_access")
    narrow = await refresh(live, first_party, first["refresh_token"], scope="openid")
    assert narrow.status_code == 200, narrow.text
    body = narrow.json()
    assert body["scope"] == "openid"
    # the rotated refresh token keeps the original grant (RFC 6749 §6)
    again = await refresh(live, first_party, body["refresh_token"])
    assert again.json()["scope"] == "openid profile offline_access"


async def test_a_refused_refresh_leaves_the_token_usable(live: LiveIdp, first_party) -> None:
    """The grant claims the token before it decides (idp/protocols/oidc/ledger.py claim_refresh);
    a refusal gives the claim back: the token still works, and nothing of the refusal is
    left in its family."""
    first = await tokens_for(live, first_party, scope="openid profile offline_access")
    wider = await refresh(live, first_party, first["refresh_token"], scope="openid email")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    again = await refresh(live, first_party, first["refresh_token"])
    assert again.status_code == 200, again.text
    family = await family_rows(live, first["refresh_token"])
    assert len(family) == 2  # the token and the one successor that was sent
    assert sum(row.rotated_at is None for row in family) == 1


async def family_rows(live: LiveIdp, token: str) -> list[RefreshToken]:
    async with live.services.db() as db:
        first = await db.get(RefreshToken, token_digest(token))
        assert first is not None
        found = await db.scalars(select(RefreshToken).where(
            RefreshToken.family_id == first.family_id))
        return list(found)


async def test_refresh_token_is_bound_to_its_client(live: LiveIdp, first_party) -> None:
    other = await register(live, skip_consent=True)
    first = await tokens_for(live, first_party, scope=SCOPE)
    response = await refresh(live, other, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


async def test_unknown_refresh_token(live: LiveIdp, first_party) -> None:
    response = await refresh(live, first_party, secrets.token_urlsafe(32))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_disabled_person_cannot_refresh(live: LiveIdp, first_party) -> None:
    username = "leaver-" + secrets.token_hex(3)
    await add_person(live, username, "leaver-pass-123", name="Leaver")
    browser = Browser.open(live)
    response = await browser.authorize(
        {"response_type": "code", "client_id": first_party.client_id, "redirect_uri": REDIRECT,
         "scope": SCOPE, "state": "s"}, username=username, password="leaver-pass-123")
    await browser.close()
    token = (await exchange(live, first_party, query_of(response.headers["location"])["code"])).json()
    refreshed = await refresh(live, first_party, token["refresh_token"])
    assert refreshed.status_code == 200  # works while the person is active
    token = refreshed.json()
    await disable_person(live, username)
    response = await refresh(live, first_party, token["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"

"""The client_credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.protocols.oidc.clients import create_client
from tests.oauth.flow import jwks, register
from tests.support.server import LiveIdp


async def machine(live: LiveIdp):  # type: ignore[no-untyped-def]
    return await register(live, grant_types=["client_credentials"], redirect_uris=[],
                          scopes=["api.read", "api.write", "openid", "profile"])


async def test_client_gets_a_machine_token(live: LiveIdp) -> None:
    client = await machine(live)
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "client_credentials",
                                                   "scope": "api.read"}, auth=client.basic)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "api.read"
    assert "id_token" not in body and "refresh_token" not in body
    claims = jwt.decode(body["access_token"], await jwks(live)).claims
    assert claims["sub"] == client.client_id and claims["client_id"] == client.client_id


async def test_machine_tokens_are_audited_as_one_row_per_client_per_minute(live: LiveIdp) -> None:
    """IDP_AUDIT_MACHINE_TOKENS=summary (the default): the tokens of one client in one minute
    make one audit row with their count, grants and scopes (idp/db/machine_audit.py)."""
    client = await machine(live)
    async with live.client() as http:
        for scope in ("api.read", "api.read", "api.write"):
            response = await http.post("/token", data={"grant_type": "client_credentials",
                                                       "scope": scope}, auth=client.basic)
            assert response.status_code == 200
    await live.services.audit.settle()
    async with live.services.db() as db:
        rows = list(await db.scalars(select(AuditEvent).where(
            AuditEvent.client_id == client.client_id)))
    # the three tokens may straddle a minute's end: then two rows, whose counts add up
    assert 1 <= len(rows) <= 2
    assert sum(r.detail["count"] for r in rows) == 3
    for row in rows:
        assert (row.kind, row.outcome, row.actor, row.detail["grant"], row.detail["grants"]) == \
            ("token", "success", client.client_id, "client_credentials", ["client_credentials"])
        assert row.at.second == 0 and row.at.microsecond == 0
    assert set().union(*(r.detail["scopes"] for r in rows)) == {"api.read", "api.write"}


async def test_default_scope_is_the_clients_api_scopes(live: LiveIdp) -> None:
    client = await machine(live)
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "client_credentials"},
                                   auth=client.basic)
    assert response.json()["scope"] == "api.read api.write"


async def test_person_scopes_and_unknown_scopes_are_refused(live: LiveIdp) -> None:
    client = await machine(live)
    async with live.client() as http:
        for scope in ("openid", "api.delete", "profile api.read"):
            response = await http.post("/token", data={"grant_type": "client_credentials",
                                                       "scope": scope}, auth=client.basic)
            assert response.status_code == 400, scope
            assert response.json()["error"] == "invalid_scope"


async def test_client_without_the_grant_is_unauthorized(live: LiveIdp, confidential) -> None:
    async with live.client() as http:
        response = await http.post("/token", data={"grant_type": "client_credentials"},
                                   auth=confidential.basic)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_public_clients_cannot_have_the_grant(live: LiveIdp) -> None:
    with pytest.raises(ValueError, match="confidential"):
        await create_client(live.services.db, name="x", redirect_uris=[], public=True,
                            grant_types=["client_credentials"])


async def test_form_bodies_are_read_as_rfc_6749_appendix_b_says(live: LiveIdp) -> None:
    """Percent-encoding and '+' decode (Appendix B); a value that is not UTF-8 and a body with
    too many fields get a clear 400, never a 500."""
    client = await machine(live)
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with live.client() as http:
        encoded = await http.post("/token", content=b"grant_type=client%5Fcredentials"
                                  b"&scope=api.read+api.write", headers=form, auth=client.basic)
        assert encoded.status_code == 200, encoded.text
        assert encoded.json()["scope"] == "api.read api.write"
        garbled = await http.post("/token", content=b"grant_type=client_credentials&scope=api.%ff",
                                  headers=form, auth=client.basic)
        assert garbled.status_code == 400 and garbled.json()["error"] == "invalid_scope"
        crowded = await http.post("/token", content=b"&".join([b"x=1"] * 1500), headers=form,
                                  auth=client.basic)
        assert crowded.status_code == 400, crowded.text
        assert "Too many form fields" in crowded.text

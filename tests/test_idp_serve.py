"""The whole promise, end to end: `idp serve` backed by slapd, Redis and PostgreSQL, configured
only through the documented settings and `idp clients add`, driven by authlib's OAuth client:
login, SSO into a second client, refresh, introspection, revocation, and logout with
back-channel delivery."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oauth.flow import Browser, query_of
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.redis import unique_prefix
from tests.support.server import _listen
from tests.support.slapd import SERVICE_DN, SERVICE_PASSWORD, SUFFIX, Campus
from tests.web.receiver import Receiver, start_receiver

BIN = Path(sys.executable).parent
REDIRECT_A = "https://hall.example.edu/callback"
REDIRECT_B = "https://oa.example.edu/callback"


@dataclass
class Served:
    """A running `idp serve` process; quacks like LiveIdp for the test Browser."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False, timeout=20,
                                 **kwargs)

    def idp(self, *args: str) -> dict[str, Any]:
        result = subprocess.run([str(BIN / "idp"), *args], env=self.env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def _spawn_serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "idp"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
async def served(campus_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Served]:
    database_url = await create_postgres_database()
    sock = _listen()
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({
        "LDAPNOINIT": "1",
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_DATABASE_URL": database_url,
        "IDP_REDIS_URL": "redis://127.0.0.1:6379/0",
        "IDP_REDIS_PREFIX": unique_prefix(),
        "IDP_DIRECTORY": "ldap",
        "IDP_LDAP_URL": campus_slapd.server.ldap_uri.rstrip("/"),
        "IDP_LDAP_BIND_DN": SERVICE_DN,
        "IDP_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
        "IDP_LDAP_USER_BASE": f"ou=people,{SUFFIX}",
        "IDP_LDAP_GROUP_BASE": f"ou=groups,{SUFFIX}",
        "IDP_KEYS_DIR": str(tmp_path_factory.mktemp("serve-keys")),
    })
    served = Served(f"http://127.0.0.1:{port}", env, _spawn_serve(port, env))
    process = served.process
    async with served.client() as http:
        for _ in range(150):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("idp serve did not become ready")
    yield served
    process.terminate()
    process.wait(timeout=20)
    await drop_postgres_database(database_url)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    started = await start_receiver()
    yield started
    await started.stop()


async def test_one_login_for_two_apps_then_one_logout(served: Served, receiver: Receiver) -> None:
    hall = served.idp("clients", "add", "--name", "Service hall", "--redirect-uri", REDIRECT_A,
                      "--post-logout-redirect-uri", "https://hall.example.edu/",
                      "--backchannel-logout-uri", f"{receiver.base_url}/ok", "--skip-consent",
                      "--json")
    oa = served.idp("clients", "add", "--name", "OA", "--redirect-uri", REDIRECT_B,
                    "--backchannel-logout-uri", f"{receiver.base_url}/ok", "--skip-consent",
                    "--id-token-alg", "ES256", "--json")
    async with served.client() as http:
        meta = (await http.get("/.well-known/openid-configuration")).json()
        keys = KeySet.import_key_set((await http.get(meta["jwks_uri"])).json())
    assert meta["issuer"] == served.base_url

    browser = Browser.open(served)  # type: ignore[arg-type]
    verifier = secrets.token_urlsafe(48)
    async with AsyncOAuth2Client(hall["client_id"], hall["client_secret"],
                                 scope="openid profile campus groups offline_access",
                                 redirect_uri=REDIRECT_A, code_challenge_method="S256") as rp:
        url, _ = rp.create_authorization_url(meta["authorization_endpoint"],
                                             code_verifier=verifier, nonce="n-1")
        callback = (await browser.visit(url)).headers["location"]
        assert "login" in browser.pages
        token = await rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                     code_verifier=verifier)
        id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
        assert id_token["iss"] == served.base_url and id_token["aud"] == hall["client_id"]
        assert id_token["nonce"] == "n-1" and id_token["sid"]
        assert id_token["preferred_username"] == "student"

        info = (await rp.get(meta["userinfo_endpoint"])).json()
        assert info["sub"] == id_token["sub"] and info["name"] == "张三"
        assert "students" in info["groups"] and info["campus_number"]

        refreshed = await rp.refresh_token(meta["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]

        async with served.client() as http:
            introspected = (await http.post(meta["introspection_endpoint"],
                                            data={"token": refreshed["access_token"]},
                                            auth=(hall["client_id"], hall["client_secret"]))).json()
        assert introspected["active"] is True and introspected["sub"] == id_token["sub"]

        revoked = await rp.revoke_token(meta["revocation_endpoint"], refreshed["refresh_token"],
                                        token_type_hint="refresh_token")
        assert revoked.status_code == 200
        async with served.client() as http:
            gone = (await http.post(meta["introspection_endpoint"],
                                    data={"token": refreshed["refresh_token"]},
                                    auth=(hall["client_id"], hall["client_secret"]))).json()
        assert gone == {"active": False}

    # single sign-on: the OA system gets a code without the login form
    oa_verifier = secrets.token_urlsafe(48)
    async with AsyncOAuth2Client(oa["client_id"], oa["client_secret"], scope="openid profile",
                                 redirect_uri=REDIRECT_B, code_challenge_method="S256") as rp:
        url, _ = rp.create_authorization_url(meta["authorization_endpoint"],
                                             code_verifier=oa_verifier)
        callback = (await browser.visit(url)).headers["location"]
        assert "login" not in browser.pages
        oa_token = await rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                        code_verifier=oa_verifier)
    oa_claims = jwt.decode(oa_token["id_token"], keys, algorithms=["ES256"]).claims
    assert oa_claims["sub"] == id_token["sub"] and oa_claims["sid"] == id_token["sid"]

    # one logout: back to the hall with its state, and both apps told by back-channel
    response = await browser.http.get(meta["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://hall.example.edu/",
        "state": "bye"})
    assert response.status_code in (302, 303)
    assert query_of(response.headers["location"]) == {"state": "bye"}
    for _ in range(50):
        if len(receiver.at("/ok")) >= 2:
            break
        await asyncio.sleep(0.1)
    audiences = set()
    for delivery in receiver.at("/ok"):
        claims = jwt.decode(delivery.form["logout_token"], keys, algorithms=["RS256", "ES256"]).claims
        assert claims["sid"] == id_token["sid"] and "nonce" not in claims
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        audiences.add(claims["aud"])
    assert audiences == {hall["client_id"], oa["client_id"]}

    # and the session is gone: prompt=none now answers login_required
    response = await browser.http.get("/authorize", params={
        "response_type": "code", "client_id": oa["client_id"], "redirect_uri": REDIRECT_B,
        "scope": "openid", "prompt": "none", "state": "after",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})
    assert query_of(response.headers["location"])["error"] == "login_required"
    await browser.close()

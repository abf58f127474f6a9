"""Directory-outage degradation, end to end: campus-idp as in production (slapd behind a CutProxy,
Redis, PostgreSQL) with IDP_DIRECTORY_OFFLINE_LOGIN=true.

With every LDAP server unreachable, people already signed in keep going: single sign-on into a
further app, refresh and userinfo are served from their last-known copy, with the same claims as
before; /readyz says "degraded" and stays 200; a person who signed in within the offline window
signs in again, audited as `offline` and counted in /metrics; an admin, or someone never seen,
gets the outage page and loses nothing from their login budget. Once slapd is back everything is
live again at the next request, with no restart.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.settings import ThrottleSettings
from idp.sso.throttle import PREFIX, entry_hash
from tests.oauth.flow import Browser, RegisteredClient, exchange, register, verify_id_token
from tests.security.support import person_ldif
from tests.support.cut import CutProxy
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.redis import REDIS_URL, unique_prefix
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import DEFAULT_POLICY, CampusSlapd, ldap_settings
from tests.web.conftest import browser, fresh_ip, start_login, submit_login

PEOPLE = {f"hall{n}": f"Hall-pass-{n}" for n in range(5)}
SCOPE = "openid profile email campus groups offline_access"
# what differs between two ID tokens of one person anyway
VOLATILE = {"iat", "exp", "auth_time", "nonce", "at_hash", "c_hash", "jti", "aud", "azp", "sid"}


@pytest.fixture(scope="module")
def slapd() -> Iterator[CampusSlapd]:
    server = CampusSlapd(memberof=True)
    server.start()
    server.seed("\n".join(person_ldif(uid, password) for uid, password in PEOPLE.items()))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(slapd: CampusSlapd) -> Iterator[CutProxy]:
    uri = urlsplit(slapd.ldap_uri)
    assert uri.hostname and uri.port
    started = CutProxy(uri.hostname, uri.port, name="slapd").start()
    yield started
    started.close()


@pytest.fixture(scope="module")
async def idp(slapd: CampusSlapd, proxy: CutProxy,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    database_url = await create_postgres_database()
    ldap = ldap_settings(slapd, url=f"ldap://127.0.0.1:{proxy.port}", person_cache_seconds=0,
                         ppolicy_default_dn=DEFAULT_POLICY)
    live = await start_idp(
        database_url=database_url, redis_url=REDIS_URL, redis_prefix=unique_prefix(),
        directory="ldap", ldap=ldap.model_dump(), keys_dir=tmp_path_factory.mktemp("keys"),
        directory_offline_login=True, throttle=ThrottleSettings(window=900, per_ip=1000))
    yield live
    proxy.restore()
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


async def _app(live: LiveIdp) -> RegisteredClient:
    return await register(live, skip_consent=True,
                          scopes=["openid", "profile", "email", "campus", "groups",
                                  "offline_access"])


def _stable(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if name not in VOLATILE}


async def _metric(live: LiveIdp, name: str, **labels: str) -> float:
    async with live.client() as http:
        text = (await http.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def _readyz(live: LiveIdp) -> tuple[int, dict[str, Any]]:
    async with live.client() as http:
        answer = await http.get("/readyz")
    return answer.status_code, answer.json()


class SignedIn:
    """A person signed in to app A (tokens in hand) in a browser that keeps its SSO session."""

    def __init__(self, browser: Browser, tokens: dict[str, Any], claims: dict[str, Any],
                 userinfo: dict[str, Any]) -> None:
        self.browser, self.tokens, self.claims, self.userinfo = browser, tokens, claims, userinfo


async def _userinfo(live: LiveIdp, access_token: str) -> tuple[int, dict[str, Any]]:
    async with live.client() as http:
        answer = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return answer.status_code, answer.json()


async def _sign_in(live: LiveIdp, app: RegisteredClient, username: str) -> SignedIn:
    person = Browser.open(live)
    code, _ = await person.code(app, scope=SCOPE, username=username,
                                password=PEOPLE[username])
    answer = await exchange(live, app, code)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    status, userinfo = await _userinfo(live, tokens["access_token"])
    assert status == 200
    claims = await verify_id_token(live, tokens["id_token"], app.client_id)
    return SignedIn(person, tokens, claims, userinfo)


async def test_people_signed_in_keep_working_while_the_directory_is_away(
    idp: LiveIdp, proxy: CutProxy,
) -> None:
    app_a, app_b = await _app(idp), await _app(idp)
    people = {username: await _sign_in(idp, app_a, username) for username in PEOPLE}
    served_before = await _metric(idp, "idp_directory_last_known_total", use="person")
    answers: list[int] = []  # every request of the bounded run, for the tally below
    with proxy.down():
        status, ready = await _readyz(idp)
        assert status == 200 and ready["status"] == "degraded" and ready["ready"] is True
        assert ready["checks"]["directory"].startswith("degraded")
        for username, signed in people.items():
            # single sign-on into a further app: no login page, a code, tokens, same claims
            code, _ = await signed.browser.code(app_b, scope=SCOPE)
            assert "login" not in signed.browser.pages, (username, signed.browser.pages)
            redeemed = await exchange(idp, app_b, code)
            answers.append(redeemed.status_code)
            claims_b = await verify_id_token(idp, redeemed.json()["id_token"], app_b.client_id)
            assert _stable(claims_b) == _stable(signed.claims)
            # refresh at app A: a new ID token with the same claims, then userinfo as before
            async with idp.client() as http:
                refreshed = await http.post("/token", auth=app_a.basic, data={
                    "grant_type": "refresh_token",
                    "refresh_token": signed.tokens["refresh_token"]})
            answers.append(refreshed.status_code)
            assert refreshed.status_code == 200, refreshed.text
            claims_a = await verify_id_token(idp, refreshed.json()["id_token"], app_a.client_id)
            assert _stable(claims_a) == _stable(signed.claims)
            status, userinfo = await _userinfo(idp, refreshed.json()["access_token"])
            answers.append(status)
            assert userinfo == signed.userinfo
        # a person never signed in before cannot be vouched for: the outage page
        assert await _login(idp, "developer", "developer123") == 503
    assert answers == [200] * 3 * len(PEOPLE)  # 15 of 15 served
    assert await _metric(idp, "idp_directory_last_known_total", use="person") > served_before

    # back, without a restart: live answers at the next request
    status, ready = await _readyz(idp)
    assert status == 200 and ready["status"] == "ok"
    assert await _login(idp, "developer", "developer123") == 303
    person = await idp.services.directory.by_subject(people["hall0"].claims["sub"])
    assert person is not None and person.as_of is None


async def _login(live: LiveIdp, username: str, password: str, ip: str | None = None) -> int:
    signin = await start_login(live, ui_locales="en")
    async with browser(live, ip=ip or fresh_ip()) as client:
        return (await submit_login(client, signin, username, password)).status_code


async def _offline_audit(live: LiveIdp, username: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.scalars(select(AuditEvent).where(
            AuditEvent.kind == "login", AuditEvent.actor == username,
            AuditEvent.outcome == "offline"))
        return list(rows)


async def test_offline_login_with_the_last_password_the_directory_accepted(
    idp: LiveIdp, proxy: CutProxy,
) -> None:
    assert await _login(idp, "teacher", "teacher123") == 303
    assert await _login(idp, "itadmin", "itadmin123") == 303
    admin = await idp.services.directory.locate("itadmin")
    assert admin is not None
    logins_before = await _metric(idp, "idp_logins_total", outcome="offline")
    with proxy.down():
        assert await _login(idp, "teacher", "teacher123") == 303  # signed in, offline
        assert await _login(idp, "teacher", "not-it") == 401  # a wrong password is still wrong
        # never for admins: the outage page, and the attempt counted before it is given back
        assert await _login(idp, "itadmin", "itadmin123") == 503
        counted = await idp.services.store.get(f"{PREFIX}acct:{entry_hash(admin.key)}")
        assert counted in (None, "0")
    assert len(await _offline_audit(idp, "teacher")) == 1
    assert await _metric(idp, "idp_logins_total", outcome="offline") == logins_before + 1
    assert await _metric(idp, "idp_directory_last_known_total", use="login") >= 1
    assert await _metric(idp, "idp_directory_last_known_total", use="refused") >= 1
    assert await _login(idp, "itadmin", "itadmin123") == 303  # and back online at once

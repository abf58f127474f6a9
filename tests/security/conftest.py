"""Servers for the security tests: the embedded IdP with short throttle windows, and the IdP on
a slapd with ppolicy people plus Redis (production shape), with short windows too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from directory.ldap import LdapDirectory
from idp.sso.throttle import ThrottleSettings
from tests.security.support import (
    SECURITY_POLICIES,
    add_people,
    person_ldif,
    policy,
    start_server,
)
from tests.security.timing_people import DIRECT_PEOPLE_END
from tests.support.redis import REDIS_URL, unique_prefix
from tests.support.server import LiveIdp
from tests.support.slapd import DEFAULT_POLICY, Campus, CampusSlapd, ldap_settings

# seconds: short enough for a test to wait out, long enough that a test's own steps fit in it
# (a login over HTTP on the embedded backends takes ~0.3 s: argon2, SQLite audit rows)
WINDOW = 4
LOCAL_THROTTLE = ThrottleSettings(window=WINDOW, backoff_max=60, per_ip=6,
                                  token_requests=4, introspect_requests=4, rate_window=WINDOW)
LDAP_THROTTLE = ThrottleSettings(window=WINDOW, backoff_max=60, per_ip=1000)

# uid -> password of the people the LDAP tests log in as
LDAP_PEOPLE = {
    "guessme": "Guess-me-not-1", "lowlock": "Low-lock-pass-1", "racer": "Racer-pass-1",
    "expiring": "Expiring-pass-1", "mustreset": "Must-reset-1", "strictly": "Strictly-pass-1",
    "graceful": "Graceful-pass-1", "warnme": "Warn-me-pass-1", "noadmin": "No-admin-pass-1",
    "history": "History-pass-1", "lister": "Lister-pass-1", "zhuxin": "Zhu-xin-pass-1",
    "lixiang": "Li-xiang-pass-1", "outaged": "Outaged-pass-1",
    "counted": "Counted-pass-1",
}


@pytest.fixture(scope="session")
def security_slapd() -> Iterator[Campus]:
    server = CampusSlapd(memberof=True)
    server.start()
    server.seed(SECURITY_POLICIES)
    p = LDAP_PEOPLE
    add_people(
        server,
        person_ldif("guessme", p["guessme"]),
        person_ldif("lowlock", p["lowlock"], policy("lowlock")),
        person_ldif("racer", p["racer"]),
        person_ldif("expiring", p["expiring"], policy("short")),
        person_ldif("noadmin", p["noadmin"], policy("short")),
        person_ldif("mustreset", p["mustreset"], "pwdReset: TRUE"),
        person_ldif("strictly", p["strictly"], policy("strict"), "pwdReset: TRUE"),
        person_ldif("history", p["history"], policy("strict")),
        person_ldif("graceful", p["graceful"], policy("graced")),
        person_ldif("warnme", p["warnme"], policy("warned")),
        person_ldif("lister", p["lister"]),
        person_ldif("zhuxin", p["zhuxin"]),
        person_ldif("lixiang", p["lixiang"]),
        person_ldif("outaged", p["outaged"]),
        person_ldif("counted", p["counted"]),
        *(person_ldif(f"timing{n}", f"Timing-pass-{n}") for n in range(DIRECT_PEOPLE_END)),
    )
    campus = Campus(server)
    campus.wait_for_expiry()  # the "short" and "graced" passwords are past their one second
    yield campus
    server.stop()


def _ldap(campus: Campus, *, admin: bool = True) -> dict[str, object]:
    server = campus.server
    extra = {"admin_bind_dn": server.root_dn, "admin_bind_password": server.root_pw} if admin else {}
    return ldap_settings(server, **extra).model_dump()


@pytest.fixture(scope="session")
async def ldap_idp(security_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[LiveIdp]:
    """The IdP on slapd (admin account: the directory manager) and Redis, short windows."""
    live = await start_server(
        tmp_path_factory.mktemp("ldap-idp"), throttle=LDAP_THROTTLE, directory="ldap",
        ldap={**_ldap(security_slapd), "ppolicy_default_dn": DEFAULT_POLICY},
        redis_url=REDIS_URL, redis_prefix=unique_prefix())
    live.slapd = security_slapd.server
    yield live
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()


@pytest.fixture(scope="session")
async def local_idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    """The embedded IdP (local directory with the demo people, in-process store, SQLite)."""
    live = await start_server(tmp_path_factory.mktemp("local-idp"), throttle=LOCAL_THROTTLE,
                              directory="local", redis_url=None)
    yield live
    await live.stop()


@pytest.fixture(scope="session")
async def security_ldap(security_slapd: Campus) -> AsyncIterator[LdapDirectory]:
    """LdapDirectory on the security slapd, told which policy is the default, without the IdP."""
    settings = ldap_settings(security_slapd.server).model_copy(
        update={"ppolicy_default_dn": DEFAULT_POLICY})
    directory = LdapDirectory(settings)
    yield directory
    await directory.close()


@pytest.fixture(scope="session")
async def unconfigured_ldap(security_slapd: Campus) -> AsyncIterator[LdapDirectory]:
    """The same directory with neither the default policy's DN nor an admin account."""
    directory = LdapDirectory(ldap_settings(security_slapd.server))
    yield directory
    await directory.close()

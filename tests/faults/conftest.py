"""One campus-idp as deployed: a slapd of this suite's own (stopped and started for real), Redis
and PostgreSQL each behind a CutProxy (shared servers: taken away by the proxy, never killed), a
fresh database; and, per test, new apps and browsers signed in before the run."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.mfa.people import Someone
from tests.oauth.flow import Browser, RegisteredClient, register
from tests.outages.world import code_flow
from tests.security.support import add_people, person_ldif
from tests.support.cut import CutProxy
from tests.support.databases import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)
from tests.support.redis import REDIS_URL, redis_store, unique_prefix
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import CampusSlapd, ldap_settings

POOL = 300  # people who sign in during the runs, each in turn (a sign-in a minute each at most)


@dataclass
class Fixture:
    """What a fault test works with."""

    live: LiveIdp
    slapd: CampusSlapd
    proxies: dict[str, CutProxy]  # store, database
    database_url: str  # the database itself, past the proxy (to count audit rows)
    people: Iterator[Someone]


@pytest.fixture(scope="module")
def fault_slapd() -> Iterator[CampusSlapd]:
    server = CampusSlapd(memberof=True)
    server.start()
    server.seed()
    yield server
    if not server.running:
        server.resume()
    server.stop()


@pytest.fixture(scope="module")
def people(fault_slapd: CampusSlapd) -> list[Someone]:
    tag = secrets.token_hex(2)
    pool = [Someone(f"f{tag}{n:03d}", f"Fault-{tag}-{n}-pw", f"f{tag}{n:03d}@example.edu")
            for n in range(POOL)]
    add_people(fault_slapd, *(person_ldif(p.username, p.password) for p in pool))
    return pool


@pytest.fixture(scope="module")
def fault_proxies() -> Iterator[dict[str, CutProxy]]:
    redis = urlsplit(REDIS_URL)
    assert redis.hostname and redis.port
    started = {"store": CutProxy(redis.hostname, redis.port, name="redis").start(),
               "database": CutProxy(PG_HOST, PG_PORT, name="postgresql").start()}
    yield started
    for proxy in started.values():
        proxy.close()


@pytest.fixture(scope="module")
async def faults(fault_slapd: CampusSlapd, fault_proxies: dict[str, CutProxy],
                 people: list[Someone], tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Fixture]:
    async with redis_store():  # Redis itself must answer: a clear failure, not 503s later
        pass
    database_url = await create_postgres_database()
    name = database_url.rsplit("/", 1)[1]
    # as deployed: the default person cache; short LDAP timeouts so a run stays short
    ldap = ldap_settings(fault_slapd, timeout=2.0, network_timeout=1.0)
    live = await start_idp(
        database_url=f"postgresql://{PG_USER}@127.0.0.1:{fault_proxies['database'].port}/{name}",
        redis_url=f"redis://127.0.0.1:{fault_proxies['store'].port}/0",
        redis_prefix=unique_prefix(), directory="ldap", ldap=ldap.model_dump(),
        keys_dir=tmp_path_factory.mktemp("fault-keys"),
        # a row per machine token, written within seconds: the suite checks each is accounted
        # for while a backend is cut (a minute's summary waits for the minute to end)
        audit_machine_tokens="each")
    yield Fixture(live, fault_slapd, fault_proxies, postgres_url(name), itertools.cycle(people))
    for proxy in fault_proxies.values():
        proxy.restore()
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


@dataclass
class Apps:
    app: RegisteredClient
    machine: RegisteredClient
    signed_in: list[Browser]


async def new_apps(live: LiveIdp, people: Iterator[Someone], browsers: int = 2) -> Apps:
    """Two new apps (so a run's audit rows are its own) and browsers signed in to the first."""
    app = await register(live, skip_consent=True,
                         grant_types=["authorization_code", "refresh_token"])
    machine = await register(live, grant_types=["client_credentials"], redirect_uris=[])
    return Apps(app, machine, await signed_in(live, app, people, browsers))


async def signed_in(live: LiveIdp, app: RegisteredClient, people: Iterator[Someone],
                    count: int) -> list[Browser]:
    """Browsers of people who signed in to `app` (each holds an SSO session)."""
    browsers = []
    for _ in range(count):
        browser = Browser.open(live)
        await code_flow(browser, app, next(people))
        browsers.append(browser)
    return browsers

"""One campus-idp as in production, each backend behind a CutProxy of its own (tests/support/
cut.py): a slapd of this suite's own (its people are changed by the admin routes), Redis under a
key prefix of its own, and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest

from idp.settings import ActivationSettings
from tests.outages.world import World, build_world
from tests.support.cut import CutProxy
from tests.support.databases import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_postgres_database,
    drop_postgres_database,
)
from tests.support.redis import REDIS_URL, redis_store, unique_prefix
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import DEFAULT_POLICY, CampusSlapd, ldap_settings

BACKENDS = ("directory", "store", "database")


@pytest.fixture(scope="module")
def outage_slapd() -> Iterator[CampusSlapd]:
    server = CampusSlapd(memberof=True)
    server.start()
    server.seed()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxies(outage_slapd: CampusSlapd) -> Iterator[dict[str, CutProxy]]:
    """backend name -> the proxy in front of it."""
    ldap = urlsplit(outage_slapd.ldap_uri)
    redis = urlsplit(REDIS_URL)
    assert ldap.hostname and ldap.port and redis.hostname and redis.port
    started = {
        "directory": CutProxy(ldap.hostname, ldap.port, name="slapd").start(),
        "store": CutProxy(redis.hostname, redis.port, name="redis").start(),
        "database": CutProxy(PG_HOST, PG_PORT, name="postgresql").start(),
    }
    yield started
    for proxy in started.values():
        proxy.close()


@pytest.fixture(scope="module")
async def outage_idp(outage_slapd: CampusSlapd, proxies: dict[str, CutProxy],
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    async with redis_store():  # Redis itself must answer: a clear failure, not 500s later
        pass
    database_url = await create_postgres_database()
    name = database_url.rsplit("/", 1)[1]
    ldap = ldap_settings(
        outage_slapd, url=f"ldap://127.0.0.1:{proxies['directory'].port}",
        admin_bind_dn=outage_slapd.root_dn, admin_bind_password=outage_slapd.root_pw,
        ppolicy_default_dn=DEFAULT_POLICY,
        # every request that needs a person asks the directory (no copy kept in memory; the
        # last-known copy in the database stands in only while the directory is away)
        person_cache_seconds=0, timeout=2.0, network_timeout=1.0)
    live = await start_idp(
        database_url=f"postgresql://{PG_USER}@127.0.0.1:{proxies['database'].port}/{name}",
        redis_url=f"redis://127.0.0.1:{proxies['store'].port}/0", redis_prefix=unique_prefix(),
        directory="ldap", ldap=ldap.model_dump(), keys_dir=tmp_path_factory.mktemp("outage-keys"),
        activation=ActivationSettings(facts=["sn", "mail"]))
    live.slapd = outage_slapd
    yield live
    for proxy in proxies.values():
        proxy.restore()
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


@pytest.fixture
async def world(outage_idp: LiveIdp) -> AsyncIterator[World]:
    """Fresh people, clients, sessions, tokens and paused sign-ins, all backends up."""
    built = await build_world(outage_idp)
    yield built
    await built.close()

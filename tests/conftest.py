"""Session-wide fixtures: real servers, real backends. Nothing here is a mock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# the host's ldap.conf must not leak into the tests (LDAP-PITFALLS 15)
os.environ.setdefault("LDAPNOINIT", "1")

from tests.support.samba_dc import SambaDC  # noqa: E402
from tests.support.server import LiveIdp, start_idp  # noqa: E402
from tests.support.slapd import Campus, CampusSlapd, ldap_settings  # noqa: E402


async def _seeded_embedded_idp(root: Path, **overrides: object) -> LiveIdp:
    return await start_idp(
        database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys", directory="local",
        redis_url=None, seed=True, **overrides,
    )


@pytest.fixture(scope="session")
async def live_idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    """campus-idp on its embedded defaults (local directory with the demo people, in-process
    store, SQLite), served over real HTTP on a free port."""
    live = await _seeded_embedded_idp(tmp_path_factory.mktemp("idp"))
    yield live
    await live.stop()


@pytest.fixture(scope="session")
async def live_idp_https(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    """The same with an https issuer (cookie Secure flag, HSTS), still plain HTTP on the socket."""
    live = await _seeded_embedded_idp(tmp_path_factory.mktemp("idp-https"), issuer_scheme="https")
    yield live
    await live.stop()


@pytest.fixture(scope="session")
def campus_slapd() -> Iterator[Campus]:
    """A throwaway OpenLDAP slapd holding the demo campus (ppolicy + memberOf overlays)."""
    server = CampusSlapd(memberof=True)
    server.start()
    server.seed()
    yield Campus(server)
    server.stop()


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    """A throwaway Samba Active Directory DC holding the demo campus and the special people
    (tests/support/samba_campus.py); one per session, since its ports are fixed. A DC that cannot
    start fails the tests that need it, with Samba's own words: never a skip."""
    from tests.directory.conftest import LINK_VALUES, LINKED, SPECIAL_PASSWORDS
    from tests.support.samba_campus import seed_campus, seed_linked

    dc = SambaDC()
    dc.start()
    try:
        seed_campus(dc, {u: p for u, p in SPECIAL_PASSWORDS.items() if u not in LINKED})
        seed_linked(dc, LINKED, LINK_VALUES)
        yield dc
    finally:
        dc.stop()


@pytest.fixture(scope="session")
async def live_idp_production(campus_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                              ) -> AsyncIterator[LiveIdp]:
    """campus-idp as in production: the LDAP directory (slapd), Redis and PostgreSQL."""
    from tests.support.databases import create_postgres_database, drop_postgres_database
    from tests.support.redis import unique_prefix

    database_url = await create_postgres_database()
    prefix = unique_prefix()
    # a short person cache: on, as deployed, yet quick to wait out (tests/support/people.py)
    ldap = ldap_settings(campus_slapd.server, person_cache_seconds=1)
    live = await start_idp(
        database_url=database_url, redis_url="redis://127.0.0.1:6379/0", redis_prefix=prefix,
        directory="ldap", ldap=ldap.model_dump(), keys_dir=tmp_path_factory.mktemp("keys"),
    )
    live.slapd = campus_slapd.server
    yield live
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)

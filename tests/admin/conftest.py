"""Fixtures of the admin tests: campus-idp served over real HTTP with the admin routers, on
- the embedded defaults (local directory on SQLite, in-process store), and
- production parts: a real slapd (written through an admin bind: the test slapd's rootdn
  cn=Manager), Redis and PostgreSQL.
Both hold the demo people (itadmin is in idp-admins). Admin access tokens are minted through the
real authorization code flow (tests/admin/support.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.admin.support import AdminBackend, mint_admin_backend
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.redis import unique_prefix
from tests.support.samba_dc import SambaDC
from tests.support.server import start_idp
from tests.support.slapd import DEMO_LDIF, SUFFIX, Campus, CampusSlapd, ldap_settings
from tests.web.receiver import Receiver, start_receiver


@pytest.fixture(scope="session")
async def admin_local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminBackend]:
    root = tmp_path_factory.mktemp("admin-local")
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="local", redis_url=None, seed=True)
    backend = await mint_admin_backend("local", live)
    yield backend
    await live.stop()


class RoomyCampusSlapd(CampusSlapd):
    """The campus slapd with room for tens of thousands of entries: mdb's default 10 MB map
    fills up during the 5,000-row imports ("entry update failed")."""

    def __init__(self) -> None:
        super().__init__(memberof=True)
        self.slapd_conf_template += "olcDbMaxSize: 2147483648\n"


@pytest.fixture(scope="session")
def admin_slapd() -> Iterator[Campus]:
    """A slapd of the admin tests' own: they create, lock and delete people in it."""
    server = RoomyCampusSlapd()
    server.start()
    server.seed()
    yield Campus(server)
    server.stop()


@pytest.fixture(scope="session")
async def admin_ldap(admin_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[AdminBackend]:
    server = admin_slapd.server
    ldap = ldap_settings(server, admin_bind_dn=server.root_dn, admin_bind_password=server.root_pw)
    database_url = await create_postgres_database()
    live = await start_idp(
        database_url=database_url, redis_url="redis://127.0.0.1:6379/0",
        redis_prefix=unique_prefix(), directory="ldap", ldap=ldap.model_dump(),
        keys_dir=tmp_path_factory.mktemp("admin-ldap-keys"),
    )
    backend = await mint_admin_backend("ldap", live, slapd=admin_slapd)
    yield backend
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


@pytest.fixture(scope="session")
async def admin_ad(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[AdminBackend]:
    """campus-idp on the Samba AD DC, writing through the delegated writer account; embedded
    store and SQLite (the production store and database have their own suites)."""
    root = tmp_path_factory.mktemp("admin-ad")
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="ldap", ldap=samba_dc.admin_settings().model_dump(),
                           redis_url=None)
    backend = await mint_admin_backend("ad", live, dc=samba_dc)
    yield backend
    await live.stop()


BULK_PEOPLE = 100_000


class BulkCampusSlapd(RoomyCampusSlapd):
    """The campus slapd plus 100,000 people, bulk-loaded offline (slapadd) before it starts."""

    def _write_config(self) -> None:
        super()._write_config()
        people = "\n".join(
            f"dn: uid=b{n:06d},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: b{n:06d}\n"
            f"cn: Bulk {n}\nsn: Bulk\nmail: b{n:06d}@example.edu\nemployeeNumber: 9{n:08d}\n"
            for n in range(BULK_PEOPLE))
        self.slapadd(DEMO_LDIF.read_text(encoding="utf-8") + "\n" + people, ["-n1", "-q"])


@pytest.fixture(scope="session")
def bulk_slapd() -> Iterator[CampusSlapd]:
    server = BulkCampusSlapd()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "ldap"])
def backend(request: pytest.FixtureRequest) -> AdminBackend:
    """The people tests run once on the local directory and once on slapd."""
    return request.getfixturevalue(f"admin_{request.param}")


@pytest.fixture(scope="session")
async def rp_receiver() -> AsyncIterator[Receiver]:
    """A relying party's back-channel logout endpoint over real HTTP."""
    receiver = await start_receiver()
    yield receiver
    await receiver.stop()

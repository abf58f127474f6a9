"""The people search stays fast on a directory of 100,000 entries: slapd (Simple Paged Results,
abandoned once the page is full; the admin bind's limits) and the local directory (SQL LIMIT and
OFFSET on the login-name index). Generous bounds: these catch an O(n) mistake (reading every
entry for one page), they are not a benchmark."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from directory.ldap import LdapDirectory
from directory.ldap_admin import LdapAdminWriter
from directory.local import LocalDirectory
from directory.local_schema import DirPerson
from directory.writes import DirectoryWriter
from idp.db.engine import open_engine
from tests.admin.conftest import BULK_PEOPLE
from tests.support.slapd import CampusSlapd, ldap_settings

FAST = 2.0  # seconds


@pytest.fixture(scope="module")
async def bulk_ldap(bulk_slapd: CampusSlapd) -> AsyncIterator[LdapAdminWriter]:
    directory = LdapDirectory(ldap_settings(bulk_slapd, admin_bind_dn=bulk_slapd.root_dn,
                                            admin_bind_password=bulk_slapd.root_pw))
    writer = LdapAdminWriter(directory)
    yield writer
    await writer.close()
    await directory.close()


@pytest.fixture(scope="module")
async def bulk_local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalDirectory]:
    path: Path = tmp_path_factory.mktemp("bulk") / "people.db"
    engine = open_engine(f"sqlite:///{path}")
    directory = LocalDirectory(engine)
    await directory.create_all()
    rows = [{"subject": str(uuid.uuid4()), "username": f"b{n:06d}", "username_key": f"b{n:06d}",
             "name": f"Bulk {n}", "email": f"b{n:06d}@example.edu", "number": f"9{n:08d}",
             "affiliations": [], "entitlements": []} for n in range(BULK_PEOPLE)]
    async with engine.begin() as conn:
        await conn.execute(insert(DirPerson), rows)
    yield directory
    await directory.close()
    await engine.dispose()


async def timed(writer: DirectoryWriter, query: str, offset: int, limit: int = 51) -> list[str]:
    started = time.perf_counter()
    found = await writer.search(query, offset, limit)
    elapsed = time.perf_counter() - started
    assert elapsed < FAST, f"search({query!r}, {offset}) took {elapsed:.2f} s"
    return [person.username for person in found]


@pytest.fixture(params=["ldap", "local"])
def bulk(request: pytest.FixtureRequest) -> DirectoryWriter:
    return request.getfixturevalue(f"bulk_{request.param}")


async def test_search_over_100000_people(bulk: DirectoryWriter) -> None:
    writer = bulk
    first = await timed(writer, "", 0)
    assert len(first) == 51
    deep = await timed(writer, "b0", 5000)
    assert len(deep) == 51 and all(name.startswith("b0") for name in deep)
    assert not set(deep) & set(await timed(writer, "b0", 0))
    assert sorted(await timed(writer, "Bulk 4242", 0)) == ["b004242"] + [
        f"b04242{n}" for n in range(10)]
    assert await timed(writer, "b099999@example.edu", 0) == ["b099999"]
    assert await timed(writer, "900012345", 0) == ["b012345"]
    if isinstance(writer, LdapAdminWriter):  # a listing window, beyond which: narrow the search
        with pytest.raises(ValueError, match="narrow"):
            await writer.search("", 9990, 51)


async def test_the_service_account_limit_is_a_clear_error(bulk_slapd: CampusSlapd) -> None:
    """Without an admin bind the search runs as the service account, which slapd limits to 500
    entries: deep pages then say to narrow the search instead of failing obscurely."""
    directory = LdapDirectory(ldap_settings(bulk_slapd))
    writer = LdapAdminWriter(directory)
    try:
        assert len(await writer.search("", 0, 50)) == 50
        with pytest.raises(ValueError, match="size limit"):
            await writer.search("", 1000, 50)
    finally:
        await writer.close()
        await directory.close()

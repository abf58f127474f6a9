"""Session fixtures for tests/mfa and tests/account: a real SMTP server, and campus-idp twice,
on the embedded defaults and as in production (slapd with an admin bind, Redis, PostgreSQL),
both with a required-MFA group and mail going to the test SMTP server.

Imported by tests/mfa/conftest.py and tests/account/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.mfa.mailbox import Mailbox, start_mailbox
from tests.mfa.people import prepare_groups
from tests.mfa.server import start_mfa_idp
from tests.support.server import LiveIdp
from tests.support.slapd import Campus, ldap_settings


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box, controller = start_mailbox()
    yield box
    controller.stop()


async def _embedded(root: Path, mailbox: Mailbox) -> LiveIdp:
    live = await start_mfa_idp(
        smtp_port=mailbox.port, database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
        directory="local", redis_url=None, seed=True)
    await prepare_groups(live)
    return live


@pytest.fixture(scope="session")
async def mfa_idp(mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[LiveIdp]:
    live = await _embedded(tmp_path_factory.mktemp("mfa-idp"), mailbox)
    yield live
    await live.stop()


@pytest.fixture(scope="session")
async def mfa_idp_production(mailbox: Mailbox, campus_slapd: Campus,
                             tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    from tests.support.databases import create_postgres_database, drop_postgres_database
    from tests.support.redis import unique_prefix

    server = campus_slapd.server
    database_url = await create_postgres_database()
    ldap = ldap_settings(server, admin_bind_dn=server.root_dn, admin_bind_password=server.root_pw)
    live = await start_mfa_idp(
        smtp_port=mailbox.port, database_url=database_url,
        redis_url="redis://127.0.0.1:6379/0", redis_prefix=unique_prefix(), directory="ldap",
        ldap=ldap.model_dump(),
        keys_dir=tmp_path_factory.mktemp("mfa-keys"))
    live.slapd = server
    await prepare_groups(live)
    yield live
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()
    await drop_postgres_database(database_url)


@pytest.fixture(params=["embedded", "production"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    """Every MFA and account test runs on the embedded defaults and as in production."""
    name = "mfa_idp" if request.param == "embedded" else "mfa_idp_production"
    return request.getfixturevalue(name)

"""campus-idp with activation on (IDP_ACTIVATION_FACTS = employeeNumber, sn, givenName), four
times: the local directory and slapd (through its admin bind), each on SQLite and on PostgreSQL
(the slapd + PostgreSQL one also on Redis, as in production). Throttle windows are short, and
each test sends its own client address (X-Forwarded-For from the trusted 127.0.0.1), so one
test's failures never meet another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ldap
import pytest

from idp.settings import ActivationSettings, ThrottleSettings
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import SUFFIX, Campus, ldap_settings

FACTS = ["employeeNumber", "sn", "givenName"]
WINDOW = 4
PER_ACCOUNT = 3
PER_IP = 6
THROTTLE = ThrottleSettings(window=WINDOW, backoff_max=30, per_account=PER_ACCOUNT,
                            per_ip=PER_IP, follow_directory=False)
STRICT_POLICY = f"cn=activation-strict,ou=policies,{SUFFIX}"


def _strict_policy(campus: Campus) -> None:
    """A policy like a campus's: at least 12 characters, quality checked (draft-behera §5.2)."""
    conn = ldap.initialize(campus.server.ldap_uri)
    try:
        conn.simple_bind_s(campus.server.root_dn, campus.server.root_pw)
        conn.add_s(STRICT_POLICY, [
            ("objectClass", [b"organizationalRole", b"pwdPolicy"]),
            ("cn", [b"activation-strict"]), ("pwdAttribute", [b"userPassword"]),
            ("pwdMinLength", [b"12"]), ("pwdCheckQuality", [b"2"]), ("pwdInHistory", [b"3"])])
    except ldap.ALREADY_EXISTS:
        pass
    finally:
        conn.unbind_s()


async def _start(root: Path, directory: str, database: str, campus: Campus | None,
                 **overrides: Any) -> LiveIdp:
    database_url = f"sqlite:///{root}/idp.db"
    if database == "postgresql":
        from tests.support.databases import create_postgres_database

        database_url = await create_postgres_database()
    settings: dict[str, Any] = dict(
        database_url=database_url, keys_dir=root / "keys", directory=directory,
        throttle=THROTTLE, activation=ActivationSettings(facts=FACTS), **overrides)
    if campus is not None:
        server = campus.server
        settings["ldap"] = ldap_settings(server, admin_bind_dn=server.root_dn,
                                         admin_bind_password=server.root_pw,
                                         person_cache_seconds=0).model_dump()
    live = await start_idp(seed=directory == "local", **settings)
    live.slapd = campus.server if campus is not None else None
    return live


async def _stop(live: LiveIdp) -> None:
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    database_url = live.settings.database_url
    await live.stop()
    if database_url.startswith("postgresql"):
        from tests.support.databases import drop_postgres_database

        await drop_postgres_database(database_url)


@pytest.fixture(scope="session")
async def activation_local_sqlite(tmp_path_factory: pytest.TempPathFactory
                                  ) -> AsyncIterator[LiveIdp]:
    live = await _start(tmp_path_factory.mktemp("act-ls"), "local", "sqlite", None)
    yield live
    await _stop(live)


@pytest.fixture(scope="session")
async def activation_local_postgresql(tmp_path_factory: pytest.TempPathFactory
                                      ) -> AsyncIterator[LiveIdp]:
    live = await _start(tmp_path_factory.mktemp("act-lp"), "local", "postgresql", None)
    yield live
    await _stop(live)


@pytest.fixture(scope="session")
async def activation_ldap_sqlite(campus_slapd: Campus, tmp_path_factory: pytest.TempPathFactory
                                 ) -> AsyncIterator[LiveIdp]:
    _strict_policy(campus_slapd)
    live = await _start(tmp_path_factory.mktemp("act-ds"), "ldap", "sqlite", campus_slapd)
    yield live
    await _stop(live)


@pytest.fixture(scope="session")
async def activation_ldap_postgresql(campus_slapd: Campus,
                                     tmp_path_factory: pytest.TempPathFactory
                                     ) -> AsyncIterator[LiveIdp]:
    from tests.support.redis import unique_prefix

    _strict_policy(campus_slapd)
    live = await _start(tmp_path_factory.mktemp("act-dp"), "ldap", "postgresql", campus_slapd,
                        redis_url="redis://127.0.0.1:6379/0", redis_prefix=unique_prefix())
    yield live
    await _stop(live)


@pytest.fixture(params=["local-sqlite", "local-postgresql", "ldap-sqlite", "ldap-postgresql"])
def live(request: pytest.FixtureRequest) -> LiveIdp:
    """Every activation test runs on each directory and each database."""
    return request.getfixturevalue("activation_" + request.param.replace("-", "_"))

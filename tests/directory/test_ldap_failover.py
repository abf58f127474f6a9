"""A first LDAP server that accepts connections and never answers costs one request, not every
login: IDP_LDAP_URL lists a Blackhole (tests/support/blackhole.py) ahead of the real slapd.

What is measured is structure, not speed: every connection the black hole accepted is a request
that waited out the operation timeout, so "later logins are fast" is "the black hole accepted no
more connections". Where a time is asserted as well, the bound is the operation timeout itself
(what a request that touched the black hole cannot beat), set far above what a login costs
(tens of milliseconds on slapd), and it bounds the median of ten logins, so that two busy shared
CPUs cannot make it flaky.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from directory.config import LdapConfig
from directory.ldap import LdapDirectory
from idp.settings import ThrottleSettings
from tests.support.blackhole import Blackhole
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import Campus, ldap_settings
from tests.web.conftest import browser, start_login, submit_login

TIMEOUT = 4.0  # seconds an LDAP operation may take: what each black-hole connection costs


@pytest.fixture
def hole() -> Iterator[Blackhole]:
    with Blackhole() as started:
        yield started


def _config(campus: Campus, hole: Blackhole, cooldown: float) -> LdapConfig:
    """IDP_LDAP_URL="<the black hole> <slapd>": the black hole is tried first."""
    slapd = campus.server.ldap_uri.rstrip("/")
    return ldap_settings(campus.server, url=f"{hole.url} {slapd}", timeout=TIMEOUT,
                         network_timeout=1.0, failover_cooldown=cooldown, pool_size=4,
                         threads=8, person_cache_seconds=0)


@pytest.fixture
async def hole_idp(campus_slapd: Campus, hole: Blackhole,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    root = tmp_path_factory.mktemp("blackhole-idp")
    # no login throttle: forty logins at once as one person are this test's load, not guesses
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="ldap", ldap=_config(campus_slapd, hole, 600).model_dump(),
                           redis_url=None, throttle=ThrottleSettings(enabled=False))
    yield live
    await live.stop()


async def _login(live: LiveIdp) -> tuple[int, float]:
    signin = await start_login(live, ui_locales="en")
    async with browser(live) as client:
        started = time.monotonic()
        answer = await submit_login(client, signin, "student", "student123")
        return answer.status_code, time.monotonic() - started


async def test_a_silent_first_server_costs_the_first_login_only(
    hole_idp: LiveIdp, hole: Blackhole,
) -> None:
    status, first = await _login(hole_idp)
    assert status == 303
    assert hole.accepted == 1  # the first login found out, once
    assert first >= TIMEOUT  # and paid for it: the timeout, then slapd

    later = [await _login(hole_idp) for _ in range(10)]
    assert [status for status, _ in later] == [303] * 10
    assert hole.accepted == 1  # nobody waited on it again
    # the median, not the slowest: one login stalled by a busy machine proves nothing, while
    # logins that each waited on the black hole would all take at least TIMEOUT
    assert statistics.median(seconds for _, seconds in later) < TIMEOUT

    # the load: forty logins at once, every one of them past the black hole
    together = await asyncio.gather(*(_login(hole_idp) for _ in range(40)))
    assert [status for status, _ in together] == [303] * 40
    assert hole.accepted == 1
    # the LDAP directory, under the last-known wrapper that IDP_DIRECTORY=ldap gets
    ldap = getattr(hole_idp.services.directory, "inner", hole_idp.services.directory)
    breakers = ldap.breakers
    assert breakers.state()[hole.url] == "open"


async def test_after_the_cooldown_one_request_probes_the_silent_server(
    campus_slapd: Campus, hole: Blackhole,
) -> None:
    """Half-open: once the cooldown is over exactly one caller tries the black hole again, in its
    place at the head of the list; the others, at the same moment, go straight to slapd."""
    directory = LdapDirectory(_config(campus_slapd, hole, cooldown=1.0))
    try:
        assert (await directory.authenticate("teacher", "teacher123")).username == "teacher"
        assert hole.accepted == 1
        assert directory.breakers.state()[hole.url] == "open"
        await asyncio.sleep(1.2)  # the cooldown is over

        people = await asyncio.gather(
            *(directory.authenticate("teacher", "teacher123") for _ in range(12)))
        assert {person.username for person in people} == {"teacher"}
        assert hole.accepted == 2  # one probe, not twelve
        assert directory.breakers.state()[hole.url] == "open"  # it failed: open again
    finally:
        await directory.close()

"""A directory outage uses up nobody's login budget: with slapd cut off (a CutProxy between the
IdP and slapd refuses every connection), logins with the right password get 503 however many
there are, and once slapd is back the person signs in at once. Only a wrong password counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest

from idp.settings import ThrottleSettings
from idp.sso.throttle import PREFIX, entry_hash
from tests.security.conftest import LDAP_PEOPLE, _ldap
from tests.security.support import start_server
from tests.support.cut import CutProxy
from tests.support.redis import REDIS_URL, unique_prefix
from tests.support.server import LiveIdp
from tests.support.slapd import DEFAULT_POLICY, MAX_FAILURE, Campus
from tests.web.conftest import browser, fresh_ip, start_login, submit_login

# the production window: nothing a test waits out, so whatever is counted stays counted
THROTTLE = ThrottleSettings(window=900, backoff_max=3600, per_ip=3)


@pytest.fixture(scope="module")
def slapd_proxy(security_slapd: Campus) -> Iterator[CutProxy]:
    uri = urlsplit(security_slapd.server.ldap_uri)
    assert uri.hostname and uri.port
    proxy = CutProxy(uri.hostname, uri.port, name="slapd").start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
async def cut_idp(security_slapd: Campus, slapd_proxy: CutProxy,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveIdp]:
    ldap = {**_ldap(security_slapd), "url": f"ldap://127.0.0.1:{slapd_proxy.port}",
            "ppolicy_default_dn": DEFAULT_POLICY, "person_cache_seconds": 0}
    live = await start_server(tmp_path_factory.mktemp("cut-idp"), throttle=THROTTLE,
                              directory="ldap", ldap=ldap, redis_url=REDIS_URL,
                              redis_prefix=unique_prefix())
    yield live
    slapd_proxy.restore()
    for key in await live.services.store.keys(""):
        await live.services.store.delete(key)
    await live.stop()


async def _login(live: LiveIdp, username: str, password: str, ip: str) -> int:
    signin = await start_login(live, ui_locales="en")
    async with browser(live, ip=ip) as client:
        return (await submit_login(client, signin, username, password)).status_code


async def test_an_outage_uses_up_no_budget(cut_idp: LiveIdp, slapd_proxy: CutProxy) -> None:
    ip = fresh_ip()  # one address for every attempt: its failure counter must not move either
    tries = 3 * MAX_FAILURE  # well past the account budget (4) and the address's (3)
    with slapd_proxy.down():
        answers = [await _login(cut_idp, "outaged", LDAP_PEOPLE["outaged"], ip)
                   for _ in range(tries)]
        assert answers == [503] * tries
        # and wrong passwords during the outage are no guesses either: nothing was checked
        assert await _login(cut_idp, "outaged", "not-the-password", ip) == 503
    # back: the person signs in at once, from the same address
    assert await _login(cut_idp, "outaged", LDAP_PEOPLE["outaged"], ip) == 303
    store = cut_idp.services.store
    account = await cut_idp.services.directory.locate("outaged")
    assert account is not None
    h = entry_hash(account.key)
    assert await store.get(f"{PREFIX}block:acct:{h}") is None
    assert await store.get(f"{PREFIX}ip:{ip}") is None
    assert await store.get(f"{PREFIX}block:ip:{ip}") is None


async def test_wrong_passwords_still_count(cut_idp: LiveIdp) -> None:
    """The other half: the budget is still there for guesses once the directory answers."""
    answers = [await _login(cut_idp, "counted", f"guess-{n}", fresh_ip())
               for n in range(MAX_FAILURE)]
    assert answers == [401] * (MAX_FAILURE - 1) + [429]

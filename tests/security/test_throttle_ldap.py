"""Guessing a password is stopped by campus-idp before slapd's own ppolicy lockout: slapd's
failure counter (pwdFailureTime, read as the directory manager) stays below pwdMaxFailure, the
account is never locked, and the real person signs in once the throttle window has passed. That
holds whichever spelling of the name the guesses use: slapd matches `ｚhuxin`, `𝐳𝐡𝐮𝐱𝐢𝐧`,
`ⓩhuxin` and `zhuxİn` to uid=zhuxin, and they all count against that one entry."""

from __future__ import annotations

import asyncio

from directory.ldap import LdapDirectory
from idp.sso.throttle import PREFIX, entry_hash
from tests.security.conftest import LDAP_PEOPLE, WINDOW
from tests.security.flow import App, Authorization, page_error, register_app
from tests.security.support import failure_count, root_read
from tests.support.server import LiveIdp
from tests.support.slapd import MAX_FAILURE, CampusSlapd
from tests.web.conftest import browser, start_login, submit_login


async def _guess(live: LiveIdp, username: str, password: str) -> int:
    """One guess from a browser (and address) of its own: only the account counter decides."""
    interaction = await start_login(live, ui_locales="en")
    async with browser(live) as client:
        return (await submit_login(client, interaction, username, password)).status_code


async def test_lockout_thresholds_come_from_the_policy_that_applies(
    security_ldap: LdapDirectory,
) -> None:
    assert await security_ldap.lockout_threshold("guessme") == MAX_FAILURE  # the default policy
    assert await security_ldap.lockout_threshold("lowlock") == 3  # its pwdPolicySubentry
    assert await security_ldap.lockout_threshold("expiring") is None  # "short" never locks
    # nobody by that name: the default policy's answer, like anybody without a policy of their own
    assert await security_ldap.lockout_threshold("no-such-person-here") == MAX_FAILURE


async def test_unknown_default_policy_falls_back_to_the_strictest(
    unconfigured_ldap: LdapDirectory,
) -> None:
    """cn=config is closed to the service account and no default DN is configured: the lowest
    pwdMaxFailure of any locking policy (lowlock's 3) stands in, never above the real one (5)."""
    assert await unconfigured_ldap.lockout_threshold("guessme") == 3
    assert await unconfigured_ldap.lockout_threshold("lowlock") == 3


async def test_guessing_stops_below_the_directory_lockout(ldap_idp: LiveIdp) -> None:
    slapd = ldap_idp.slapd
    answers = [await _guess(ldap_idp, "guessme", f"guess-{n}") for n in range(12)]
    allowed = MAX_FAILURE - 1
    assert answers == [401] * allowed + [429] * (12 - allowed)
    assert failure_count(slapd, "guessme") == allowed < MAX_FAILURE
    assert "pwdAccountLockedTime" not in root_read(slapd, "guessme", "pwdAccountLockedTime")
    # refused means not asked: the right password now changes nothing in the directory either
    assert await _guess(ldap_idp, "guessme", LDAP_PEOPLE["guessme"]) == 429
    assert failure_count(slapd, "guessme") == allowed

    await asyncio.sleep(WINDOW + 0.5)
    app: App = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("guessme", LDAP_PEOPLE["guessme"])
        tokens = await flow.redeem(await flow.follow_to_app(answer))
    assert tokens["id_token"]
    assert failure_count(slapd, "guessme") == 0  # ppolicy forgets failures at a good bind


async def test_a_stricter_policy_gets_a_smaller_budget(ldap_idp: LiveIdp) -> None:
    answers = [await _guess(ldap_idp, "lowlock", f"guess-{n}") for n in range(5)]
    assert answers == [401, 401, 429, 429, 429]  # pwdMaxFailure 3: two guesses, never three
    assert failure_count(ldap_idp.slapd, "lowlock") == 2


async def test_guesses_sent_at_once_cannot_overshoot(ldap_idp: LiveIdp) -> None:
    answers = await asyncio.gather(*(_guess(ldap_idp, "racer", f"guess-{n}") for n in range(20)))
    assert sorted(answers) == [401] * (MAX_FAILURE - 1) + [429] * (20 - MAX_FAILURE + 1)
    assert failure_count(ldap_idp.slapd, "racer") == MAX_FAILURE - 1
    # the sixteen refused together start one refusal period, not sixteen doublings
    racer = await ldap_idp.services.directory.locate("racer")
    assert racer is not None
    strikes = await ldap_idp.services.store.get(f"{PREFIX}strikes:acct:{entry_hash(racer.key)}")
    assert strikes == "1"


async def test_refusals_look_the_same_for_unknown_accounts(ldap_idp: LiveIdp) -> None:
    pages = []
    for username in ("guessme-twin-that-does-not-exist", "lister"):
        for n in range(MAX_FAILURE - 1):
            assert await _guess(ldap_idp, username, f"wrong-{n}") == 401
        interaction = await start_login(ldap_idp, ui_locales="en")
        async with browser(ldap_idp) as client:
            refused = await submit_login(client, interaction, username, "wrong-again")
        assert refused.status_code == 429
        pages.append((page_error(refused.text), refused.headers["retry-after"]))
    assert pages[0] == pages[1]
    assert pages[0][0] == "Too many failed sign-in attempts. Wait 1 minute(s) and try again."


def _locked(slapd: CampusSlapd, uid: str) -> bool:
    return "pwdAccountLockedTime" in root_read(slapd, uid, "pwdAccountLockedTime")


async def test_another_spelling_of_the_name_cannot_lock_the_account(ldap_idp: LiveIdp) -> None:
    """The issue's reproduction: four wrong passwords as zhuxin, then one as ｚhuxin (U+FF5A).
    Keyed on the typed name, the fifth was a fresh budget, slapd counted its fifth failure and
    locked the real person out. Keyed on the entry, it is refused before any bind."""
    slapd = ldap_idp.slapd
    allowed = MAX_FAILURE - 1
    answers = [await _guess(ldap_idp, "zhuxin", f"guess-{n}") for n in range(allowed)]
    answers.append(await _guess(ldap_idp, "\uff5ahuxin", "guess-fullwidth"))
    assert answers == [401] * allowed + [429]
    assert failure_count(slapd, "zhuxin") == allowed < MAX_FAILURE
    assert not _locked(slapd, "zhuxin")
    # both spellings find the one entry: that is what made the fifth failure land on it
    assert await ldap_idp.services.directory.locate("\uff5ahuxin") == \
        await ldap_idp.services.directory.locate("zhuxin")

    await asyncio.sleep(WINDOW + 0.5)
    app: App = await register_app(ldap_idp)
    async with browser(ldap_idp) as person:
        flow = Authorization(person, app)
        answer = await flow.log_in("zhuxin", LDAP_PEOPLE["zhuxin"])
        assert (await flow.redeem(await flow.follow_to_app(answer)))["id_token"]


async def test_every_spelling_slapd_matches_shares_one_budget(ldap_idp: LiveIdp) -> None:
    """Spellings NFKC folds (fullwidth, mathematical bold, circled), another case, and one that
    only slapd's own folding matches (a dotted capital I, which NFKC + casefold leave apart):
    slapd counts every failure on the one entry, and so does the throttle."""
    slapd = ldap_idp.slapd
    spellings = ["l\u0130xiang", "\uff4cixiang", "\U0001d425\U0001d422\U0001d431\U0001d422\U0001d41a"
                 "\U0001d427\U0001d420", "\u24dbixiang", "LIXIANG", "lixiang"]
    answers = [await _guess(ldap_idp, name, f"guess-{n}") for n, name in enumerate(spellings)]
    assert answers == [401] * (MAX_FAILURE - 1) + [429] * (len(spellings) - MAX_FAILURE + 1)
    assert failure_count(slapd, "lixiang") == MAX_FAILURE - 1
    assert not _locked(slapd, "lixiang")

"""Redis behind Sentinel loses its primary (SIGKILL) in the middle of a run of logins and token
requests: no 500, every request served or refused with a clean 503, service back as soon as the
sentinels have promoted the replica, and the people signed in before stay signed in.

A real topology of the test's own (tests/support/sentinel.py: a primary, a replica, three
sentinels, passwords on both); the IdP reaches it through IDP_REDIS_URL=redis+sentinel://…,
slapd and PostgreSQL as deployed.

Replication is asynchronous: a write the primary acknowledged in the last moment before it died
may not have reached the replica. What relies on such a write (a pending sign-in, a code issued
a moment before) can be gone after the failover: the next step of that flow fails as an expired
sign-in or an invalid code would. Such answers are allowed only for flows whose previous step
was answered less than LOSS_WINDOW before the kill, and they are counted; sessions that existed
before (replicated, checked with WAIT) must all survive.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from idp.db import audit as audit_module
from tests.faults.accounts import audit_shortfall
from tests.faults.conftest import new_apps, signed_in
from tests.faults.load import HANG, Answer, Load, back_after, phases, summary
from tests.mfa.people import Someone
from tests.oauth.flow import REDIRECT, Browser, query_of
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.sentinel import DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS, SentinelTopology
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import CampusSlapd, ldap_settings

# seconds of load before the kill and after the failover, at least; and at most, if every step
# has not been served by then (before: once; after: from RECOVERY after the failover on)
BEFORE, AFTER = (1.5, 20.0), (3.0, 30.0)
STEPS = {"authorize", "login_page", "login", "resume", "token", "refresh", "sso", "machine"}
LOSS_WINDOW = 1.0  # seconds before the kill in which an acknowledged write may be lost
RECOVERY = 1.0  # once the sentinels agree on the new primary, the IdP must serve within this
# the sentinels notice after DOWN_AFTER_MS and elect a leader; a split vote waits for a second
# election (2 x FAILOVER_TIMEOUT_MS): beyond that, something is wrong
FAILOVER_BOUND = (DOWN_AFTER_MS + 2 * FAILOVER_TIMEOUT_MS) / 1000 + 3.0
SLEEPERS = 4  # browsers signed in before the run that do nothing until the failover is over


@pytest.fixture(scope="module")
def topology() -> Iterator[SentinelTopology]:
    with SentinelTopology() as started:
        yield started


@pytest.fixture(scope="module")
async def sentinel_idp(topology: SentinelTopology, fault_slapd: CampusSlapd,
                       tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[tuple[LiveIdp, str]]:
    database_url = await create_postgres_database()
    ldap = ldap_settings(fault_slapd, timeout=2.0, network_timeout=1.0)
    live = await start_idp(database_url=database_url, redis_url=topology.url,
                           redis_prefix="idp:", directory="ldap", ldap=ldap.model_dump(),
                           keys_dir=tmp_path_factory.mktemp("sentinel-keys"),
                           audit_machine_tokens="each")  # each token's row, within seconds
    yield live, database_url
    await live.stop()
    await drop_postgres_database(database_url)


def lost_in_the_failover(answer: Answer, killed_at: float) -> bool:
    """A step that failed (not with a 503) because the state its flow's previous step wrote
    just before the kill did not reach the replica."""
    return (answer.problem is not None and answer.status is not None and answer.status < 500
            and answer.after is not None and answer.after >= killed_at - LOSS_WINDOW)


async def still_signed_in(browser: Browser, client_id: str) -> bool:
    response = await browser.http.get("/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": "s"})
    location = response.headers.get("location", "")
    return response.status_code == 302 and "code" in query_of(location)


async def test_the_primary_dies_mid_run(topology: SentinelTopology,
                                        sentinel_idp: tuple[LiveIdp, str],
                                        people: list[Someone]) -> None:
    live, database_url = sentinel_idp
    pool = itertools.cycle(people)
    apps = await new_apps(live, pool)
    sleepers = await signed_in(live, apps.app, pool, SLEEPERS)
    # every session so far is on the replica too (WAIT): these must survive the failover
    assert await asyncio.to_thread(topology.replicated) == 1
    load = Load(live, apps.app, apps.machine, pool, apps.signed_in)
    since = datetime.now(UTC)
    killed: list[int] = []

    async def scenario(run: Load) -> None:
        await run.until(lambda: STEPS <= run.served_since(0.0), *BEFORE)
        run.mark("fault")
        killed.append(await asyncio.to_thread(topology.kill_primary))
        await asyncio.to_thread(topology.wait_for_new_primary, killed[0], FAILOVER_BOUND)
        back_at = run.mark("back")  # every sentinel names the promoted replica; it takes writes
        await run.until(lambda: STEPS <= run.served_since(back_at + RECOVERY), *AFTER)
        run.mark("end")

    try:
        answers = await load.run(scenario)
        marks = load.marks
        failover = marks["back"] - marks["fault"]
        served_again = back_after(answers, marks["fault"])
        parts = phases(answers, marks["fault"], marks["back"])
        lost = [a for a in answers if lost_in_the_failover(a, marks["fault"])]
        print(f"\nprimary :{killed[0]} killed at {marks['fault']:.1f}s; failover done after "
              f"{failover:.2f}s, served again {served_again}s after the kill; {len(lost)} "
              f"flow(s) lost a write of the last {LOSS_WINDOW:.0f}s; " + summary(parts))

        wrong = [f"{a.step} at {a.started:.2f}s ({a.seconds:.2f}s): {a.problem}"
                 for a in answers if a.problem and a not in lost]
        wrong += [f"{a.step} took {a.seconds:.1f}s (hang)" for a in answers if a.seconds >= HANG]
        wrong += [f"{a.step} failed at {a.started:.2f}s before the kill"
                  for a in parts["before"] if not a.ok]
        if not any(a.refused for a in parts["during"]):
            wrong.append("nothing was refused while the primary was away: the kill was not felt")
        if served_again is None or served_again > failover + RECOVERY:
            wrong.append(f"served again {served_again}s after the kill; the failover took "
                         f"{failover:.2f}s")
        settled = marks["back"] + RECOVERY
        wrong += [f"{a.step} failed at +{a.started - marks['back']:.2f}s after the failover: "
                  f"{a.status} {a.problem or ''}" for a in parts["after"]
                  if not a.ok and a.started >= settled]
        served = {a.step for a in parts["after"] if a.ok and a.started >= settled}
        wrong += [f"no {step} succeeded after the failover" for step in sorted(STEPS - served)]
        # people signed in before the failover are still signed in after it
        signed_out = [n for n, b in enumerate(sleepers + apps.signed_in)
                      if not await still_signed_in(b, apps.app.client_id)]
        if signed_out:
            wrong.append(f"{len(signed_out)} browser(s) signed in before the failover were "
                         "signed out by it")
    finally:
        for browser in [*sleepers, *apps.signed_in]:
            await browser.close()

    expected, written, missing = await audit_shortfall(
        database_url, since, answers, load.app, load.machine, within=audit_module.RETRY_MAX)
    if missing:
        wrong.append(f"audit rows lost: {dict(missing)}")
    assert failover <= FAILOVER_BOUND
    assert not wrong, "the primary died:\n  " + "\n  ".join(wrong[:40])

"""A purge of a large backlog while people sign in, on PostgreSQL as deployed: every sign-in
and every token request succeeds while the purge runs, the purge removes the whole backlog all
the same (it drops a month's partition, then deletes in batches, resting between them and
waiting for no row a request holds), and sign-ins are not slower while it runs.

The latency comparison is interleaved: pairs of bursts, one while a purge runs (in the server's
own event loop, as the background job of a replica runs it; the burst lasts exactly as long as
the purge) and one without, of as many sign-ins, in alternating order; the backlog is seeded
again before each pair, so the machine's noise falls on both sides.

The median over the pairs of p99(with) / p99(without) must stay within P99_BOUND. The issue's
figure is 20% (1.20); `python -m bench.purge_load` measures it with wrk against `idp serve
--workers 2` and reports it (bench/README.md). Here a burst has a hundred or a few hundred
sign-ins, so its p99 is one of its slowest few, and on the shared 2-core machine (load average
7-13 while this was written) one run of three pairs with today's purge gave 0.46, 0.61 and
3.38; a strict 1.20 would fail at random, so the bound is 1.5 over the median of five pairs,
which needs three pairs slowed by half. The purge
as it was before its batches deleted by primary key (each DELETE … IN (SELECT …) read the whole
audit table) gave ratios of 1.8, 2.5 and 2.6 here, every pair: that is the kind of harm this
catches, as is a partition drop that makes sign-ins queue behind its lock.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from idp.db.models import AuditEvent
from idp.db.partitions import create_month, month_name, month_start
from idp.db.purge import MONTHS_KIND, run_purge
from idp.settings import RetentionSettings
from tests.oauth.flow import Browser, register
from tests.support.databases import postgres_database
from tests.support.server import LiveIdp, start_idp

PAIRS = 5
MACHINE_BACKLOG = 30_000  # machine-token audit rows two months old: deleted in batches
MONTH_BACKLOG = 10_000  # people's audit rows of a month past 365 days: the partition dropped
REFRESH_BACKLOG = 3_000  # refresh tokens expired three weeks ago: deleted in batches
SIGNERS = 8  # people signing in at once
MACHINES = 2  # machine token requests at once
MIN_SIGN_INS = 30  # at least this many sign-ins in each burst
P99_BOUND = 1.5  # the median of p99(with) / p99(without) over the pairs (module docstring)
RETENTION = RetentionSettings(purge_batch=500, purge_pause=0.05)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveIdp]:
    async with postgres_database() as url:
        # one person signs in eight times at once: the throttle counts attempts in flight
        server = await start_idp(database_url=url, redis_url=None, directory="local", seed=True,
                                 keys_dir=tmp_path / "keys", throttle={"per_account": 1000})
        try:
            yield server
        finally:
            await server.stop()


def _old_month() -> datetime:
    """A month that ended more than 365 days ago (people's audit retention)."""
    return month_start(datetime.now(UTC) - timedelta(days=400))


async def _backlog(live: LiveIdp, round_no: int) -> None:
    """What one purge must remove: a month of people's events past their retention in its own
    partition (as the migration makes them), machine-token rows of two months ago beside
    people's recent ones, and refresh tokens that expired three weeks ago."""
    async with live.services.engine.begin() as conn:
        await conn.execute(text(create_month(_old_month())))
        await conn.execute(text(
            "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
            "SELECT CAST(:start AS timestamptz) + n * interval '1 minute', 'login', 'success', "
            "'old' || n, NULL, NULL, '{\"method\": \"password\"}'::json FROM generate_series(1, :rows) AS n"),
            {"start": _old_month(), "rows": MONTH_BACKLOG})
        await conn.execute(text(
            "INSERT INTO audit_events (at, kind, outcome, actor, client_id, ip, detail) "
            "SELECT now() - interval '60 days' + n * interval '1 second', 'token', 'success', "
            "'platform', 'platform', NULL, '{\"grant\": \"client_credentials\"}'::json "
            "FROM generate_series(1, :rows) AS n"), {"rows": MACHINE_BACKLOG})
        await conn.execute(text(
            "INSERT INTO refresh_tokens (digest, family_id, client_id, subject, scope, amr, "
            "created_at, expires_at) SELECT md5(:round || '-' || n), md5(:round || 'f' || n), "
            "'gone', 'old', 'openid', '[]'::json, now() - interval '60 days', "
            "now() - interval '21 days' FROM generate_series(1, :rows) AS n"),
            {"round": f"r{round_no}", "rows": REFRESH_BACKLOG})
    async with live.services.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE audit_events"))
        # the seed's dirty pages written now, not by a checkpoint during the next burst
        await conn.execute(text("CHECKPOINT"))


class Burst:
    """People signing in over and over, and machines asking for tokens, until told to stop (or
    until `count` sign-ins have begun): each sign-in's seconds (authorize, the login form, the
    password, the code), and every failure."""

    def __init__(self, live: LiveIdp, app: Any, machine: Any, count: int | None = None) -> None:
        self.live, self.app, self.machine, self.count = live, app, machine, count
        self.seconds: list[float] = []
        self.failures: list[str] = []
        self.tokens = 0
        self.begun = 0
        self.stop = asyncio.Event()

    async def sign_ins(self) -> None:
        while not self.stop.is_set() and (self.count is None or self.begun < self.count):
            self.begun += 1
            person = Browser.open(self.live)
            began = time.perf_counter()
            try:
                code, _ = await person.code(self.app, scope="openid")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                self.failures.append(f"sign-in: {exc!r}")
            else:
                if code:
                    self.seconds.append(time.perf_counter() - began)
                else:
                    self.failures.append("sign-in: no code")
            finally:
                await person.close()

    async def machine_tokens(self) -> None:
        async with self.live.client() as http:
            while not self.stop.is_set():
                response = await http.post("/token", auth=self.machine.basic, data={
                    "grant_type": "client_credentials", "scope": "api.read"})
                if response.status_code == 200:
                    self.tokens += 1
                else:
                    self.failures.append(f"token: {response.status_code} {response.text[:200]}")

    async def run(self) -> Burst:
        machines = [asyncio.create_task(self.machine_tokens()) for _ in range(MACHINES)]
        await asyncio.gather(*[self.sign_ins() for _ in range(SIGNERS)])
        self.stop.set()
        await asyncio.gather(*machines)
        return self

    def p99(self) -> float:
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[98]


async def _with_purge(live: LiveIdp, app: Any, machine: Any) -> tuple[Burst, Any]:
    """A burst for exactly as long as a purge runs: started together, stopped when it ends."""
    burst = Burst(live, app, machine)
    purging = asyncio.create_task(run_purge(live.services.engine, RETENTION))
    purging.add_done_callback(lambda _: burst.stop.set())
    await burst.run()
    return burst, await purging


async def _without_purge(live: LiveIdp, app: Any, machine: Any, count: int) -> Burst:
    """A burst of as many sign-ins as the one with a purge had, so both p99 are of as many."""
    return await Burst(live, app, machine, count).run()


async def test_sign_ins_neither_fail_nor_slow_down_while_the_purge_runs(live: LiveIdp) -> None:
    app = await register(live, skip_consent=True)
    machine = await register(live, grant_types=["client_credentials"], redirect_uris=[],
                             scopes=["api.read"])
    warm = await _without_purge(live, app, machine, 2 * SIGNERS)  # first-use costs on neither side
    signed_in = len(warm.seconds)
    ratios, pairs = [], []
    count = 0  # sign-ins in the last burst with a purge
    for round_no in range(PAIRS):
        await _backlog(live, round_no)
        # the order alternates (the second burst of a pair tends to be the faster one): the
        # burst without a purge has as many sign-ins as the one with it, or the last one with
        if round_no % 2 == 1:
            without = await _without_purge(live, app, machine, count)
        with_purge, report = await _with_purge(live, app, machine)
        count = with_purge.begun
        if round_no % 2 == 0:
            without = await _without_purge(live, app, machine, count)
        assert without.failures == [] and with_purge.failures == []
        # the purge did its whole work during the burst: the month dropped, every batch deleted
        assert report.finished and report.months == [month_name(_old_month())]
        assert report.removed[MONTHS_KIND] == MONTH_BACKLOG
        assert report.removed["machine_audit"] == MACHINE_BACKLOG
        assert report.removed["refresh_tokens"] == REFRESH_BACKLOG
        # enough sign-ins for a p99 (the burst with a purge lasts the purge's dozens of pauses)
        assert len(with_purge.seconds) >= MIN_SIGN_INS
        assert len(without.seconds) == without.begun >= MIN_SIGN_INS
        assert without.tokens and with_purge.tokens
        signed_in += len(without.seconds) + len(with_purge.seconds)
        ratios.append(with_purge.p99() / without.p99())
        pairs.append(f"{without.p99() * 1000:.0f}/{with_purge.p99() * 1000:.0f} ms "
                     f"({len(without.seconds)}/{len(with_purge.seconds)} sign-ins, purge "
                     f"{report.seconds:.1f} s)")
    assert statistics.median(ratios) <= P99_BOUND, \
        f"p99 without/with purge per pair: {pairs}; ratios {[round(r, 2) for r in ratios]}"
    async with live.services.db() as db:
        left = await db.scalar(select(func.count()).select_from(AuditEvent).where(
            (AuditEvent.actor == "platform") | AuditEvent.actor.like("old%")))
        logins = await db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.kind == "login", AuditEvent.outcome == "success",
            AuditEvent.actor == "student"))
    assert left == 0
    # every sign-in's own audit row is there: the purge took none of the new ones
    assert logins == signed_in

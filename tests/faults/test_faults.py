"""Kill the directory, the Store or the database in the middle of a run of logins and token
requests: 0 × 500, 0 hangs, 0 audit rows lost, and served again once it is back, without a
restart (tests/faults/__init__.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from idp.db import audit as audit_module
from tests.faults.accounts import audit_shortfall
from tests.faults.conftest import Fixture, new_apps
from tests.faults.load import HANG, Answer, Load, back_after, phases, summary

# seconds each phase of a run lasts at least; and at most, if what it waits for does not come
# (every step served before the fault; a refusal while the backend is away; every step served
# again once it is back): on a slow machine a phase takes longer instead of failing the test
BEFORE, DURING, AFTER = (1.5, 20.0), (3.0, 15.0), (3.0, 30.0)
# once the backend is back, the first request that reaches it reconnects: anything still
# failing this long after is a server that did not recover by itself
RECOVERY = 1.0
STEPS = {"authorize", "login_page", "login", "resume", "token", "refresh", "sso", "machine"}


def take_away(faults: Fixture, backend: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """How to take the backend away and give it back: slapd is stopped (SIGTERM, its port
    refuses) and started again on its port; Redis and PostgreSQL are cut by their proxies."""
    if backend == "directory":
        slapd = faults.slapd

        def resume() -> None:
            if not slapd.running:  # a second slapd on the port would fail, orphaning the first
                slapd.resume()

        return slapd.pause, resume
    proxy = faults.proxies[backend]
    return proxy.cut, proxy.restore


def judge_run(backend: str, answers: list[Answer], marks: dict[str, float]) -> list[str]:
    """What went wrong in a run, in words (empty: nothing)."""
    wrong = [f"{a.step} at {a.started:.2f}s ({a.seconds:.2f}s): {a.problem}"
             for a in answers if a.problem]
    slow = [a for a in answers if a.seconds >= HANG]
    wrong += [f"{a.step} took {a.seconds:.1f}s (hang)" for a in slow]
    parts = phases(answers, marks["fault"], marks["back"])
    wrong += [f"{a.step} failed at {a.started:.2f}s with every backend up"
              for a in parts["before"] if not a.ok]
    if not any(a.refused for a in parts["during"]):
        wrong.append(f"nothing was refused while {backend} was away: the fault was not felt")
    settled = marks["back"] + RECOVERY
    wrong += [f"{a.step} failed at {a.started:.2f}s, {a.started - marks['back']:.2f}s after "
              f"{backend} was back: {a.status} {a.problem or ''}"
              for a in parts["after"] if not a.ok and a.started >= settled]
    served_after = {a.step for a in parts["after"] if a.ok and a.started >= settled}
    wrong += [f"no {step} succeeded once {backend} was back" for step in sorted(STEPS)
              if step not in served_after]
    return wrong


async def run_with_fault(faults: Fixture, backend: str) -> tuple[Load, list[Answer], int]:
    """The run, its answers, and how many audit events were held for the database at the end
    of the fault."""
    apps = await new_apps(faults.live, faults.people)
    load = Load(faults.live, apps.app, apps.machine, faults.people, apps.signed_in)
    away, back = take_away(faults, backend)
    held = 0

    async def scenario(run: Load) -> None:
        nonlocal held
        await run.until(lambda: STEPS <= run.served_since(0.0), *BEFORE)
        away_at = run.mark("fault")
        await asyncio.to_thread(away)
        await run.until(lambda: run.refused_since(away_at), *DURING)
        held = faults.live.services.audit.held
        await asyncio.to_thread(back)
        back_at = run.mark("back")
        await run.until(lambda: STEPS <= run.served_since(back_at + RECOVERY), *AFTER)
        run.mark("end")

    try:
        answers = await load.run(scenario)
    finally:
        await asyncio.to_thread(back)  # whatever happened, the next test finds it up
        for browser in apps.signed_in:
            await browser.close()
    return load, answers, held


@pytest.mark.parametrize("backend", ["directory", "store", "database"])
async def test_a_backend_killed_mid_run(backend: str, faults: Fixture) -> None:
    since = datetime.now(UTC)
    load, answers, held = await run_with_fault(faults, backend)
    marks = load.marks
    parts = phases(answers, marks["fault"], marks["back"])
    print(f"\n{backend} away from {marks['fault']:.1f}s to {marks['back']:.1f}s; served again "
          f"{back_after(answers, marks['back'])}s after; " + summary(parts))
    for a in parts["after"]:
        if not a.ok:
            print(f"  after: {a.step} at +{a.started - marks['back']:.2f}s: {a.status} {a.problem}")
    wrong = judge_run(backend, answers, marks)
    async with faults.live.client() as http:
        ready = await http.get("/readyz")
    if ready.status_code != 200:
        wrong.append(f"/readyz after the run: {ready.status_code} {ready.text[:300]}")
    if backend == "database" and not held:
        # the machines' tokens and the logins' password checks go on while the database is
        # away: their events must have been held, or this run did not test what it claims
        wrong.append("no audit event was held while the database was away")

    expected, written, missing = await audit_shortfall(
        faults.database_url, since, answers, load.app, load.machine,
        within=audit_module.RETRY_MAX + 5.0)
    print(f"audit: {sum(expected.values())} rows owed, {sum(written.values())} written, "
          f"{sum(missing.values())} missing; {held} held when the backend came back")
    if missing:
        wrong.append(f"audit rows lost: {dict(missing)}")
    assert not wrong, f"{backend} away:\n  " + "\n  ".join(wrong[:40])

"""No account enumeration by timing: "no such user" and "wrong password" take the same time.

Each test measures interleaved pairs (wrong password for an existing person, then a name nobody
has, the order alternating) so that drift in the machine's load hits both alike, and compares
the median of the paired differences with the median wrong-password time. The tolerance is
relative, because the absolute times move a lot on a shared CI machine (measured here on two
busy cores: an HTTP login 80-150 ms, an LDAP bind 0.7-5 ms).

- Embedded directory over HTTP: a wrong password costs one argon2 verification (~40-80 ms, about
  half of the request); an unknown user pays for one against a dummy hash. Without that dummy
  hash the unknown path is ~45% faster; 25% leaves room for noise (40 pairs of requests whose
  spread is ~40 ms give the paired median a standard error of ~10%) and still catches it.
- LDAP over HTTP: the same check for gross differences (a skipped bind, an extra round trip).
- LDAP directory level, where the noise is small enough to see slapd's own difference: ppolicy
  writes pwdFailureTime for a wrong password (measured 0.7-5 ms) but answers a bind to a DN that
  does not exist at once (0.4-1.7 ms), i.e. the unpadded unknown path is 35-80% faster. With
  FailureTimer's padding the paired median stayed within ±15%: 25% tells the two apart.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Awaitable, Callable

from directory.base import InvalidCredentials
from directory.ldap import LdapDirectory
from directory.ldap_password import FailureTimer
from tests.security.timing_people import DIRECT_FIRST, DIRECT_PAIRS, DIRECT_WARMUP
from tests.support.server import LiveIdp
from tests.web.conftest import browser, form_field, start_login

PAIRS = 40
TOLERANCE = 0.25


async def _timed_login(live: LiveIdp, username: str) -> float:
    """Seconds the login POST takes (the form is fetched first, untimed)."""
    interaction = await start_login(live)
    async with browser(live) as client:  # an address of its own: no throttle in the way
        page = await client.get(f"/login/{interaction.id}")
        form = {"csrf": form_field(page.text, "csrf"), "username": username,
                "password": "not-the-password-1"}
        started = time.perf_counter()
        response = await client.post(f"/login/{interaction.id}", data=form)
        elapsed = time.perf_counter() - started
    assert response.status_code == 401, response.text
    return elapsed


async def _compare(existing: list[str], measure: Callable[[str], Awaitable[float]]) -> None:
    wrong, unknown = [], []
    for n, username in enumerate(existing):
        ghost = f"nobody-{secrets.token_hex(6)}"
        if n % 2:
            unknown.append(await measure(ghost))
            wrong.append(await measure(username))
        else:
            wrong.append(await measure(username))
            unknown.append(await measure(ghost))
    typical = statistics.median(wrong)
    gap = statistics.median(u - w for u, w in zip(unknown, wrong, strict=True))
    assert abs(gap) <= TOLERANCE * typical, (
        f"unknown user differs from wrong password by {gap * 1000:.2f} ms "
        f"(wrong password: median {typical * 1000:.2f} ms)")


async def test_local_login_form_takes_the_same_time(local_idp: LiveIdp) -> None:
    people = []
    for _ in range(PAIRS):
        username = f"timed-{secrets.token_hex(4)}"
        await local_idp.services.directory.create_person(username, "Right-password-1")
        people.append(username)
    await _compare(people, lambda username: _timed_login(local_idp, username))


async def test_ldap_login_form_takes_the_same_time(ldap_idp: LiveIdp) -> None:
    for n in range(50, 60):  # warm up: real failures of this minute for the padding to follow
        await _timed_login(ldap_idp, f"timing{n}")
    await _compare([f"timing{n}" for n in range(PAIRS)],
                   lambda username: _timed_login(ldap_idp, username))


def test_the_padding_follows_the_failures_of_the_last_half_minute() -> None:
    timer = FailureTimer()
    now = time.monotonic()
    for _ in range(30):  # a busy minute ago: failures took 50 ms
        timer._failures.append((now - 120, 0.050))
    assert timer._recent(timer._failures, now) == [0.050] * 30  # nothing newer: the old ones
    for _ in range(FailureTimer.ENOUGH):  # now: 2 ms
        timer._failures.append((now - 1, 0.002))
    assert timer._recent(timer._failures, now) == [0.002] * FailureTimer.ENOUGH


async def test_ldap_unknown_user_is_padded_to_a_wrong_password(
    security_ldap: LdapDirectory,
) -> None:
    async def attempt(username: str) -> float:
        started = time.perf_counter()
        try:
            await security_ldap.authenticate(username, "not-the-password-1")
        except InvalidCredentials:
            return time.perf_counter() - started
        raise AssertionError("a wrong password was accepted")

    first, warmup = DIRECT_FIRST, DIRECT_FIRST + DIRECT_PAIRS
    for n in range(warmup, warmup + DIRECT_WARMUP):  # real failures for the padding to follow
        await attempt(f"timing{n}")
    # a bind takes 1-5 ms: more pairs than over HTTP, so that the median sees through the
    # scheduling noise of a busy machine (40 pairs gave it a spread of about ±1 ms)
    await _compare([f"timing{n}" for n in range(first, first + DIRECT_PAIRS)], attempt)

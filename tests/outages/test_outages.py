"""With the directory, the Store or the database unreachable, no route answers 500 (DESIGN.md: every
backend failure is a 503, a page for browsers and JSON for APIs), none hangs, and the server
works again by itself, at once, when the backend is back.

One campus-idp on slapd, Redis and PostgreSQL, each through a CutProxy (tests/support/cut.py).
For each backend: a fresh world (world.py), then the backend is cut, every route of the app is
requested with a plausible request (recipes.py), and the backend is restored.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.admin.support import PASSWORDS, mint_admin_backend
from tests.mfa.people import Someone
from tests.oauth.flow import Browser, RegisteredClient, exchange, register
from tests.outages.calls import app_routes, calls_for
from tests.outages.conftest import BACKENDS
from tests.outages.recipes import RECIPES
from tests.outages.sweep import (
    Outcome,
    baseline_problem,
    outage_problem,
    report,
    sweep,
    table,
)
from tests.outages.world import World, code_flow
from tests.support.cut import CutProxy
from tests.support.server import LiveIdp

# a demo person whom no request of a sweep changes: who signs in to prove the server is back
REGULAR = Someone("teacher", PASSWORDS["teacher"], "teacher@example.edu")
WARM = 4  # concurrent sign-ins and admin writes: more than any pool's size in these settings


def served_routes(live: LiveIdp) -> list[tuple[str, str]]:
    """Every (method, route template) of the app the server runs."""
    routes = app_routes(live.server.config.app)
    assert len(routes) > 50, routes  # the app's routes, not some wrapper's
    return routes


@dataclass
class Regulars:
    """What a recovery check uses: an app to sign in to, an admin's token, someone to edit."""

    client: RegisteredClient
    admin_token: str
    edited: Someone


def gist(text: str) -> str:
    """The words of a page (or message) without its head and markup, shortened."""
    text = re.sub(r"(?s)<head>.*?</head>|<[^>]+>", " ", text)
    return " ".join(text.split())[:300]


async def recovered(live: LiveIdp, regulars: Regulars) -> str | None:
    """None when the server works at once, without a restart: the first sign-in (login form,
    code, token), the first admin write and the first readiness probe all succeed; else what
    failed. Nothing is retried: a request that fails once the backend is back is a request a
    person sees fail. All three are tried whatever the others did, so that what a failure
    leaves behind (stale pooled connections) is used up here, not in the next test."""
    failed: list[str] = []
    browser = Browser.open(live)
    try:
        code = await code_flow(browser, regulars.client, REGULAR)
        tokens = await exchange(live, regulars.client, code)
        if tokens.status_code != 200:
            failed.append(f"the first token request: {tokens.status_code} {tokens.text[:200]}")
    except AssertionError as exc:
        failed.append("the first sign-in: " + gist(str(exc)))
    finally:
        await browser.close()
    async with live.client() as http:
        written = await http.patch(f"/admin/api/people/{regulars.edited.username}",
                                   json={"title": f"edited at {time.time():.0f}"},
                                   headers={"Authorization": f"Bearer {regulars.admin_token}"})
        if written.status_code != 200:
            failed.append(f"the first admin write: {written.status_code} {written.text[:200]}")
        ready = await http.get("/readyz")
        if ready.status_code != 200:
            failed.append(f"the first /readyz: {ready.status_code} {ready.text[:300]}")
    return "; ".join(failed) or None


# --- the sweep itself -------------------------------------------------------------------------


def test_every_route_has_a_recipe(outage_idp: LiveIdp) -> None:
    routes = served_routes(outage_idp)
    missing = [f"{m} {p}" for m, p in routes if (m, p) not in RECIPES]
    stale = [f"{m} {p}" for m, p in RECIPES if (m, p) not in routes]
    assert not missing, ("routes without a recipe in tests/outages/recipes.py (they are swept "
                         f"with a generic request meanwhile): {missing}")
    assert not stale, f"recipes for routes the app no longer has: {stale}"
    # the endpoints the edge dispatches itself are routes of the app too, and so are swept
    for key in (("POST", "/token"), ("GET", "/authorize/resume/{signin_id}"),
                ("POST", "/login/{signin_id}")):
        assert key in routes, key


async def test_every_recipe_works_while_all_is_up(outage_idp: LiveIdp, world: World) -> None:
    """The sweep's requests are real ones: with nothing cut each gets a normal answer, so under
    an outage they reach as far into their handlers as the outage lets them."""
    routes = served_routes(outage_idp)
    outcomes = await sweep(outage_idp, calls_for(routes, world, RECIPES))
    print("\nall backends up:\n" + table(outcomes))
    problems = [(o, p) for o in outcomes if (p := baseline_problem(o))]
    assert not problems, report("all backends up", outcomes, problems)

    # the generic request a route without a recipe gets: every parameter filled in, and no
    # 5xx or hang (GETs only: the generic POST is the admin's, and could end their session)
    generic = calls_for(routes, world, recipes={})
    assert not [c.path for c in generic if "{" in c.path]
    outcomes = await sweep(outage_idp, [c for c in generic if c.method == "GET"])
    broken = [(o, "5xx or no answer") for o in outcomes if o.status is None or o.status >= 500]
    assert not broken, report("generic requests, all backends up", outcomes, broken)


# --- outages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_no_route_answers_500_while_a_backend_is_away(
        backend: str, outage_idp: LiveIdp, proxies: dict[str, CutProxy], world: World) -> None:
    calls = calls_for(served_routes(outage_idp), world, RECIPES)
    proxy = proxies[backend]
    started = time.monotonic()
    proxy.cut()
    try:
        outcomes = await sweep(outage_idp, calls)
    finally:
        proxy.restore()
    print(f"\n{backend} away ({time.monotonic() - started:.1f}s):\n" + table(outcomes))
    problems: list[tuple[Outcome, str]] = [(o, p) for o in outcomes
                                           if (p := outage_problem(o, backend))]
    recovery = await recovered(outage_idp, Regulars(
        world.clients["first_party"], world.admin_token, world.people["student"]))
    message = report(f"{backend} away", outcomes, problems)
    if recovery:
        message += f"\nand once {backend} was back, failed: {recovery}"
    assert not problems and not recovery, message


# --- a restart nobody sees ----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def regulars(outage_idp: LiveIdp) -> AsyncIterator[Regulars]:
    client = await register(outage_idp, skip_consent=True)
    admin = await mint_admin_backend("ldap", outage_idp)
    # a demo person in this suite's own slapd: editing their title disturbs no other suite
    yield Regulars(client, await admin.token(), Someone("student", PASSWORDS["student"], ""))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_backend_restarting_between_requests_goes_unnoticed(
        backend: str, outage_idp: LiveIdp, proxies: dict[str, CutProxy],
        regulars: Regulars) -> None:
    """The backend restarts while nobody asks anything (every connection the IdP holds to it
    ends): the next requests must not fail, whatever the IdP kept in its pools."""
    # warm up: the IdP's pools hold several connections to every backend, as under load (a
    # second round in case an earlier test's restart left something to use up: it reports it)
    for _ in range(2):
        warm = await asyncio.gather(*(recovered(outage_idp, regulars) for _ in range(WARM)))
        if not any(warm):
            break
    assert not any(warm), warm
    proxies[backend].cut()
    await asyncio.sleep(0.5)  # a quick restart: long enough for the IdP to see its pool closed
    proxies[backend].restore()
    problem = await recovered(outage_idp, regulars)
    assert problem is None, f"after {backend} restarted, failed: {problem}"

"""With the directory, the Store or the database unreachable, no route answers 500 (DESIGN.md: every
backend failure is a 503, a page for browsers and JSON for APIs), none hangs, and the server
works again by itself, at once, when the backend is back.

One campus-idp on slapd, Redis and PostgreSQL, each through a CutProxy (tests/support/cut.py).
For each backend: a fresh world (world.py), then the backend is cut, every route of the app is
requested with a plausible request (recipes.py), and the backend is restored.
"""

from __future__ import annotations

from tests.outages.calls import app_routes, calls_for
from tests.outages.recipes import RECIPES
from tests.outages.sweep import (
    baseline_problem,
    report,
    sweep,
    table,
)
from tests.outages.world import World
from tests.support.server import LiveIdp


def served_routes(live: LiveIdp) -> list[tuple[str, str]]:
    """Every (method, route template) of the app the server runs."""
    routes = app_routes(live.server.config.app)
    assert len(routes) > 50, routes  # the app's routes, not some wrapper's
    return routes


# --- the sweep itself -------------------------------------------------------------------------


def test_every_route_has_a_recipe(outage_idp: LiveIdp) -> None:
    routes = served_routes(outage_idp)
    missing = [f"{m} {p}" for m, p in routes if (m, p) not in RECIPES]
    stale = [f"{m} {p}" for m, p in RECIPES if (m, p) not in routes]
    assert not missing, ("routes without a recipe in tests/outages/recipes.py (they are swept "
                         f"with a generic request meanwhile): {missing}")
    assert not stale, f"recipes for routes the app no longer has: {stale}"
    # the endpoints the edge dispatches itself are routes of the app too, and so are swept
    for key in (("POST", "/token"), ("GET", "/authorize/resume/{interaction_id}"),
                ("POST", "/login/{interaction_id}")):
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

"""The requests of a sweep: every route of the app, read from the app object, each turned into
one or more Calls by its recipe (tests/outages/recipes.py), or by `fallback` when it has none.

`kind` says what a caller expects of a 503: "page" (browsers: an HTML page), "api" (JSON with an
"error" member), "oauth" (JSON {"error": "temporarily_unavailable"}: the OAuth/OIDC endpoints and
dynamic registration), "probe" (/readyz: 503 with {"ready": false} while the Store or the
database is away, 200 with {"status": "degraded"} while the directory is),
"cas" (a CAS client: INTERNAL_ERROR in the CAS answer it asked for, XML, JSON or CAS 1.0's
"no"), "unknown" (a route without a recipe: either shape will do).
`last`: the request ends or rotates something other requests use (a session, a refresh token,
a client); it is sent after all the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.oauth.flow import Browser
from tests.outages.world import World

PAGE, API, OAUTH, PROBE, CAS = "page", "api", "oauth", "probe", "cas"


@dataclass
class Call:
    """One request of a sweep."""

    method: str
    template: str  # the route's path template, as the app declares it
    path: str  # with the parameters filled in
    kind: str
    browser: Browser | None = None  # whose cookies and address; None: a stranger's
    kwargs: dict[str, Any] = field(default_factory=dict)  # params, data, json, content, files...
    last: bool = False
    ok: tuple[int, ...] = ()  # statuses >= 400 that are this request's right answer when all is up

    @property
    def label(self) -> str:
        shown = self.path if self.path == self.template else f"{self.template} [{self.path}]"
        return f"{self.method} {shown}"


@dataclass(frozen=True)
class Req:
    """What a recipe returns: the filled-in path and how to send it."""

    path: str
    browser: Browser | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    ok: tuple[int, ...] = ()


def req(path: str, browser: Browser | None = None, *, ok: tuple[int, ...] = (),
        **kwargs: Any) -> Req:
    return Req(path, browser, kwargs, ok)


@dataclass(frozen=True)
class Recipe:
    kind: str
    make: Callable[[World], Iterable[Req]]
    last: bool = False


def app_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, from the app object. FastAPI may
    keep included routers as lazy entries of app.routes (fastapi.routing.iter_route_contexts
    flattens them, where it exists). A route without methods (a mount, a websocket) comes out as
    ("*", path): no recipe can match it, so the recipe test names it."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI whose app.routes are already flat
        routes: Iterable[Any] = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if not path:
            continue
        for method in getattr(route, "methods", None) or ("*",):
            found.add((method, path))
    return sorted(found, key=lambda key: (key[1], key[0]))


def _parameters(w: World) -> dict[str, str]:
    """Values for path parameters, by name, for routes without a recipe."""
    return {"signin_id": w.paused["login"].id, "client_id": w.clients["confidential"].client_id,
            "username": w.people["target"].username, "group": "students",
            "job_id": w.values["api_job"], "token": w.values["reset_token"],
            "sid": w.values["held_sid"], "name": "site.css", "action": "disable",
            "binding_id": "999999", "provider": "nope"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fallback(w: World, method: str, template: str) -> list[Req]:
    """A route nobody wrote a recipe for: the admin's browser and token (and CSRF token, in a
    form, for a method that sends one), path parameters by name."""
    path = template
    for name, value in _parameters(w).items():
        path = path.replace("{" + name + "}", value)
    form = {} if method in ("GET", "HEAD", "DELETE") else {
        "data": {"csrf": w.browser_csrf("admin")}}
    return [req(path, w.browsers["admin"], headers=bearer(w.admin_token), **form)]


def calls_for(routes: Iterable[tuple[str, str]], w: World,
              recipes: dict[tuple[str, str], Recipe]) -> list[Call]:
    """The calls of a sweep: each route's recipe made with this world, or the fallback."""
    calls: list[Call] = []
    for method, template in routes:
        known = recipes.get((method, template))
        kind, last = (known.kind, known.last) if known else ("unknown", False)
        made = known.make(w) if known else fallback(w, method, template)
        calls += [Call(method, template, r.path, kind, r.browser, dict(r.kwargs), last, r.ok)
                  for r in made]
    return calls

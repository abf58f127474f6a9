"""Send every call of a sweep and judge each answer.

Calls go out concurrently (a sweep is some 120 requests; one after the other they would take
half a minute per backend), each from a client of its own that starts with a copy of its
browser's cookies: what one answer sets or clears never changes what another request sends. The
calls marked `last` go out once all the others are answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx

from tests.oauth.flow import fresh_ip
from tests.outages.calls import API, CAS, OAUTH, PAGE, PROBE, Call
from tests.support.server import LiveIdp

# Above the backends' own limits (LDAP: timeout 2 s + network timeout 1 s per server here; Redis:
# socket timeouts 3 s; PostgreSQL: 10 s for a statement or a free connection, idp/db/pg_direct.py;
# and a refused connection fails at once): an answer slower than this is a hang, reported as such
REQUEST_TIMEOUT = 20.0
CONCURRENCY = 24
# where a browser without a (valid) session is sent
SIGN_IN = ("/authorize?", "/portal/login", "/admin/login")
# what /readyz calls each backend
READY_CHECK = {"directory": "directory", "store": "store", "database": "database"}


@dataclass
class Outcome:
    call: Call
    status: int | None  # None: no answer (timeout, connection error)
    content_type: str
    body: str
    seconds: float
    error: str | None = None
    location: str = ""

    def line(self) -> str:
        head = f"{self.call.label} -> "
        if self.status is None:
            return head + f"no (whole) answer after {self.seconds:.1f}s: {self.error}"
        text = " ".join(self.body[:200].split())
        return head + f"{self.status} {self.content_type or '-'} ({self.seconds:.1f}s): {text}"


async def send(live: LiveIdp, call: Call) -> Outcome:
    if call.browser is not None:
        cookies = httpx.Cookies(call.browser.http.cookies)
        headers = dict(call.browser.http.headers)
    else:
        cookies, headers = httpx.Cookies(), {"x-forwarded-for": fresh_ip()}
    kwargs = dict(call.kwargs)
    headers.update(kwargs.pop("headers", {}))
    started = time.monotonic()
    status, content_type, location, body = None, "", "", b""
    async with httpx.AsyncClient(base_url=live.base_url, follow_redirects=False, cookies=cookies,
                                 headers=headers, timeout=REQUEST_TIMEOUT) as http:
        try:
            # streamed: an answer that breaks off after its head is reported with that head
            async with http.stream(call.method, call.path, **kwargs) as response:
                status = response.status_code
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                location = response.headers.get("location", "")
                async for chunk in response.aiter_bytes():
                    body += chunk
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            if status is not None:
                error = f"the body broke off after a {status} head: {error}"
            return Outcome(call, None, content_type, body.decode(errors="replace"),
                           time.monotonic() - started, error, location)
    return Outcome(call, status, content_type, body.decode(errors="replace"),
                   time.monotonic() - started, location=location)


async def sweep(live: LiveIdp, calls: list[Call]) -> list[Outcome]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Call) -> Outcome:
        async with gate:
            return await send(live, call)

    first = await asyncio.gather(*(one(c) for c in calls if not c.last))
    then = await asyncio.gather(*(one(c) for c in calls if c.last))
    return [*first, *then]


def _json(body: str) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


def outage_problem(outcome: Outcome, backend: str) -> str | None:
    """What is wrong with an answer given while `backend` is away, or None."""
    call, status = outcome.call, outcome.status
    if status is None:
        return "no complete answer"
    if call.kind == PROBE:
        return _probe_problem(outcome, READY_CHECK.get(backend))
    if status >= 500 and status != 503:
        return f"{status} instead of 503"
    if status != 503:
        return None
    if call.method == "HEAD":  # no body to judge: the type must still be right
        wanted = "text/html" if call.kind == PAGE else "application/json"
        return None if outcome.content_type == wanted or call.kind == "unknown" else \
            f"503 as {outcome.content_type or 'nothing'}, not {wanted}"
    return _shape_problem(outcome)


def _probe_problem(outcome: Outcome, check: str | None) -> str | None:
    """/readyz must say "not ready" (503, ready false) naming the backend that is away; for a
    backend it does not check, "ready" (200) is a right answer too. The LDAP directory is the
    exception: its last-known people stand in for it (directory/last_known.py), so it must say
    "degraded" and stay ready (200), or load balancers would drop every replica at once."""
    body = _json(outcome.body)
    verdict = body.get("checks", {}).get(check or "", "") if isinstance(body, dict) else ""
    if check == "directory":
        degraded = (outcome.status == 200 and isinstance(body, dict) and body.get("ready") is True
                    and body.get("status") == "degraded" and str(verdict).startswith("degraded"))
        return None if degraded else "readiness must be 200 with status degraded and the " \
            "directory degraded"
    not_ready = (outcome.status == 503 and isinstance(body, dict) and body.get("ready") is False
                 and body.get("status") == "down"
                 and (check is None or str(verdict).startswith("error")))
    if not_ready or (check is None and outcome.status == 200):
        return None
    return f"readiness must be 503 with ready false and {check or 'a check'} in error"


def _shape_problem(outcome: Outcome) -> str | None:
    kind = outcome.call.kind
    body = _json(outcome.body)
    is_json = outcome.content_type == "application/json" or outcome.content_type.endswith("+json")
    error = body.get("error") if isinstance(body, dict) else None
    if kind == PAGE:
        return None if outcome.content_type == "text/html" else \
            f"a browser page answered 503 as {outcome.content_type or 'nothing'}, not text/html"
    if kind == API:
        return None if is_json and isinstance(error, str) and error else \
            "an API answered 503 without a JSON body with an \"error\""
    if kind == OAUTH:
        return None if is_json and error == "temporarily_unavailable" else \
            "an OAuth endpoint answered 503 without {\"error\": \"temporarily_unavailable\"}"
    if kind == CAS:
        internal = ('code="INTERNAL_ERROR"' in outcome.body or '"INTERNAL_ERROR"' in outcome.body
                    or outcome.body == "no\n\n")
        return None if internal else "a CAS endpoint answered 503 without INTERNAL_ERROR"
    # a route without a recipe: either shape will do
    if outcome.content_type == "text/html" or (is_json and isinstance(error, str)):
        return None
    return "503 that is neither an HTML page nor JSON with an \"error\""


def baseline_problem(outcome: Outcome) -> str | None:
    """With every backend up, each recipe must work: 2xx/3xx, or the 4xx it names."""
    status = outcome.status
    if status is None:
        return "no complete answer"
    if outcome.call.browser is not None and outcome.location.startswith(SIGN_IN):
        return f"a signed-in browser was sent to sign in ({outcome.location[:80]})"
    if status < 400 or status in outcome.call.ok:
        return None
    return f"{status} with every backend up: the recipe does not reach far into its handler"


def report(title: str, outcomes: list[Outcome], problems: list[tuple[Outcome, str]]) -> str:
    lines = [f"{title}: {len(problems)} of {len(outcomes)} requests failed"]
    lines += [f"  {problem}: {outcome.line()}" for outcome, problem in problems]
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    """Every answer, one line each, for the log."""
    return "\n".join(f"  {o.status or '---'} {o.seconds:5.1f}s {o.call.label}"
                     for o in sorted(outcomes, key=lambda o: (o.call.template, o.call.method)))

"""The steady load of a fault run, and every answer it got.

Three kinds of work, each in loops of its own, run side by side until the run ends:
- signin: a new browser signs a new person in through the real pages (authorize, the login page,
  the password, back to the app with a code), the app redeems the code (token) and refreshes the
  tokens it got (refresh);
- sso: a browser signed in before the run asks /authorize again, and gets a code at once;
- machine: an app asks for client_credentials tokens.
Every request is one Answer: its step, when it started and ended (seconds from the run's start),
its status, and what was wrong with it (None for a right answer: the step's success, or a
well-formed 503). A flow stops at its first failure; the loop starts a new one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from tests.mfa.people import Someone
from tests.oauth.flow import REDIRECT, Browser, RegisteredClient, form_field, query_of
from tests.support.server import LiveIdp

# an answer slower than this is a hang: above every timeout the suite configures (LDAP 2 s + 1 s
# per server, Redis 3 s and three quick retries, PostgreSQL 10 s for a statement or a connection)
HANG = 12.0
PAGES = ("authorize", "login_page", "login", "resume", "sso")
PAUSE = 0.05  # between flows, and after a failure (a refused request is fast: no busy loop)


@dataclass
class Answer:
    step: str
    started: float
    ended: float
    status: int | None  # None: no (complete) answer
    ok: bool  # the step succeeded
    problem: str | None = None  # None: a right answer (ok, or a well-formed 503)
    who: str = ""  # the person who signed in (login)
    after: float | None = None  # when the state this step relies on was written (its flow's last step)

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def refused(self) -> bool:
        return self.status == 503 and self.problem is None


def _success(step: str, response: httpx.Response) -> bool:
    location = response.headers.get("location", "")
    if step == "authorize":
        return response.status_code == 303 and location.startswith("/login/")
    if step == "login":
        return response.status_code == 303 and location.startswith("/authorize/resume/")
    if step in ("resume", "sso"):
        return response.status_code == 302 and location.startswith(REDIRECT) and \
            "code" in query_of(location)
    return response.status_code == 200  # login_page, token, refresh, machine


def judge(step: str, response: httpx.Response) -> tuple[bool, str | None]:
    """(succeeded, what is wrong): a 503 must be a page for browsers and the OAuth error JSON
    for the token endpoint; anything else that is not the step's success is a problem."""
    if _success(step, response):
        return True, None
    status, kind = response.status_code, response.headers.get("content-type", "").split(";")[0]
    if status == 503:
        if step in PAGES:
            return False, None if kind == "text/html" else f"503 as {kind}, not a page"
        body = response.json() if kind == "application/json" else {}
        return False, None if body.get("error") == "temporarily_unavailable" else \
            f"503 without temporarily_unavailable: {response.text[:200]}"
    where = response.headers.get("location", "")
    text = " ".join(response.text.split())[:300]
    return False, f"{status} {where} {text}".strip()


@dataclass
class Load:
    live: LiveIdp
    app: RegisteredClient  # confidential, no consent: the sign-ins' app
    machine: RegisteredClient  # client_credentials
    people: Iterator[Someone]
    sso_browsers: list[Browser]
    signers: int = 4
    machines: int = 1
    answers: list[Answer] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)  # "fault", "back", ...: when
    _t0: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _answered: asyncio.Event = field(default_factory=asyncio.Event)  # set at every answer

    def now(self) -> float:
        return time.monotonic() - self._t0

    def mark(self, name: str) -> float:
        self.marks[name] = at = self.now()
        return at

    def served_since(self, since: float) -> set[str]:
        """The steps that succeeded at least once among the requests sent since then."""
        return {a.step for a in self.answers if a.ok and a.started >= since}

    def refused_since(self, since: float) -> bool:
        return any(a.refused for a in self.answers if a.ended >= since)

    async def until(self, done: Callable[[], bool], at_least: float, at_most: float) -> None:
        """Let the load run at least `at_least` seconds, then until `done()` (at most
        `at_most`): a phase lasts until it has shown what it is for, however slow the machine."""
        deadline = time.monotonic() + at_most
        await asyncio.sleep(at_least)
        while not done():
            self._answered.clear()
            try:  # look again at the next answer
                await asyncio.wait_for(self._answered.wait(), deadline - time.monotonic())
            except TimeoutError:
                return

    async def run(self, scenario: Callable[[Load], Awaitable[None]]) -> list[Answer]:
        """Run the load while `scenario` takes a backend away and gives it back (or whatever it
        does); the load stops when the scenario returns."""
        self._t0 = time.monotonic()
        workers = [*(self._loop(self._signin) for _ in range(self.signers)),
                   *(self._loop(self._machine) for _ in range(self.machines)),
                   *(self._loop(self._sso, browser) for browser in self.sso_browsers)]
        tasks = [asyncio.create_task(w) for w in workers]
        try:
            await scenario(self)
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)
        return self.answers

    # --- the work ---------------------------------------------------------------------------

    async def _loop(self, flow: Callable[..., Awaitable[None]], *args: object) -> None:
        while not self._stop.is_set():
            await flow(*args)
            await asyncio.sleep(PAUSE)

    async def _step(self, step: str, send: Callable[[], Awaitable[httpx.Response]], *,
                    who: str = "", after: float | None = None
                    ) -> tuple[httpx.Response | None, float]:
        """Send one request and record its Answer: the response when the step succeeded (else
        None), and when it ended (the time the state it wrote was written, for the next step)."""
        started = self.now()
        try:
            response = await send()
        except httpx.HTTPError as exc:
            ended = self.now()
            self.answers.append(Answer(step, started, ended, None, False,
                                       f"no answer: {type(exc).__name__}: {exc}", who, after))
            self._answered.set()
            return None, ended
        ok, problem = judge(step, response)
        ended = self.now()
        self.answers.append(Answer(step, started, ended, response.status_code, ok, problem,
                                   who, after))
        self._answered.set()
        return (response if ok else None), ended

    async def _signin(self) -> None:
        person = next(self.people)
        async with _browser(self.live) as browser:
            http = browser.http
            params = {"response_type": "code", "client_id": self.app.client_id,
                      "redirect_uri": REDIRECT, "scope": "openid profile offline_access",
                      "state": secrets.token_urlsafe(8)}
            asked, at = await self._step("authorize", lambda: http.get("/authorize", params=params))
            if asked is None:
                return
            login = asked.headers["location"]
            page, at = await self._step("login_page", lambda: http.get(login), after=at)
            if page is None:
                return
            form = {"csrf": form_field(page.text, "csrf"), "username": person.username,
                    "password": person.password}
            signed, at = await self._step("login", lambda: http.post(login, data=form),
                                          who=person.username, after=at)
            if signed is None:
                return
            resume = signed.headers["location"]
            back, at = await self._step("resume", lambda: http.get(resume), after=at)
            if back is None:
                return
            code = query_of(back.headers["location"])["code"]
            redeem = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
            tokens, at = await self._step("token", lambda: http.post(
                "/token", data=redeem, auth=self.app.basic), after=at)
            if tokens is None:
                return
            again = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
            await self._step("refresh", lambda: http.post("/token", data=again,
                                                          auth=self.app.basic), after=at)

    async def _sso(self, browser: Browser) -> None:
        params = {"response_type": "code", "client_id": self.app.client_id,
                  "redirect_uri": REDIRECT, "scope": "openid profile",
                  "state": secrets.token_urlsafe(8)}
        await self._step("sso", lambda: browser.http.get("/authorize", params=params))

    async def _machine(self) -> None:
        async with self.live.client(timeout=HANG * 2) as http:
            await self._step("machine", lambda: http.post(
                "/token", data={"grant_type": "client_credentials"}, auth=self.machine.basic))


@asynccontextmanager
async def _browser(live: LiveIdp) -> AsyncIterator[Browser]:
    browser = Browser.open(live)
    browser.http.timeout = httpx.Timeout(HANG * 2)  # a hang shows as a long answer, not an error
    try:
        yield browser
    finally:
        await browser.close()


# --- reading a run ------------------------------------------------------------------------------


def phases(answers: list[Answer], away: float, back: float) -> dict[str, list[Answer]]:
    """before: answered before the backend went away; during: the rest sent before it was back
    (in flight when it went, or sent meanwhile); after: sent once it was back."""
    return {"before": [a for a in answers if a.ended < away],
            "during": [a for a in answers if a.ended >= away and a.started < back],
            "after": [a for a in answers if a.started >= back]}


def back_after(answers: list[Answer], since: float) -> float | None:
    """Seconds from `since` until the backend's absence stopped showing: the start of the first
    success after the last failure that started since then (None: nothing succeeded after)."""
    later = [a for a in answers if a.started >= since]
    failed = [a.started for a in later if not a.ok]
    last_failure = max(failed, default=since)
    successes = [a.started for a in later if a.ok and a.started >= last_failure]
    return (min(successes) - since) if successes else None


def summary(parts: dict[str, list[Answer]]) -> str:
    """Per phase and step: served / refused (503) [/ anything else!], and the slowest answer."""
    order = [*PAGES, "token", "refresh", "machine"]
    steps = sorted({a.step for part in parts.values() for a in part}, key=order.index)
    lines = []
    for name, part in parts.items():
        cells = []
        for step in steps:
            mine = [a for a in part if a.step == step]
            served = sum(a.ok for a in mine)
            refused = sum(a.refused for a in mine)
            other = len(mine) - served - refused
            cells.append(f"{step} {served}/{refused}" + (f"/{other}!" if other else ""))
        slowest = max((a.seconds for a in part), default=0.0)
        lines.append(f"  {name:<6} (slowest {slowest:4.2f}s): " + ", ".join(cells))
    return "served/refused per step\n" + "\n".join(lines)

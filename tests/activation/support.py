"""Newcomers made by the real bulk intake (marked to activate), and a browser that activates."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from idp.admin.service_common import Actor
from idp.admin.service_import import ImportResult, ImportTarget, check_file, run_import
from idp.db.activation import ActivationMarks
from idp.db.models import AuditEvent
from tests.support.server import LiveIdp

ACTOR = Actor(username="test-admin", via="cli")


@dataclass
class Newcomer:
    username: str
    number: str
    family_name: str
    given_name: str
    subject: str = ""

    def facts(self) -> list[str]:
        return [self.number, self.family_name, self.given_name]


async def intake(live: LiveIdp, count: int = 1, *, activate: bool = True,
                 family_name: str = "张") -> tuple[list[Newcomer], ImportResult]:
    """New students through the bulk intake (`run_import`, as the CLI, console and API run it),
    without a password column."""
    tag = secrets.token_hex(3)
    people = [Newcomer(f"n{tag}{i}", f"2026{tag}{i:02d}", family_name, f"三{i}")
              for i in range(count)]
    rows = ["username,name,family_name,given_name,number"] + [
        f"{p.username},{p.family_name}{p.given_name},{p.family_name},{p.given_name},{p.number}"
        for p in people]
    target = ImportTarget.of(live.services)
    plan = await check_file(target, ("\n".join(rows) + "\n").encode())
    assert plan.valid, plan.errors
    plan.activate = activate
    result = await run_import(target, plan, ACTOR, filename="intake.csv")
    assert result.failure is None, result.failure
    for person in people:
        found = await live.services.directory.find(person.username)
        assert found is not None
        person.subject = found.subject
    return people, result


async def is_marked(live: LiveIdp, person: Newcomer) -> bool:
    return await ActivationMarks(live.services.db).is_marked(person.subject)


def field_value(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no field {name!r} in the page:\n{page[:3000]}"
    return html.unescape(match.group(1))


def message(page: str) -> str:
    """The page's error or info message (what a person reads)."""
    match = re.search(r'<p class="message [a-z]+"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


class Visitor:
    """One browser (its own cookies and client address) at /activate."""

    def __init__(self, live: LiveIdp, ip: str | None = None) -> None:
        self.ip = ip or f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
        self.http = live.client(headers={"X-Forwarded-For": self.ip})

    async def close(self) -> None:
        await self.http.aclose()

    async def prove(self, username: str, facts: list[str], locale: str = "en") -> httpx.Response:
        page = await self.http.get(f"/activate?ui_locales={locale}")
        assert page.status_code == 200, page.text
        data: dict[str, Any] = {"csrf": field_value(page.text, "csrf"), "username": username,
                                "ui_locales": locale}
        data |= {f"fact_{i}": value for i, value in enumerate(facts)}
        return await self.http.post("/activate", data=data)

    async def choose(self, step: httpx.Response, password: str, *, email: str = "",
                     phone: str = "", confirm: str | None = None) -> httpx.Response:
        return await self.http.post("/activate/password", data={
            "csrf": field_value(step.text, "csrf"), "ticket": field_value(step.text, "ticket"),
            "new": password, "confirm": password if confirm is None else confirm,
            "email": email, "phone": phone, "ui_locales": "en"})


async def activation_events(live: LiveIdp, actor: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.execute(select(AuditEvent).where(
            AuditEvent.kind == "activation", AuditEvent.actor == actor).order_by(AuditEvent.id))
        return list(rows.scalars())


async def signs_in(live: LiveIdp, username: str, password: str) -> bool:
    """Whether the password opens the account, as a login checks it (a real bind on slapd),
    with nothing left to change first."""
    from directory.base import InvalidCredentials

    try:
        await live.services.directory.authenticate(username, password)
    except InvalidCredentials:
        return False
    return True

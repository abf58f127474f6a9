"""Helpers for the signin UI tests: browsers (own cookie jar, own client address), login
signins, and a real login over HTTP."""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from idp.sso.signins import PendingSignIn
from tests.support.server import LiveIdp

_addresses = itertools.count(1)


def fresh_ip() -> str:
    """A client address of its own, so failure counters of one test never throttle another.
    uvicorn trusts X-Forwarded-For from 127.0.0.1 (its default forwarded_allow_ips)."""
    n = next(_addresses) + secrets.randbelow(1000) * 1000
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def browser(live: LiveIdp, *, ip: str | None = None, **headers: str) -> httpx.AsyncClient:
    return live.client(headers={"x-forwarded-for": ip or fresh_ip(), **headers})


@pytest.fixture
async def web(live_idp: LiveIdp) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(live_idp) as client:
        yield client


async def start_login(live: LiveIdp, **fields: Any) -> PendingSignIn:
    """A paused authorization request, as /authorize leaves it for the UI."""
    values: dict[str, Any] = {
        "protocol": "oidc", "resume": "/authorize/resume/{id}", "page": "login",
        "request": {"response_type": "code", "client_id": "demo-app"},
        "app_id": "demo-app", "app_name": "选课系统 Course Selection",
        "scopes": ["openid", "profile"],
    }
    values.update(fields)
    return await live.services.signins.start(**values)


def form_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name!r} in the page"
    return match.group(1)


def error_message(html: str) -> str:
    match = re.search(r'<p class="message error" role="alert">([^<]*)</p>', html)
    assert match, "the page shows no error message"
    return match.group(1)


async def submit_login(
    client: httpx.AsyncClient, signin: PendingSignIn, username: str, password: str,
    **extra: str,
) -> httpx.Response:
    page = await client.get(f"/login/{signin.id}")
    assert page.status_code == 200, page.text
    data = {"csrf": form_field(page.text, "csrf"), "username": username, "password": password}
    data.update(extra)
    return await client.post(f"/login/{signin.id}", data=data)


async def log_in(
    live: LiveIdp, client: httpx.AsyncClient, username: str = "student",
    password: str = "student123",
) -> str:
    """Log in through the real form; returns the new session id from the cookie."""
    signin = await start_login(live)
    response = await submit_login(client, signin, username, password)
    assert response.status_code == 303, response.text
    sid = client.cookies.get(live.settings.session.cookie_name)
    assert sid
    return sid

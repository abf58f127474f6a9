"""A CAS sign-in as a browser walks it, and tickets as services validate them."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.oauth.flow import Browser

TICKET = re.compile(r"^ST-[A-Za-z0-9-]{32,}$")


async def cas_login(browser: Browser, service: str | None, *, username: str = "student",
                    password: str = "student123", **params: str) -> httpx.Response:
    """GET /cas/login and walk the sign-in pages to the answer that leaves them."""
    query = ({"service": service} if service else {}) | params
    response = await browser.http.get("/cas/login?" + urlencode(query))
    return await browser.walk(response, username=username, password=password)


def ticket_of(response: httpx.Response, service: str) -> str:
    """The ticket of a redirect to `service` (Appendix B: a GET to the service)."""
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["location"]
    assert location.startswith(service), (location, service)
    query = parse_qs(urlsplit(location).query)
    assert list(query) == ["ticket"] or set(query) >= {"ticket"}, query
    ticket = query["ticket"][0]
    assert TICKET.match(ticket), ticket
    return ticket


async def validate(browser: Browser, path: str, service: str, ticket: str,
                   **params: str) -> httpx.Response:
    """What a CAS client sends (no cookies: it is the service's back end asking)."""
    async with httpx.AsyncClient(base_url=browser.live.base_url, timeout=20) as http:
        return await http.get(f"/cas/{path}", params={"service": service, "ticket": ticket,
                                                      **params})

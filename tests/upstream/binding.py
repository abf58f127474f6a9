"""A person with an upstream account bound the way people bind one: an upstream sign-in, then
the campus password once."""

from __future__ import annotations

import secrets

from tests.mfa.browser import Browser
from tests.mfa.helpers import plain_client
from tests.mfa.people import Someone, new_person
from tests.support.server import LiveIdp
from tests.upstream.flow import upstream_authorize


def upstream_login() -> str:
    return f"u-{secrets.token_hex(6)}"


async def bound_person(live: LiveIdp) -> tuple[Someone, str, Browser]:
    """(the person, their upstream account, their browser, signed in)."""
    person, account = await new_person(live, prefix="upb"), upstream_login()
    browser = Browser.open(live)
    asked = await upstream_authorize(browser, await plain_client(live), account)
    done = await browser.submit(asked, {"username": person.username,
                                        "password": person.password}, person=person)
    assert done.status_code == 302, done.text[:1000]
    return person, account, browser

"""The admin console's person page shows the person's linked identities (the directory's links,
both ways), each a link to its own page; a person with one entry shows none."""

from __future__ import annotations

import re

from tests.identities.conftest import LONE, STUDENT, TA
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


async def admin_browser(live: LiveIdp) -> Browser:
    browser = Browser.open(live)
    first = await browser.http.get("/admin")
    arrived = await browser.walk(first, username="itadmin", password="itadmin123")
    assert arrived.status_code == 302, arrived.text[:500]
    back = await browser.http.get(arrived.headers["location"])
    assert back.status_code == 303
    return browser


async def test_the_person_page_shows_linked_identities(live: LiveIdp) -> None:
    browser = await admin_browser(live)
    try:
        student = await browser.http.get(f"/admin/people/{STUDENT.username}")
        assert student.status_code == 200
        assert re.findall(r'data-linked="([^"]+)"', student.text) == [TA.username]
        assert f'href="/admin/people/{TA.username}"' in student.text
        assert TA.number in student.text and TA.department in student.text
        # the link is written on the TA entry only: it shows from both sides
        ta = await browser.http.get(f"/admin/people/{TA.username}")
        assert re.findall(r'data-linked="([^"]+)"', ta.text) == [STUDENT.username]
        lone = await browser.http.get(f"/admin/people/{LONE.username}")
        assert lone.status_code == 200 and "data-linked" not in lone.text
    finally:
        await browser.close()


async def test_the_admin_api_names_the_linked_identities(live: LiveIdp) -> None:
    from tests.admin.support import mint_admin_backend

    backend = await mint_admin_backend("identities", live)
    student = await backend.ok("GET", f"/people/{STUDENT.username}")
    assert student["linked_identities"] == [TA.username]
    lone = await backend.ok("GET", f"/people/{LONE.username}")
    assert lone["linked_identities"] == []

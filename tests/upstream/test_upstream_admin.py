"""Bindings for admins: the admin API lists and removes a person's bindings and binds in bulk
from a CSV (number -> upstream id: checked whole first, nothing written on any problem); the
console shows and removes them. Every action audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.db.upstream_models import UpstreamBinding
from tests.admin.console_support import console_browser, csrf_of
from tests.admin.support import AdminBackend, mint_admin_backend
from tests.mfa.browser import Browser, id_token_claims
from tests.mfa.helpers import plain_client
from tests.mfa.people import new_person
from tests.support.server import LiveIdp
from tests.upstream.binding import bound_person, upstream_login
from tests.upstream.conftest import UPSTREAM
from tests.upstream.flow import upstream_authorize


@pytest.fixture
async def admin(live: LiveIdp) -> AdminBackend:
    return await mint_admin_backend("upstream", live)


async def admin_events(live: LiveIdp, action: str) -> list[AuditEvent]:
    async with live.services.db() as db:
        rows = await db.scalars(select(AuditEvent).where(AuditEvent.kind == "admin"))
        return [row for row in rows if (row.detail or {}).get("action") == action]


async def test_the_api_lists_and_removes_a_persons_bindings(live: LiveIdp,
                                                            admin: AdminBackend) -> None:
    person, account, browser = await bound_person(live)
    await browser.close()
    listed = await admin.ok("GET", f"/people/{person.username}/bindings")
    [binding] = listed["bindings"]
    assert (binding["provider"], binding["upstream_id"], binding["bound_by"]) == (
        UPSTREAM, account, "self")
    # not this person's id: not found, and nothing removed
    _, other_account, other = await bound_person(live)
    await other.close()
    async with live.services.db() as db:
        theirs = await db.scalar(select(UpstreamBinding.id).where(
            UpstreamBinding.external_id == other_account))
    refused = await admin.api("DELETE", f"/people/{person.username}/bindings/{theirs}")
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    removed = await admin.ok("DELETE", f"/people/{person.username}/bindings/{binding['id']}")
    assert removed["upstream_id"] == account
    assert (await admin.ok("GET", f"/people/{person.username}/bindings"))["bindings"] == []
    assert any(e.detail.get("target") == person.username
               for e in await admin_events(live, "remove_binding"))
    missing = await admin.api("GET", "/people/nobody-here-at-all/bindings")
    assert missing.status_code == 404
    anonymous = await admin.api("GET", f"/people/{person.username}/bindings", anonymous=True)
    assert anonymous.status_code == 401


async def test_bulk_binding_from_a_csv(live: LiveIdp, admin: AdminBackend) -> None:
    first, second = await new_person(live, prefix="bulk"), await new_person(live, prefix="bulk")
    one, two = upstream_login(), upstream_login()
    path = f"/upstream-bindings/{UPSTREAM}"
    # a file with a problem binds no one; every problem has its line
    bad = f"number,upstream_id\n{first.username},{one}\nno-such-person-xyz,{two}\n,{two}\n"
    refused = await admin.api("POST", path, content=bad.encode(),
                              headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422, refused.text
    assert [e["line"] for e in refused.json()["errors"]] == [3, 4]
    async with live.services.db() as db:
        assert list(await db.scalars(select(UpstreamBinding).where(
            UpstreamBinding.external_id.in_([one, two])))) == []
    header = await admin.api("POST", path, content=b"a,b\n1,2\n")
    assert header.status_code == 422 and header.json()["errors"][0]["line"] == 1
    unknown = await admin.api("POST", "/upstream-bindings/nope", content=b"number,userid\n")
    assert unknown.status_code == 404

    good = f"\ufeffnumber,userid\n{first.username},{one}\n{second.username},{two}\n"
    done = await admin.ok("POST", path, content=good.encode(), headers={"Content-Type": "text/csv"})
    assert done == {"bound": 2, "unchanged": 0}
    again = await admin.ok("POST", path, content=good.encode())
    assert again == {"bound": 0, "unchanged": 2}
    # the same upstream id for someone else: refused, the binding stays
    clash = f"number,userid\n{second.username},{one}\n"
    assert (await admin.api("POST", path, content=clash.encode())).status_code == 422
    async with live.services.db() as db:
        rows = {row.external_id: row for row in await db.scalars(select(UpstreamBinding).where(
            UpstreamBinding.external_id.in_([one, two])))}
    assert rows[one].username == first.username and rows[one].bound_by == "itadmin"
    assert await admin_events(live, "bind_upstream_bulk")

    # bound by the admin: the upstream account signs its person in with no password
    browser = Browser.open(live)
    try:
        client = await plain_client(live)
        claims = await id_token_claims(live, client, await upstream_authorize(browser, client, one))
    finally:
        await browser.close()
    target = await live.services.directory.find(first.username)
    assert target is not None and claims["sub"] == target.subject and claims["amr"] == ["fed"]


async def test_the_console_shows_and_removes_bindings(live: LiveIdp, admin: AdminBackend) -> None:
    person, account, browser = await bound_person(live)
    await browser.close()
    console, _ = await console_browser(admin)
    try:
        page = await console.http.get(f"/admin/people/{person.username}")
        assert page.status_code == 200 and account in page.text
        [binding_id] = re.findall(r'data-binding="(\d+)"', page.text)
        removed = await console.http.post(
            f"/admin/people/{person.username}/bindings/remove",
            data={"csrf": csrf_of(page.text), "binding": binding_id})
        assert removed.status_code == 303, removed.text
        page = await console.http.get(removed.headers["location"])
        assert re.findall(r'data-binding="(\d+)"', page.text) == []
        forged = await console.http.post(f"/admin/people/{person.username}/bindings/remove",
                                         data={"binding": binding_id})
        assert forged.status_code in (400, 403)
    finally:
        await console.close()
    async with live.services.db() as db:
        assert await db.scalar(select(UpstreamBinding).where(
            UpstreamBinding.external_id == account)) is None

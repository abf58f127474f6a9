"""The admin side of activation: the intake over the admin API and the console marks people to
activate, the console and the API show the mark, and an admin can set or take it by hand."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from tests.activation.support import Newcomer, Visitor, intake, is_marked
from tests.admin.console_support import console_browser, csrf_of
from tests.admin.support import AdminBackend, mint_admin_backend, unique_username
from tests.support.server import LiveIdp


@pytest.fixture(params=["local-sqlite", "ldap-postgresql"])
def admin_live(request: pytest.FixtureRequest) -> LiveIdp:
    return request.getfixturevalue("activation_" + request.param.replace("-", "_"))


@pytest.fixture
async def admin(admin_live: LiveIdp) -> AdminBackend:
    return await mint_admin_backend("ldap" if admin_live.slapd else "local", admin_live)


async def test_the_api_intake_marks_people_and_their_state_says_so(admin: AdminBackend) -> None:
    stem = unique_username("act")
    rows = ["username,name,family_name,given_name,number"] + [
        f"{stem}{n},新生{n},新,生{n},{stem}{n}" for n in range(3)]
    body = ("\n".join(rows) + "\n").encode()
    headers = {"Content-Type": "text/csv"}
    job = await admin.ok("POST", "/imports", 202, params={"activate": "true"}, content=body,
                         headers=headers)
    for _ in range(100):
        state = await admin.ok("GET", f"/imports/{job['id']}")
        if state["state"] != "running":
            break
        await asyncio.sleep(0.1)
    assert (state["state"], state["created"], state["to_activate"], state["passwords"]) == (
        "done", 3, 3, 0)
    result = await admin.api("GET", f"/imports/{job['id']}/result")
    lines = list(csv.DictReader(io.StringIO(result.text)))
    assert {(r["status"], r["password"]) for r in lines} == {("to_activate", "")}
    detail = await admin.ok("GET", f"/people/{stem}0")
    assert detail["state"]["to_activate"] is True and detail["state"]["must_change"] is False

    # the person activates; the state says so at once
    person = Newcomer(f"{stem}0", f"{stem}0", "新", "生0")
    visitor = Visitor(admin.live)
    try:
        step = await visitor.prove(person.username, person.facts())
        assert (await visitor.choose(step, "Winter-is-coming-77!", email="z@example.cn")
                ).status_code == 200
    finally:
        await visitor.close()
    assert (await admin.ok("GET", f"/people/{stem}0"))["state"]["to_activate"] is False


async def test_the_console_shows_the_mark_and_sets_or_takes_it(admin: AdminBackend) -> None:
    [person], _ = await intake(admin.live)
    browser, _ = await console_browser(admin, start="/admin/import")
    try:
        page = await browser.http.get("/admin/import")
        assert 'name="activate"' in page.text  # activation is on: the intake may mark
        listing = await browser.http.get("/admin/people", params={"q": person.username})
        assert "To activate" in listing.text or "待激活" in listing.text
        path = f"/admin/people/{person.username}"
        shown = await browser.http.get(path)
        assert "待激活" in shown.text or "To activate" in shown.text
        taken = await browser.http.post(f"{path}/unmark-activation",
                                        data={"csrf": csrf_of(shown.text)})
        assert taken.status_code == 303
        assert not await is_marked(admin.live, person)
        shown = await browser.http.get(path)
        assert "待激活</span>" not in shown.text and "To activate</span>" not in shown.text
        marked = await browser.http.post(f"{path}/mark-activation",
                                         data={"csrf": csrf_of(shown.text)})
        assert marked.status_code == 303 and await is_marked(admin.live, person)
        # a password handed out by an admin ends the need to activate
        shown = await browser.http.get(path)
        reset = await browser.http.post(f"{path}/reset-password",
                                        data={"csrf": csrf_of(shown.text), "mode": "password"})
        assert reset.status_code == 200
        assert not await is_marked(admin.live, person)
    finally:
        await browser.close()


async def test_marking_is_refused_while_activation_is_off(live_idp: LiveIdp) -> None:
    backend = await mint_admin_backend("local", live_idp)
    refused = await backend.api("POST", "/imports", params={"activate": "true"},
                                content=b"username\nnobody-new\n",
                                headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422 and "IDP_ACTIVATION_FACTS" in refused.text
    assert await live_idp.services.directory.find("nobody-new") is None


async def test_the_api_marks_and_unmarks_one_person(admin: AdminBackend) -> None:
    [person], _ = await intake(admin.live, activate=False)
    assert not await is_marked(admin.live, person)
    done = await admin.ok("PUT", f"/people/{person.username}/to-activate")
    assert done == {"username": person.username, "done": "to_activate"}
    assert (await admin.ok("GET", f"/people/{person.username}"))["state"]["to_activate"] is True
    await admin.ok("DELETE", f"/people/{person.username}/to-activate")
    assert not await is_marked(admin.live, person)
    missing = await admin.api("PUT", "/people/nobody-at-all-x/to-activate")
    assert missing.status_code == 404

"""/activate end to end, on the local directory and slapd, SQLite and PostgreSQL: people the
intake marked prove who they are with the configured facts, choose a password the directory's
policy accepts and a recovery contact, and sign in; the mark is then gone for good."""

from __future__ import annotations

import asyncio
import re
import secrets

import ldap

from tests.activation.conftest import PER_ACCOUNT, PER_IP, STRICT_POLICY, WINDOW
from tests.activation.support import (
    Newcomer,
    Visitor,
    activation_events,
    intake,
    is_marked,
    message,
    signs_in,
)
from tests.support.server import LiveIdp

PASSWORD = "Autumn-leaves-2026!"


async def test_a_marked_newcomer_activates_and_then_signs_in(live: LiveIdp) -> None:
    [person], result = await intake(live)
    assert result.to_activate == [person.username] and not result.passwords
    assert await is_marked(live, person)
    assert not await signs_in(live, person.username, "anything-at-all-1")  # no password yet

    visitor = Visitor(live)
    try:
        # typed as people type: fullwidth digits, stray spaces, the other case
        typed = [" ".join(person.number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))),
                 f" {person.family_name} ", person.given_name.upper()]
        step = await visitor.prove(person.username.upper(), typed)
        assert step.status_code == 200, message(step.text)
        assert person.username in step.text and 'name="ticket"' in step.text
        done = await visitor.choose(step, PASSWORD, email=f"{person.username}@mail.example.cn",
                                    phone="+86 138 0013 8000")
        assert done.status_code == 200, message(done.text)
        assert "Your account is active" in done.text and 'href="/account"' in done.text
    finally:
        await visitor.close()

    assert not await is_marked(live, person)
    assert await signs_in(live, person.username, PASSWORD)
    found = await live.services.directory.find(person.username)
    assert found is not None
    # where the password reset (/account/forgot) finds the address
    assert found.email == f"{person.username}@mail.example.cn"
    assert found.phone == "+86 138 0013 8000"
    outcomes = [event.outcome for event in await activation_events(live, person.username)]
    assert outcomes == ["facts_proven", "success"]


async def test_wrong_facts_and_an_unknown_person_get_one_answer(live: LiveIdp) -> None:
    [person], _ = await intake(live)
    visitor = Visitor(live)
    try:
        wrong = await visitor.prove(person.username, [person.number, "李", person.given_name])
        nobody = await visitor.prove("no-such-student-x", person.facts())
        missing = await visitor.prove(person.username, [person.number, "", person.given_name])
    finally:
        await visitor.close()
    assert wrong.status_code == nobody.status_code == 401
    assert message(wrong.text) == message(nobody.text) != ""
    assert "do not match" in message(wrong.text)
    # the pages differ only in what was typed (and the CSRF token)
    def stripped(page: str, typed: str) -> str:
        return re.sub(r'value="[^"]*"', 'value=""', page.replace(typed, ""))
    assert stripped(wrong.text, person.username) == stripped(nobody.text, "no-such-student-x")
    assert missing.status_code == 400 and "Fill in every field" in message(missing.text)
    assert await is_marked(live, person)
    assert [e.outcome for e in await activation_events(live, person.username)] == ["wrong_facts"]
    assert [e.outcome for e in await activation_events(live, "no-such-student-x")] == ["wrong_facts"]


async def test_after_activation_the_page_refuses_and_points_to_sign_in(live: LiveIdp) -> None:
    [person], _ = await intake(live)
    first, second = Visitor(live), Visitor(live)
    try:
        step_one = await first.prove(person.username, person.facts())
        step_two = await second.prove(person.username, person.facts())  # a second tab, earlier
        assert step_one.status_code == step_two.status_code == 200
        assert (await first.choose(step_one, PASSWORD, email="a@example.cn")).status_code == 200

        late = await second.choose(step_two, "Another-password-99!", email="b@example.cn")
        assert late.status_code == 409
        assert "already active" in message(late.text)
        assert 'href="/account"' in late.text and 'href="/account/forgot"' in late.text
        again = await first.choose(step_one, "Another-password-99!", email="b@example.cn")
        assert again.status_code == 400 and "expired" in again.text  # the ticket is used up
        proof = await first.prove(person.username, person.facts())
        assert proof.status_code == 409 and "already active" in message(proof.text)
    finally:
        await first.close()
        await second.close()
    assert await signs_in(live, person.username, PASSWORD)
    assert not await signs_in(live, person.username, "Another-password-99!")
    assert (await live.services.directory.find(person.username)).email == "a@example.cn"
    assert "not_marked" in [e.outcome for e in await activation_events(live, person.username)]


def _under_strict_policy(live: LiveIdp, person: Newcomer) -> None:
    conn = ldap.initialize(live.slapd.ldap_uri)
    try:
        conn.simple_bind_s(live.slapd.root_dn, live.slapd.root_pw)
        dn = f"uid={person.username},ou=people,{live.slapd.suffix}"
        conn.modify_s(dn, [(ldap.MOD_ADD, "pwdPolicySubentry", [STRICT_POLICY.encode()])])
    finally:
        conn.unbind_s()


async def test_a_password_the_policy_refuses_is_explained_and_the_mark_stays(
        live: LiveIdp) -> None:
    [person], _ = await intake(live)
    if live.slapd is not None:
        _under_strict_policy(live, person)  # pwdMinLength 12, quality checked
        refused = "Short-pw-1"
    else:
        refused = "short"  # the local directory's minimum is 8
    visitor = Visitor(live)
    try:
        step = await visitor.prove(person.username, person.facts())
        answer = await visitor.choose(step, refused, email="p@example.cn")
        assert answer.status_code == 400
        assert "too short" in message(answer.text) or "password policy" in message(answer.text)
        assert 'name="ticket"' in answer.text  # the same step, to try another
        assert await is_marked(live, person)
        assert not await signs_in(live, person.username, refused)

        mismatch = await visitor.choose(step, PASSWORD, email="p@example.cn", confirm="other")
        assert mismatch.status_code == 400 and "same new password twice" in message(mismatch.text)
        no_contact = await visitor.choose(step, PASSWORD)
        assert no_contact.status_code == 400 and "at least one" in message(no_contact.text)
        bad_mail = await visitor.choose(step, PASSWORD, email="not-an-address")
        assert bad_mail.status_code == 400 and "e-mail" in message(bad_mail.text)

        done = await visitor.choose(step, PASSWORD, email="p@example.cn")
        assert done.status_code == 200, message(done.text)
    finally:
        await visitor.close()
    assert await signs_in(live, person.username, PASSWORD)
    assert not await is_marked(live, person)
    outcomes = [e.outcome for e in await activation_events(live, person.username)]
    assert outcomes == ["facts_proven", "rejected", "success"]


async def test_guesses_are_throttled_per_account(live: LiveIdp) -> None:
    [person], _ = await intake(live)
    wrong = [person.number, "王", person.given_name]
    for _ in range(PER_ACCOUNT):  # each from another address: only the account is counted
        visitor = Visitor(live)
        try:
            assert (await visitor.prove(person.username, wrong)).status_code == 401
        finally:
            await visitor.close()
    visitor = Visitor(live)
    try:
        refused = await visitor.prove(person.username, person.facts())  # right, yet refused
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "Too many attempts" in message(refused.text)
        await asyncio.sleep(WINDOW + 0.5)
        assert (await visitor.prove(person.username, person.facts())).status_code == 200
    finally:
        await visitor.close()
    outcomes = [e.outcome for e in await activation_events(live, person.username)]
    assert outcomes.count("wrong_facts") == PER_ACCOUNT and "throttled" in outcomes


async def test_guesses_are_throttled_per_client_address(live: LiveIdp) -> None:
    [person], _ = await intake(live)
    visitor = Visitor(live)
    try:
        for n in range(PER_IP):  # a spray: one guess at each of many accounts
            assert (await visitor.prove(f"spray-{n}-{visitor.ip}", person.facts())
                    ).status_code == 401
        assert (await visitor.prove(person.username, person.facts())).status_code == 429
    finally:
        await visitor.close()
    elsewhere = Visitor(live)
    try:
        assert (await elsewhere.prove(person.username, person.facts())).status_code == 200
    finally:
        await elsewhere.close()


async def test_forms_without_their_csrf_token_are_refused(live: LiveIdp) -> None:
    [person], _ = await intake(live)
    visitor = Visitor(live)
    try:
        forged = await visitor.http.post("/activate", data={
            "username": person.username, "fact_0": person.number, "fact_1": person.family_name,
            "fact_2": person.given_name})
        assert forged.status_code == 403
        step = await visitor.prove(person.username, person.facts())
        ticket = re.search(r'name="ticket" value="([^"]+)"', step.text).group(1)
        other = Visitor(live)  # the ticket is bound to the browser it was issued to
        try:
            page = await other.http.get("/activate")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            stolen = await other.http.post("/activate/password", data={
                "csrf": csrf, "ticket": ticket, "new": PASSWORD, "confirm": PASSWORD,
                "email": "x@example.cn", "ui_locales": "en"})
            assert stolen.status_code == 400 and "expired" in stolen.text
        finally:
            await other.close()
    finally:
        await visitor.close()
    assert await is_marked(live, person)


async def test_the_pages_speak_chinese_and_english(live: LiveIdp) -> None:
    visitor = Visitor(live)
    try:
        zh = await visitor.http.get("/activate?ui_locales=zh")
        en = await visitor.http.get("/activate?ui_locales=en")
    finally:
        await visitor.close()
    assert "激活账号" in zh.text and "学号/工号" in zh.text and "姓" in zh.text
    assert "Activate your account" in en.text and "Family name" in en.text
    assert 'name="viewport"' in zh.text


async def test_the_intake_without_activate_hands_out_passwords_and_marks_nobody(
        live: LiveIdp) -> None:
    [person], result = await intake(live, activate=False)
    assert person.username in result.passwords and not result.to_activate
    assert not await is_marked(live, person)
    assert "to_activate" not in result.result_csv()
    visitor = Visitor(live)
    try:
        answer = await visitor.prove(person.username, person.facts())
    finally:
        await visitor.close()
    assert answer.status_code == 409  # the right facts, but nothing to activate


async def test_a_password_reset_link_ends_the_need_to_activate(live: LiveIdp) -> None:
    from idp.sso import reset_links

    [person], _ = await intake(live)
    found = await live.services.directory.find(person.username)
    link = await reset_links.issue(live.services.store, live.settings.issuer, found, 600,
                                   issued_by="test-admin")
    visitor = Visitor(live)
    try:
        path = link.removeprefix(live.settings.issuer)
        page = await visitor.http.get(path)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        reset = await visitor.http.post(path, data={"csrf": csrf, "new": PASSWORD,
                                                    "confirm": PASSWORD})
        assert reset.status_code == 200, reset.text
        assert not await is_marked(live, person)
        refused = await visitor.prove(person.username, person.facts())
        assert refused.status_code == 409  # nobody who knows the facts may set another
    finally:
        await visitor.close()
    assert await signs_in(live, person.username, PASSWORD)


async def test_a_fact_the_entry_lacks_never_matches_and_the_log_says_which(
        live: LiveIdp) -> None:
    from idp.db.activation import ActivationMarks

    username = f"nogiven{secrets.token_hex(3)}"
    person = await live.services.writer.create_person(username, family_name="周",
                                                      number="2026777777")
    await ActivationMarks(live.services.db).mark(person.subject, person.username)
    visitor = Visitor(live)
    try:
        for guess in ("", "-", "周"):  # nothing typed, nothing left after normalising, a guess
            answer = await visitor.prove(username, ["2026777777", "周", guess])
            assert answer.status_code in (400, 401)
    finally:
        await visitor.close()
    [event] = await activation_events(live, username)
    assert event.outcome == "wrong_facts" and event.detail["no_value_for"] == ["givenName"]

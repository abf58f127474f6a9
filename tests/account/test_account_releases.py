"""/account shows which apps received which of one's information: per app, the claim names as
labels (zh/en) and the last time; only one's own. Real HTTP; embedded and production."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from idp.protocols.cas.registry import create_service
from tests.mfa.browser import Browser, code_of
from tests.mfa.people import new_person
from tests.oauth.flow import REDIRECT, register
from tests.support.server import LiveIdp


def released_apps(page: str) -> list[str]:
    return re.findall(r'data-release="([^"]+)"', page)


def section(page: str) -> str:
    return page[page.index('id="releases"'):]


async def test_the_account_page_lists_what_each_app_received(live: LiveIdp) -> None:
    person = await new_person(live)
    other = await new_person(live)
    hall = await register(live, name="网上办事大厅 (test)", skip_consent=True)
    oa = await create_service(live.services.db, name="OA 办公系统 (test)",
                              services=["https://oa.example.edu/cas"], attributes=["mail"])
    browser = Browser.open(live)
    try:
        page = await browser.http.get("/account")  # signs in through the account's own client
        page = await browser.walk(page, person)
        empty = await browser.http.get("/account", headers={"Accept-Language": "en"})
        assert released_apps(empty.text) == []  # a new person: no app has received anything
        response = await browser.authorize(hall, person, scope="openid profile email")
        async with live.client() as http:
            tokens = await http.post("/token", auth=hall.basic, data={
                "grant_type": "authorization_code", "code": code_of(response),
                "redirect_uri": REDIRECT})
        assert tokens.status_code == 200, tokens.text
        found = await live.services.directory.find(person.username)
        assert found is not None
        # a CAS validation (tests/cas cover the protocol): the record is protocol-neutral
        live.services.releases.record(found.subject, oa.client_id, ["user", "mail"])
        someone_else = await live.services.directory.find(other.username)
        assert someone_else is not None
        live.services.releases.record(someone_else.subject, "not-mine", ["sub", "phone_number"])
        await live.services.releases.flush()

        zh = await browser.http.get("/account", headers={"Accept-Language": "zh-CN"})
        en = await browser.http.get("/account", headers={"Accept-Language": "en"})
    finally:
        await browser.close()

    assert zh.status_code == 200 and en.status_code == 200
    assert "哪些应用获取了我的哪些信息" in zh.text
    assert "Which apps received which of my information" in en.text
    apps = released_apps(en.text)
    assert apps == [oa.client_id, hall.client_id]  # the latest first
    assert "not-mine" not in apps  # only one's own
    hall_part = section(en.text).split(f'data-release="{hall.client_id}"')[1].split("</li>\n")[0]
    assert "网上办事大厅 (test)" in section(en.text)
    assert 'data-claim="email"' in hall_part and 'data-claim="name"' in hall_part
    assert ">full name<" in hall_part and ">account id<" in hall_part
    oa_part = section(zh.text).split(f'data-release="{oa.client_id}"')[1].split("</li>\n")[0]
    assert ">邮箱<" in oa_part and ">用户名<" in oa_part  # CAS names, labelled as well
    assert "OA 办公系统 (test)" in section(zh.text)
    last = re.search(r'data-last="([^"]+)"', oa_part)
    assert last is not None
    when = datetime.strptime(last.group(1), "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 120
    assert "保留 365 天" in section(zh.text)  # the retention the setting says

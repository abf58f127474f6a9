"""Bindings on the person's own account page: listed, removed (theirs only), audited; a removed
binding signs no one in again."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.db.models import AuditEvent
from idp.db.upstream_models import UpstreamBinding
from tests.mfa.browser import Browser, form_field
from tests.mfa.helpers import plain_client
from tests.support.server import LiveIdp
from tests.upstream.binding import bound_person
from tests.upstream.flow import upstream_authorize


async def test_the_account_page_lists_and_removes_the_persons_bindings(live: LiveIdp) -> None:
    person, account, browser = await bound_person(live)
    _, other_account, other = await bound_person(live)
    await other.close()
    try:
        page = await browser.http.get("/account")
        assert page.status_code == 200
        listed = re.findall(r'data-binding="(\d+)"', page.text)
        assert len(listed) == 1 and f"Upstream {account}" in page.text
        assert "合作大学" in page.text
        async with live.services.db() as db:
            theirs = await db.scalar(select(UpstreamBinding.id).where(
                UpstreamBinding.external_id == other_account))
        token = form_field(page.text, "csrf")
        # someone else's binding is not the person's to remove; nor is a form without CSRF
        kept = await browser.http.post("/account/bindings/remove",
                                       data={"csrf": token, "binding": str(theirs)})
        assert kept.status_code == 303
        forged = await browser.http.post("/account/bindings/remove", data={"binding": listed[0]})
        assert forged.status_code == 403
        removed = await browser.http.post("/account/bindings/remove",
                                          data={"csrf": token, "binding": listed[0]})
        assert removed.status_code == 303
        assert removed.headers["location"] == "/account?done=account_binding_removed"
        page = await browser.http.get(removed.headers["location"])
        assert re.findall(r'data-binding="(\d+)"', page.text) == []
    finally:
        await browser.close()
    async with live.services.db() as db:
        left = set(await db.scalars(select(UpstreamBinding.external_id).where(
            UpstreamBinding.external_id.in_([account, other_account]))))
        audited = [e for e in await db.scalars(select(AuditEvent).where(
            AuditEvent.outcome == "unbound_by_person")) if e.actor == person.username]
    assert left == {other_account}
    assert audited and audited[0].detail["upstream_id"] == account

    # the account is unbound again: it signs no one in
    again = Browser.open(live)
    try:
        page = await upstream_authorize(again, await plain_client(live), account)
        assert page.status_code == 200 and 'id="upstream-bind"' in page.text
    finally:
        await again.close()

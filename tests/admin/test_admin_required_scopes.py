"""An app's required scopes (what its consent page will not let a person untick), set through
the admin API and the console, checked against the app's scopes, and audited."""

from __future__ import annotations

from sqlalchemy import select

from idp.db.models import AuditEvent, Client
from tests.admin.console_support import console_browser, form_inputs, post_form
from tests.admin.support import AdminBackend
from tests.oauth.flow import REDIRECT, register


async def test_required_scopes_through_the_admin_api(backend: AdminBackend) -> None:
    client = await register(backend.live, scopes=["openid", "profile", "email", "phone"])
    shown = await backend.ok("GET", f"/clients/{client.client_id}")
    assert shown["required_scopes"] == ["openid"]
    edited = await backend.ok("PATCH", f"/clients/{client.client_id}",
                              json={"required_scopes": ["email", "openid"]})
    assert edited["required_scopes"] == ["openid", "email"]
    outside = await backend.api("PATCH", f"/clients/{client.client_id}",
                                json={"required_scopes": ["groups"]})
    assert outside.status_code == 422
    assert "not one of the app's scopes" in outside.json()["error_description"]
    malformed = await backend.api("PATCH", f"/clients/{client.client_id}",
                                  json={"required_scopes": ["a b"]})
    assert malformed.status_code == 422
    # an app that may no longer ask for a scope no longer requires it
    narrowed = await backend.ok("PATCH", f"/clients/{client.client_id}",
                                json={"scopes": ["openid", "profile"]})
    assert narrowed["required_scopes"] == ["openid"]
    async with backend.services.db() as db:
        edits = (await db.scalars(select(AuditEvent).where(
            AuditEvent.client_id == client.client_id,
            AuditEvent.detail["action"].as_string() == "edit_client"))).all()
    assert any("required_scopes" in (e.detail.get("fields") or []) for e in edits)


async def test_required_scopes_in_the_console(admin_local: AdminBackend) -> None:
    client = await register(admin_local.live, name="图书馆 Library",
                            scopes=["openid", "profile", "email"])
    browser, _ = await console_browser(admin_local)
    path = f"/admin/clients/{client.client_id}"
    try:
        page = await browser.http.get(path)
        inputs = {**form_inputs(page.text, f"{path}/edit"), "redirect_uris": REDIRECT}
        assert inputs["required_scopes"] == ""
        saved = await post_form(browser, path, f"{path}/edit", {
            **inputs, "required_scopes": "openid email"})
        assert saved.status_code == 303, saved.text
        async with admin_local.services.db() as db:
            row = await db.get(Client, client.client_id)
        assert row is not None and row.extra["required_scopes"] == ["email"]
        page = await browser.http.get(path)
        assert form_inputs(page.text, f"{path}/edit")["required_scopes"] == "email"
        refused = await post_form(browser, path, f"{path}/edit", {
            **inputs, "required_scopes": "campus"})
        assert refused.status_code == 422 and "campus" in refused.text
    finally:
        await browser.close()

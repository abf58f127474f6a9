"""CAS services are apps of the same registry: the admin API and the console list them with their
protocol, show their CAS fields, edit them with CAS's rules (and refuse OIDC fields on them), and
a disable is seen by the CAS endpoints at once."""

from __future__ import annotations

from idp.protocols.cas.registry import create_service
from tests.admin.console_support import console_browser, csrf_of
from tests.admin.support import AdminBackend
from tests.cas.conftest import service_url
from tests.cas.flow import cas_login, ticket_of
from tests.oauth.flow import Browser


async def test_the_api_shows_and_edits_a_cas_service(backend: AdminBackend) -> None:
    service = service_url()
    app = await create_service(backend.services.db, name="图书馆 Library", services=[service],
                               attributes=["uid"])
    listed = [c for c in await backend.ok("GET", "/clients") if c["client_id"] == app.client_id]
    assert listed[0]["protocol"] == "cas"
    assert listed[0]["cas"] == {"services": [service], "slo_url": None, "attributes": ["uid"],
                                "proxy_callbacks": []}
    oidc_field = await backend.api("PATCH", f"/clients/{app.client_id}",
                                   json={"redirect_uris": ["https://x.example.edu/cb"]})
    assert oidc_field.status_code == 422 and "CAS service" in oidc_field.json()["error_description"]
    bad = await backend.api("PATCH", f"/clients/{app.client_id}",
                            json={"attributes": ["uid", "password"]})
    assert bad.status_code == 422 and "unknown CAS attribute" in bad.json()["error_description"]
    other = service_url()
    edited = await backend.ok("PATCH", f"/clients/{app.client_id}", json={
        "services": [other], "slo_url": "https://library.example.edu/slo",
        "attributes": ["uid", "mail"]})
    assert edited["cas"]["services"] == [other]
    assert edited["cas"]["slo_url"] == "https://library.example.edu/slo"
    # the CAS endpoints see it at once: the new service signs in, the old one is unknown
    browser = Browser.open(backend.live)
    try:
        ticket_of(await cas_login(browser, other), other)
        assert (await browser.http.get("/cas/login", params={"service": service})
                ).status_code == 403
        await backend.ok("POST", f"/clients/{app.client_id}/disable")
        assert (await browser.http.get("/cas/login", params={"service": other})
                ).status_code == 403
    finally:
        await browser.close()


async def test_the_console_shows_and_edits_a_cas_service(backend: AdminBackend) -> None:
    service = service_url()
    app = await create_service(backend.services.db, name="财务系统 Finance", services=[service])
    browser, _ = await console_browser(backend)
    try:
        listing = await browser.http.get("/admin/clients")
        assert "财务系统 Finance" in listing.text and ">CAS<" in listing.text
        page = await browser.http.get(f"/admin/clients/{app.client_id}")
        assert page.status_code == 200
        assert service in page.text and f"{backend.live.base_url}/cas" in page.text
        assert 'name="redirect_uris"' not in page.text
        moved = service_url()
        saved = await browser.http.post(f"/admin/clients/{app.client_id}/edit", data={
            "csrf": csrf_of(page.text), "protocol": "cas", "name": "财务系统 Finance",
            "services": moved, "slo_url": "", "attributes": "uid cn", "proxy_callbacks": ""})
        assert saved.status_code == 303, saved.text[:500]
        shown = await browser.http.get(f"/admin/clients/{app.client_id}")
        assert moved in shown.text and service not in shown.text
    finally:
        await browser.close()


async def test_the_api_sets_an_access_rule_on_either_protocol(backend: AdminBackend) -> None:
    service = service_url()
    app = await create_service(backend.services.db, name="宿舍报修 Repairs", services=[service])
    edited = await backend.ok("PATCH", f"/clients/{app.client_id}",
                              json={"allow_groups": ["idp-admins"]})
    assert edited["access"] == {"groups": ["idp-admins"], "affiliations": []}
    browser = Browser.open(backend.live)
    try:
        refused = await cas_login(browser, service)  # the student: not an admin
        assert refused.status_code == 403
        cleared = await backend.ok("PATCH", f"/clients/{app.client_id}",
                                   json={"allow_groups": []})
        assert cleared["access"] == {"groups": [], "affiliations": []}
        ticket_of(await browser.http.get("/cas/login", params={"service": service}), service)
    finally:
        await browser.close()
    bad = await backend.api("PATCH", f"/clients/{app.client_id}", json={"allow_groups": [" "]})
    assert bad.status_code == 422

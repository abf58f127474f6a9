"""hypothesis over the CAS endpoints: /cas/login (service, renew, gateway, method), every
validation endpoint (service, ticket, pgtUrl, renew, format), /cas/proxy and /cas/logout, with
real tickets of a registered service mixed with junk. Zero 500s, and a refused request changes
no stored record."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.protocols.cas.registry import create_service
from tests.fuzz.checks import BUDGET, check
from tests.fuzz.forms import XFF, bodies, send
from tests.fuzz.server import FuzzServer

SETTINGS = settings(**BUDGET, suppress_health_check=list(HealthCheck))
SERVICE = "https://fuzz-cas.example.edu/app"
VALIDATION = ["/cas/validate", "/cas/serviceValidate", "/cas/proxyValidate",
              "/cas/p3/serviceValidate", "/cas/p3/proxyValidate"]


def _registered(server: FuzzServer) -> None:
    assert server.services is not None
    if not getattr(server, "cas_registered", False):
        server.run(create_service(server.services.db, name="Fuzz CAS", services=[SERVICE],
                                  proxy_callbacks=["https://fuzz-cas.example.edu/pgt"]))
        server.cas_registered = True  # type: ignore[attr-defined]


@SETTINGS
@given(data=st.data())
def test_cas_login(fuzz_server: FuzzServer, client: httpx.Client, data: st.DataObject) -> None:
    _registered(fuzz_server)
    method = data.draw(st.sampled_from(["GET", "POST"]))
    body = data.draw(bodies(["service", "renew", "gateway", "method", "warn"], SERVICE,
                            "true", "false", "POST", "HEADER", "GET", SERVICE + "?x=1"))
    before = fuzz_server.snapshot()
    response = send(client, method, "/cas/login", body, {"x-forwarded-for": data.draw(XFF)})
    check(fuzz_server, before, f"{method} /cas/login", response.status_code, response.text)
    if response.status_code in (302, 303):
        # never a redirect anywhere but the registered service or our own pages
        location = response.headers["location"]
        assert location.startswith((SERVICE, "/")), location


@SETTINGS
@given(data=st.data())
def test_cas_validation(fuzz_server: FuzzServer, client: httpx.Client,
                        data: st.DataObject) -> None:
    _registered(fuzz_server)
    path = data.draw(st.sampled_from([*VALIDATION, "/cas/proxy", "/cas/logout"]))
    body = data.draw(bodies(["service", "ticket", "pgtUrl", "renew", "format", "pgt",
                             "targetService", "url"],
                            SERVICE, "ST-" + "a" * 48, "PT-" + "b" * 48, "PGT-" + "c" * 48,
                            "JSON", "XML", "https://fuzz-cas.example.edu/pgt", "true"))
    before = fuzz_server.snapshot()
    response = send(client, "GET", path, body, {})
    check(fuzz_server, before, f"GET {path}", response.status_code, response.text)
    if path in VALIDATION:
        assert response.status_code == 200, response.text[:300]
        assert "authenticationSuccess" not in response.text and not response.text.startswith(
            "yes")  # nobody signed in: no ticket of these can be valid

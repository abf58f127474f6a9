"""CAS proxying (CAS Protocol 3.0 §2.5.4, §2.6, §2.7): a service validates with pgtUrl, its
https callback (a real TLS server whose certificate a test CA signed; the IdP trusts that CA
through IDP_CAS_PROXY_CA_FILE) receives the PGT, the service gets proxy tickets for a back-end
service, which validates them with proxyValidate and sees the chain. Every refusal the spec
names: UNAUTHORIZED_SERVICE_PROXY, INVALID_PROXY_CALLBACK (not https, untrusted certificate, an
answer that is not 200), and the PGT dies with the SSO session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.settings import CasSettings
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of, validate
from tests.cas.test_cas_protocol import NS, document, failure_code
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp, _listen, serve_app, start_idp


@dataclass
class Callback:
    """The proxying service's https callback: records the PGTs it is handed."""

    base_url: str
    received: dict[str, str] = field(default_factory=dict)  # pgtIou -> pgtId


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
async def callback(ca: trustme.CA) -> AsyncIterator[Callback]:
    sock = _listen()
    found = Callback(f"https://127.0.0.1:{sock.getsockname()[1]}")

    async def pgt(request: Request) -> Response:
        iou, pgt_id = request.query_params.get("pgtIou"), request.query_params.get("pgtId")
        if iou and pgt_id:
            found.received[iou] = pgt_id
        return Response("ok", status_code=404 if request.url.path == "/missing" else 200)

    app = Starlette(routes=[Route("/pgt", pgt), Route("/missing", pgt)])
    server_cert = ca.issue_cert("127.0.0.1")
    with server_cert.cert_chain_pems[0].tempfile() as cert, \
            server_cert.private_key_pem.tempfile() as key:
        config_ssl = {"ssl_certfile": cert, "ssl_keyfile": key}
        server, task = await serve_app(app, sock, lifespan="off", **config_ssl)
        yield found
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def proxying_idp(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[LiveIdp]:
    root = tmp_path_factory.mktemp("cas-proxy")
    ca_file = root / "campus-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                           directory="local", redis_url=None, seed=True,
                           cas=CasSettings(proxy_ca_file=str(ca_file)))
    yield live
    await live.stop()


@pytest.fixture
async def browser(proxying_idp: LiveIdp) -> AsyncIterator[Browser]:
    opened = Browser.open(proxying_idp)
    yield opened
    await opened.close()


async def _proxy_ticket(browser: Browser, pgt: str, target: str) -> str:
    async with browser.live.client() as http:
        answer = await http.get("/cas/proxy", params={"pgt": pgt, "targetService": target})
    root = document(answer.text)
    ticket = root.xpath("string(//cas:proxyTicket)", namespaces=NS)
    assert ticket.startswith("PT-"), answer.text
    return ticket


async def test_proxy_chain(proxying_idp: LiveIdp, browser: Browser, callback: Callback) -> None:
    portal, backend = service_url(), service_url()
    pgt_url = f"{callback.base_url}/pgt"
    await register_cas(proxying_idp, portal, proxy_callbacks=[pgt_url])
    await register_cas(proxying_idp, backend, attributes=["uid"])
    ticket = ticket_of(await cas_login(browser, portal), portal)
    answer = await validate(browser, "p3/serviceValidate", portal, ticket, pgtUrl=pgt_url)
    root = document(answer.text)
    iou = root.xpath("string(//cas:proxyGrantingTicket)", namespaces=NS)
    assert iou.startswith("PGTIOU-") and iou in callback.received
    pgt = callback.received[iou]
    assert pgt.startswith("PGT-") and pgt not in answer.text  # only the IOU travels back
    proxy_ticket = await _proxy_ticket(browser, pgt, backend)
    # a proxy ticket is refused where only service tickets are accepted...
    assert failure_code((await validate(browser, "p3/serviceValidate", backend,
                                        proxy_ticket)).text) == "INVALID_TICKET_SPEC"
    proxy_ticket = await _proxy_ticket(browser, pgt, backend)
    # ...and validates at proxyValidate, naming who proxied
    root = document((await validate(browser, "p3/proxyValidate", backend, proxy_ticket)).text)
    assert root.xpath("string(//cas:user)", namespaces=NS) == "student"
    assert root.xpath("//cas:proxies/cas:proxy/text()", namespaces=NS) == [pgt_url]
    as_json = await validate(browser, "proxyValidate", backend,
                             await _proxy_ticket(browser, pgt, backend), format="JSON")
    assert as_json.json()["serviceResponse"]["authenticationSuccess"]["proxies"] == [pgt_url]
    # the PGT dies with the SSO session
    await browser.http.get("/cas/logout")
    async with proxying_idp.client() as http:
        dead = await http.get("/cas/proxy", params={"pgt": pgt, "targetService": backend})
    assert etree.fromstring(dead.content).xpath("//cas:proxyFailure/@code",
                                                namespaces=NS) == ["INVALID_TICKET"]


async def test_proxy_refusals(proxying_idp: LiveIdp, browser: Browser,
                              callback: Callback, tmp_path: Path) -> None:
    portal = service_url()
    await register_cas(proxying_idp, portal, proxy_callbacks=[
        f"{callback.base_url}/pgt", f"{callback.base_url}/missing",
        "https://untrusted.example.edu/pgt"])
    unregistered_callback_service = service_url()
    await register_cas(proxying_idp, unregistered_callback_service)

    async def code_for(service: str, pgt_url: str) -> str:
        ticket = ticket_of(await browser.http.get("/cas/login", params={"service": service})
                           if browser.http.cookies else await cas_login(browser, service),
                           service)
        return failure_code((await validate(browser, "serviceValidate", service, ticket,
                                            pgtUrl=pgt_url)).text)

    assert await code_for(unregistered_callback_service,
                          f"{callback.base_url}/pgt") == "UNAUTHORIZED_SERVICE_PROXY"
    assert await code_for(portal, f"{callback.base_url}/missing") == "INVALID_PROXY_CALLBACK"
    # an https server whose certificate no trusted CA signed
    rogue = trustme.CA().issue_cert("127.0.0.1")
    sock = _listen()
    with rogue.cert_chain_pems[0].tempfile() as cert, rogue.private_key_pem.tempfile() as key:
        server, task = await serve_app(Starlette(routes=[Route("/pgt", lambda r: Response())]),
                                       sock, lifespan="off", ssl_certfile=cert, ssl_keyfile=key)
        try:
            rogue_url = f"https://127.0.0.1:{sock.getsockname()[1]}/pgt"
            await register_cas(proxying_idp, (other := service_url()), proxy_callbacks=[rogue_url])
            assert await code_for(other, rogue_url) == "INVALID_PROXY_CALLBACK"
        finally:
            server.should_exit = True
            await task
    plain = service_url()
    await register_cas(proxying_idp, plain, proxy_callbacks=[r"^http://127\.0\.0\.1:.*$"])
    assert await code_for(plain, "http://127.0.0.1:9/pgt") == "INVALID_PROXY_CALLBACK"


async def test_proxy_needs_both_parameters_and_a_registered_target(
        proxying_idp: LiveIdp, browser: Browser) -> None:
    async with proxying_idp.client() as http:
        missing = await http.get("/cas/proxy", params={"pgt": "PGT-x"})
        unknown = await http.get("/cas/proxy", params={"pgt": "PGT-" + "a" * 40,
                                                       "targetService": service_url()})
    assert etree.fromstring(missing.content).xpath(
        "//cas:proxyFailure/@code", namespaces=NS) == ["INVALID_REQUEST"]
    assert etree.fromstring(unknown.content).xpath(
        "//cas:proxyFailure/@code", namespaces=NS) == ["INVALID_TICKET"]

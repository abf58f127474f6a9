"""The OpenID Connect connector's checks (OIDC Core §3.1.3.7, Discovery §4.3) on real ID tokens
of the real provider (oidc-provider), and on providers that cannot be reached or lie about
their issuer (real sockets: a closed port, a server that names another issuer)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from idp.settings import UpstreamProvider
from idp.upstream.base import UpstreamError, UpstreamUnavailable
from idp.upstream.oidc import OidcConnector
from tests.mfa.browser import Browser
from tests.support.server import LiveIdp
from tests.upstream.binding import upstream_login
from tests.upstream.conftest import CLIENT_ID, UPSTREAM
from tests.upstream.flow import through_provider
from tests.upstream.provider import OpenIdProvider, free_port


async def real_id_token(live: LiveIdp) -> tuple[OidcConnector, str, str]:
    """(the connector, an ID token the provider issued to it, the nonce it carries)."""
    connector = live.services.upstreams.get(UPSTREAM)
    assert isinstance(connector, OidcConnector)
    trip = await live.services.upstreams.trips.start(
        provider=UPSTREAM, signin_id="test", browser="test",
        redirect_uri=f"{live.base_url}/upstream/{UPSTREAM}/callback")
    url = await connector.authorization_url(trip.round_trip)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] == [trip.nonce]
    browser = Browser.open(live)
    try:
        back = await through_provider(browser, await browser.http.get(url), upstream_login())
    finally:
        await browser.close()
    code = parse_qs(urlsplit(back).query)["code"][0]
    async with connector._oauth(trip.round_trip) as oauth:
        token = await oauth.fetch_token((await connector.metadata())["token_endpoint"],
                                        code=code, code_verifier=trip.code_verifier)
    return connector, token["id_token"], trip.nonce


async def test_id_token_checks(live: LiveIdp, provider: OpenIdProvider) -> None:
    connector, id_token, nonce = await real_id_token(live)
    claims = await connector.verify_id_token(id_token, nonce)
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID
    with pytest.raises(UpstreamError):
        await connector.verify_id_token(id_token, "another-nonce")
    # signed for another client
    other = OidcConnector(connector.config.model_copy(update={"client_id": "someone-else"}))
    with pytest.raises(UpstreamError):
        await other.verify_id_token(id_token, nonce)
    # a changed payload no longer matches the signature
    header, payload, signature = id_token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    forged = base64.urlsafe_b64decode(padded).replace(b'"sub":"', b'"sub":"x')
    forged_payload = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(UpstreamError):
        await connector.verify_id_token(f"{header}.{forged_payload}.{signature}", nonce)
    # unsigned
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(UpstreamError):
        await connector.verify_id_token(f"{none_header}.{payload}.", nonce)


def _config(issuer: str) -> UpstreamProvider:
    return UpstreamProvider(name="x", kind="oidc", issuer=issuer, client_id="c",
                            client_secret=SecretStr("s"), timeout=2)


async def test_a_provider_that_cannot_be_reached_is_unavailable() -> None:
    connector = OidcConnector(_config(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(UpstreamUnavailable):
        await connector.metadata()


async def test_a_provider_that_names_another_issuer_is_refused(provider: OpenIdProvider) -> None:
    # the real provider's discovery document, asked for under a name it does not answer to
    lying = OidcConnector(_config(provider.issuer.replace("127.0.0.1", "localhost")))
    with pytest.raises(UpstreamError) as refused:
        await lying.metadata()
    assert not isinstance(refused.value, UpstreamUnavailable)

"""What every connector is: where the browser goes, and what its code proves."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import httpx

from idp.settings import UpstreamProvider


@dataclass(frozen=True, slots=True)
class UpstreamAccount:
    """An account an upstream provider vouched for: `external_id` in the account space
    `issuer` (see idp/db/upstream_models.py)."""

    provider: str
    issuer: str
    external_id: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """What one trip to the provider carries and must come back with."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    silent: bool = False  # in-app sign-in without a page (WeCom, DingTalk, WeChat snsapi_base)


class UpstreamError(Exception):
    """The provider refused, or its answer does not prove an account (a readable 400 page)."""


class UpstreamUnavailable(UpstreamError):
    """The provider could not be reached or answered with a server error (a 503 page)."""


class Connector(ABC):
    """One configured provider."""

    def __init__(self, config: UpstreamProvider) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def issuer(self) -> str:
        """The account space of this provider's ids (UpstreamAccount.issuer)."""
        return self.config.issuer

    @property
    def in_app_marker(self) -> str | None:
        """What the User-Agent of the provider's own app browser contains (WeCom, DingTalk,
        WeChat): there the sign-in may start without the login page (config.silent)."""
        return None

    def in_app(self, user_agent: str) -> bool:
        marker = self.in_app_marker
        return marker is not None and marker.lower() in user_agent.lower()

    @property
    def browser_sign_in(self) -> bool:
        """Whether the login page may offer a button (the mini-program's sign-in has no page)."""
        return True

    def offered(self, user_agent: str) -> bool:
        """Whether this browser gets the button (WeChat's official account works only inside
        WeChat; its website QR sign-in only outside)."""
        return True

    @abstractmethod
    async def authorization_url(self, trip: RoundTrip) -> str:
        """Where the browser goes to sign in at the provider."""

    @abstractmethod
    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        """The account the provider's code stands for; UpstreamError when it proves none."""

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.config.timeout, follow_redirects=False)


async def get_json(http: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> dict:
    """One call to a provider's API: its JSON object, UpstreamUnavailable for a network or
    server error, UpstreamError for anything that is not a JSON object."""
    try:
        response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"{url}: HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(f"{url}: HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamError(f"{url}: not a JSON object")
    if response.status_code >= 400:
        raise UpstreamError(f"{url}: HTTP {response.status_code} {str(body)[:200]}")
    return body

"""What each case needs before wrk starts, obtained the way a relying party would: clients
(`idp clients add` for campus-idp, static metadata for the peer), an SSO session signed in
through the server's own pages, tokens from real code flows."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from bench.stack import Server

REDIRECT_URI = "https://rp.example.edu/callback"
RESOURCE_RS256 = "https://api.example.edu/rs256"
RESOURCE_ES256 = "https://api.example.edu/es256"
API_SCOPE = "api:read"
# the code flow and refresh cases ask both servers for an RFC 9068 JWT access token for a
# resource (RS256) beside the ID token: two signatures each. Without a resource the peer issues
# an opaque access token (one signature), campus-idp a JWT for its userinfo endpoint (two).
FLOW_RESOURCE = RESOURCE_RS256
FLOW_SCOPE = f"openid profile {API_SCOPE}"
SIGN_IN_AS = ("student", "student123")  # a demo person of directory/demo.ldif
VERIFIER = "bench-pkce-verifier-" + "x" * 40  # one verifier for every flow: PKCE still checked
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Credentials:
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass
class Clients:
    machine: Credentials  # client_credentials only
    web: Credentials  # authorization_code + refresh_token, RS256 ID tokens, no consent page


def peer_clients() -> tuple[Clients, list[dict[str, Any]]]:
    """Client ids and secrets for the peer, and the metadata its configuration takes."""
    clients = Clients(Credentials("bench-machine", secrets.token_urlsafe(32)),
                      Credentials("bench-web", secrets.token_urlsafe(32)))
    metadata = [
        {"client_id": clients.machine.client_id, "client_secret": clients.machine.secret,
         "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
         "token_endpoint_auth_method": "client_secret_basic"},
        {"client_id": clients.web.client_id, "client_secret": clients.web.secret,
         "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
         "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic",
         "id_token_signed_response_alg": "RS256"},
    ]
    return clients, metadata


CAS_SERVICE = "https://cas-app.example.edu/login"


def register_cas_service(server: Server) -> str:
    """A CAS service for the ticket validation case; returns its service URL."""
    server.idp("clients", "add", "--protocol", "cas", "--name", "bench CAS app",
               "--service", CAS_SERVICE, "--attribute", "uid", "--attribute", "cn",
               "--attribute", "memberOf", "--json")
    return CAS_SERVICE


def register_idp_clients(server: Server) -> Clients:
    # `idp clients add` insists on a redirect URI even for a client_credentials-only client
    machine = server.idp("clients", "add", "--name", "bench machine", "--redirect-uri",
                         REDIRECT_URI, "--grant-type", "client_credentials", "--scope", API_SCOPE,
                         "--json")
    web = server.idp("clients", "add", "--name", "bench web", "--redirect-uri", REDIRECT_URI,
                     "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                     "--scope", "openid", "--scope", "profile", "--scope", "email",
                     "--scope", "offline_access", "--scope", API_SCOPE, "--skip-consent", "--json")
    return Clients(Credentials(machine["client_id"], machine["client_secret"]),
                   Credentials(web["client_id"], web["client_secret"]))


@dataclass
class Endpoints:
    issuer: str
    authorization: str
    token: str
    userinfo: str
    introspection: str
    jwks: str

    @staticmethod
    def discover(base_url: str) -> Endpoints:
        meta = httpx.get(base_url + "/.well-known/openid-configuration", timeout=10).json()

        def path(key: str) -> str:
            return urlsplit(meta[key]).path

        return Endpoints(meta["issuer"], path("authorization_endpoint"), path("token_endpoint"),
                         path("userinfo_endpoint"), path("introspection_endpoint"),
                         path("jwks_uri"))


def authorize_query(clients: Clients, scope: str, **extra: str) -> str:
    return urlencode({"response_type": "code", "client_id": clients.web.client_id,
                      "redirect_uri": REDIRECT_URI, "scope": scope, "state": "bench-state",
                      "nonce": "bench-nonce", "code_challenge": CHALLENGE,
                      "code_challenge_method": "S256", **extra})


class Browser:
    """One person's browser at one server: follows the server's redirects, fills campus-idp's
    login form (the peer's interaction pages sign in by themselves), stops at the client."""

    def __init__(self, server: Server, endpoints: Endpoints, clients: Clients) -> None:
        self.server, self.endpoints, self.clients = server, endpoints, clients
        self.http = httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def session_cookie(self) -> str:
        """The Cookie header a signed-in browser sends to the authorization endpoint."""
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar
                         if c.path in ("/", "") and "csrf" not in c.name)

    def code(self, scope: str, **extra: str) -> str:
        url = f"{self.endpoints.authorization}?{authorize_query(self.clients, scope, **extra)}"
        response = self.http.get(url)
        for _ in range(12):
            location = response.headers.get("location")
            if response.status_code not in (302, 303) or not location:
                raise RuntimeError(f"{self.server.name}: authorization stopped at "
                                   f"{response.status_code}: {response.text[:300]}")
            if location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                if "code" not in query:
                    raise RuntimeError(f"{self.server.name}: no code in {location}")
                return query["code"][0]
            target = urljoin(self.server.base_url + "/", location)
            if urlsplit(target).path.startswith("/login/"):
                response = self._login(target)
            else:
                response = self.http.get(target)
        raise RuntimeError(f"{self.server.name}: too many redirects")

    def _login(self, url: str) -> httpx.Response:
        page = self.http.get(url)
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if page.status_code != 200 or match is None:
            raise RuntimeError(f"login page without a CSRF field ({page.status_code})")
        username, password = SIGN_IN_AS
        return self.http.post(url, data={"csrf": match.group(1), "username": username,
                                         "password": password})

    def tokens(self, scope: str, **extra: str) -> dict[str, Any]:
        code = self.code(scope, **extra)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                "code_verifier": VERIFIER}
        if "resource" in extra:
            data["resource"] = extra["resource"]
        response = self.http.post(self.endpoints.token, data=data,
                                  headers={"Authorization": self.clients.web.basic})
        if response.status_code != 200:
            raise RuntimeError(f"{self.server.name}: token {response.status_code} {response.text}")
        return response.json()

    def flow_tokens(self, scope: str) -> dict[str, Any]:
        """Tokens of a code flow for FLOW_RESOURCE, checked to be what the case compares: a JWT
        access token (two signatures with the ID token), on either server."""
        tokens = self.tokens(scope, resource=FLOW_RESOURCE, **self._consent())
        if str(tokens.get("access_token", "")).count(".") != 2 or "id_token" not in tokens:
            raise RuntimeError(f"{self.server.name}: no JWT access token and ID token for "
                               f"{FLOW_RESOURCE}: {tokens}")
        return tokens

    def _consent(self) -> dict[str, str]:
        # the peer keeps offline_access only with prompt=consent (OIDC Core §11); campus-idp's
        # bench client skips consent
        return {"prompt": "consent"} if self.server.name == "peer" else {}

    def refresh_tokens(self, count: int) -> list[str]:
        """`count` fresh refresh-token families (the peer keeps offline_access only with
        prompt=consent, OIDC Core §11; campus-idp's bench client skips consent)."""
        found = [self.flow_tokens(f"{FLOW_SCOPE} offline_access").get("refresh_token")
                 for _ in range(count)]
        if not all(found):
            raise RuntimeError(f"{self.server.name}: no refresh token issued")
        return [str(token) for token in found]

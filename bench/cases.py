"""The measured cases, as wrk loads for one server. The same script and parameters run against
both servers; only paths, credentials and tokens differ (each server's own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.setup import (
    API_SCOPE,
    FLOW_RESOURCE,
    FLOW_SCOPE,
    RESOURCE_ES256,
    RESOURCE_RS256,
    VERIFIER,
    Browser,
    Clients,
    Endpoints,
    authorize_query,
)
from bench.wrk import Load


@dataclass
class Target:
    """A server ready for load: its endpoints, clients and a signed-in browser."""

    name: str
    base_url: str
    endpoints: Endpoints
    clients: Clients
    browser: Browser
    connections: int


def _static(target: Target, path: str, *, method: str = "GET", body: str | None = None,
            auth: str | None = None, expect: str | None = None) -> Load:
    env = {"BENCH_PATH": path, "BENCH_METHOD": method}
    if body is not None:
        env["BENCH_BODY"] = body
    if auth is not None:
        env["BENCH_AUTH"] = auth
    if expect is not None:
        env["BENCH_EXPECT"] = expect
    n = target.connections
    return Load(target.base_url, "static.lua", env, threads=n, connections=n)


def discovery(target: Target) -> Load:
    return _static(target, "/.well-known/openid-configuration", expect='"issuer"')


def jwks(target: Target) -> Load:
    return _static(target, target.endpoints.jwks, expect='"keys"')


def _client_credentials(target: Target, resource: str) -> Load:
    body = f"grant_type=client_credentials&scope={API_SCOPE}&resource={resource}"
    return _static(target, target.endpoints.token, method="POST", body=body,
                   auth=target.clients.machine.basic, expect='"access_token"')


def client_credentials_rs256(target: Target) -> Load:
    return _client_credentials(target, RESOURCE_RS256)


def client_credentials_es256(target: Target) -> Load:
    return _client_credentials(target, RESOURCE_ES256)


def refresh(target: Target) -> Load:
    n = target.connections
    tokens = target.browser.refresh_tokens(n)  # fresh families for every run: each rotates
    env = {"BENCH_PATH": target.endpoints.token, "BENCH_AUTH": target.clients.web.basic,
           "BENCH_TOKENS": " ".join(tokens), "BENCH_TOKEN_EXTRA": f"&resource={FLOW_RESOURCE}"}
    return Load(target.base_url, "refresh.lua", env, threads=n, connections=n)


def _user_access_token(target: Target) -> str:
    return str(target.browser.tokens("openid profile")["access_token"])


def introspection(target: Target) -> Load:
    body = f"token={_user_access_token(target)}"
    return _static(target, target.endpoints.introspection, method="POST", body=body,
                   auth=target.clients.web.basic, expect='"active":true')


def userinfo(target: Target) -> Load:
    return _static(target, target.endpoints.userinfo,
                   auth=f"Bearer {_user_access_token(target)}", expect='"sub"')


def code_flow(target: Target) -> Load:
    # make sure the SSO session exists (signs in once) and, at the peer, that the grant holds
    # the resource's scope (its consent interaction, once)
    target.browser.flow_tokens(FLOW_SCOPE)
    query = authorize_query(target.clients, FLOW_SCOPE, resource=FLOW_RESOURCE)
    env = {"BENCH_AUTHORIZE": f"{target.endpoints.authorization}?{query}",
           "BENCH_COOKIE": target.browser.session_cookie(),
           "BENCH_AUTH": target.clients.web.basic, "BENCH_PATH": target.endpoints.token,
           "BENCH_REDIRECT_URI": "https://rp.example.edu/callback", "BENCH_VERIFIER": VERIFIER,
           "BENCH_TOKEN_EXTRA": f"&resource={FLOW_RESOURCE}"}
    n = target.connections
    return Load(target.base_url, "codeflow.lua", env, threads=n, connections=n,
                requests_per_unit=2)


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    unit: str  # what the per-second figure counts
    load: Callable[[Target], Load]


CASES = (
    Case("discovery", "discovery", "req", discovery),
    Case("jwks", "JWKS", "req", jwks),
    Case("client_credentials_rs256", "client_credentials RS256", "tokens", client_credentials_rs256),
    Case("client_credentials_es256", "client_credentials ES256", "tokens", client_credentials_es256),
    Case("refresh", "refresh_token (rotating)", "tokens", refresh),
    Case("introspection", "introspection", "req", introspection),
    Case("userinfo", "userinfo", "req", userinfo),
    Case("code_flow", "code flow with SSO session", "flows", code_flow),
)

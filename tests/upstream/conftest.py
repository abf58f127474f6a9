"""Fixtures for the upstream-account tests: campus-idp on the embedded defaults and on slapd +
Redis + PostgreSQL, each configured with a real OpenID provider (oidc-provider, provider.py)
as the upstream "uni"."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import LiveIdp, start_idp
from tests.upstream.platforms import StandIn, platform_settings, start_stand_in
from tests.upstream.provider import OpenIdProvider, free_port, start_provider

UPSTREAM = "uni"
CLIENT_ID = "campus-idp"
CLIENT_SECRET = secrets.token_urlsafe(24)


def upstream_settings(op_issuer: str, **more: Any) -> dict[str, Any]:
    return {"providers": [UPSTREAM, *more.pop("providers", [])], f"{UPSTREAM}_kind": "oidc",
            f"{UPSTREAM}_issuer": op_issuer, f"{UPSTREAM}_client_id": CLIENT_ID,
            f"{UPSTREAM}_client_secret": CLIENT_SECRET, f"{UPSTREAM}_scope": "openid profile",
            f"{UPSTREAM}_label": "Partner University", f"{UPSTREAM}_label_zh": "合作大学", **more}


async def _start(kind: str, root: Path, request: pytest.FixtureRequest, stand_in: StandIn,
                 ) -> tuple[LiveIdp, OpenIdProvider, str | None]:
    op_port = free_port()
    upstream = upstream_settings(
        f"http://127.0.0.1:{op_port}", **platform_settings(stand_in.base_url),
        providers=["wecom", "dingtalk", "wechat", "wechatweb", "wechatmini"])
    database = None
    if kind == "embedded":
        live = await start_idp(database_url=f"sqlite:///{root}/idp.db", keys_dir=root / "keys",
                               directory="local", redis_url=None, seed=True, upstream=upstream)
    else:
        from tests.support.databases import create_postgres_database
        from tests.support.redis import unique_prefix
        from tests.support.slapd import ldap_settings

        campus = request.getfixturevalue("campus_slapd")
        database = await create_postgres_database()
        live = await start_idp(
            database_url=database, redis_url="redis://127.0.0.1:6379/0",
            redis_prefix=unique_prefix(), directory="ldap", keys_dir=root / "keys",
            # the admin bind: the bulk binding finds people by number through the admin search
            ldap=ldap_settings(campus.server, person_cache_seconds=1,
                               admin_bind_dn=campus.server.root_dn,
                               admin_bind_password=campus.server.root_pw).model_dump(),
            upstream=upstream)
        live.slapd = campus.server
    provider = await start_provider(op_port, [{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{live.base_url}/upstream/{UPSTREAM}/callback"],
        "grant_types": ["authorization_code"], "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic"}])
    return live, provider, database


@pytest.fixture(scope="session")
async def stand_in() -> AsyncIterator[StandIn]:
    """The stand-in for WeCom's and DingTalk's servers (platforms.py: not the real services)."""
    found, (server, task) = await start_stand_in()  # type: ignore[misc]
    yield found
    server.should_exit = True
    await task


@pytest.fixture(scope="module", params=["embedded", "production"])
async def upstream_idp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                       stand_in: StandIn) -> AsyncIterator[tuple[LiveIdp, OpenIdProvider]]:
    """(campus-idp, the upstream OpenID provider it trusts as "uni"); it also trusts the
    stand-in's WeCom and DingTalk."""
    live, provider, database = await _start(request.param, tmp_path_factory.mktemp("upstream"),
                                            request, stand_in)
    yield live, provider
    await provider.stop()
    if database is not None:
        for key in await live.services.store.keys(""):
            await live.services.store.delete(key)
    await live.stop()
    if database is not None:
        from tests.support.databases import drop_postgres_database

        await drop_postgres_database(database)


@pytest.fixture
def live(upstream_idp: tuple[LiveIdp, OpenIdProvider]) -> LiveIdp:
    return upstream_idp[0]


@pytest.fixture
def provider(upstream_idp: tuple[LiveIdp, OpenIdProvider]) -> OpenIdProvider:
    return upstream_idp[1]

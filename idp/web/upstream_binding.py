"""Binding an upstream account at the end of a campus-password sign-in.

When an upstream account that no one has bound yet comes back (idp/web/upstream.py), the
sign-in remembers it (signin.extra[BIND]) and the login page asks for the campus password once.
`finish_login` calls `bind_pending` when that password (and the second factor, where one is
asked) has been proven: only then is the account bound to the person who proved it.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from directory.base import Person
from idp.sso.cookie import client_ip
from idp.sso.signins import PendingSignIn
from idp.upstream.base import UpstreamAccount
from idp.upstream.bindings import AlreadyBound
from idp.web import csrf, upstream_text  # noqa: F401  (upstream_text: the page's strings)

if TYPE_CHECKING:
    from idp.services import Services

BIND = "upstream_bind"  # the signin.extra key of the account waiting for its binding
NOTICE = "upstream_notice"  # a message the login page shows once (a catalogue key)
TRIED = "upstream_tried"  # the in-app sign-in has been tried once for this sign-in


def remember(signin: PendingSignIn, account: UpstreamAccount, browser: str) -> None:
    """Keep the account for the binding, with the browser that signed in upstream (its CSRF
    cookie): only that browser's password binds it. Otherwise someone could sign in upstream
    with their own account and send the login page's link to a victim, whose password would
    bind the attacker's account to the victim's entry."""
    signin.extra[BIND] = {"provider": account.provider, "issuer": account.issuer,
                          "external_id": account.external_id,
                          "display_name": account.display_name, "at": int(time.time()),
                          "browser": browser}


async def silent_start(services: Services, signin: PendingSignIn, user_agent: str) -> str | None:
    """Inside WeCom's, DingTalk's or WeChat's own browser, a provider set to `silent` starts at
    once, without the login page: the path to go to, or None. Once per sign-in, so that a
    refusal or an unbound account comes back to the page instead of going round again."""
    if signin.extra.get(TRIED) or signin.extra.get(NOTICE) or signin.extra.get(BIND):
        return None
    for connector in services.upstreams.buttons(user_agent):
        if connector.config.silent and connector.in_app(user_agent):
            signin.extra[TRIED] = True
            await services.signins.save(signin)
            return f"/upstream/{connector.name}/start/{signin.id}"
    return None


def waiting(services: Services, signin: PendingSignIn, request: Request) -> dict[str, Any] | None:
    """The account this sign-in will bind, while it is fresh enough and this is the browser
    that signed in upstream."""
    raw = signin.extra.get(BIND)
    if not isinstance(raw, dict):
        return None
    if time.time() - raw.get("at", 0) > services.settings.upstream.bind_ttl:
        return None
    cookie = request.cookies.get(csrf.cookie_name(services.settings)) or ""
    if not hmac.compare_digest(cookie.encode(), str(raw.get("browser", "")).encode()):
        return None
    return raw


async def bind_pending(request: Request, services: Services, signin: PendingSignIn,
                       person: Person) -> None:
    """Bind the account the sign-in is waiting with to `person`, who has just proven their
    campus password. A clash (someone else has bound it meanwhile) is audited, never raised:
    the person's own sign-in goes on."""
    raw = waiting(services, signin, request)
    signin.extra.pop(BIND, None)
    if raw is None:
        return
    account = UpstreamAccount(provider=raw["provider"], issuer=raw["issuer"],
                              external_id=raw["external_id"], display_name=raw["display_name"])
    audit = {"actor": person.username, "client_id": signin.app_id, "ip": client_ip(request),
             "subject": person.subject, "provider": account.provider,
             "upstream_id": account.external_id}
    try:
        await services.upstreams.bindings.bind(account, subject=person.subject,
                                               username=person.username, bound_by="self")
    except AlreadyBound:
        await services.audit.record("upstream", "bind_refused", **audit)
        return
    await services.audit.record("upstream", "bound", **audit)

"""The campus WeChat mini-program's sign-in: wx.login's code for an authorization code.

A mini-program has no browser to send to /authorize. It calls wx.login(), which gives a code
that only the holder of the mini-program's AppSecret can turn into the WeChat user
(jscode2session, idp/upstream/wechat.py): a code from another mini-program finds no one. So:

    POST /upstream/{name}/mini-program/code      (form or JSON)
      js_code, client_id, redirect_uri, scope, code_challenge, code_challenge_method=S256,
      nonce?, state?
    -> 200 {"code": ..., "state": ..., "expires_in": ...}

is the authorization endpoint for that one case: the same request checks as /authorize
(authlib's, with PKCE S256 required for the public client a mini-program is), the WeChat user's
binding instead of a browser's session, the app's access rule, and then the code that
/token redeems as any other (RFC 6749 §4.1.3, with the code_verifier), giving tokens for the
bound person with amr ["fed"]. It also starts a campus SSO session (no cookie: its id is the
tokens' `sid`), so signing the person out everywhere reaches the mini-program's tokens too.

Refused with an OAuth error as JSON (RFC 6749 §5.2 style, status 400/403): an unbound WeChat
user (`access_denied`, error_description says to bind first), an app that asks for consent
(`consent_required`: only first-party apps, which skip consent, may use it), an app or person
that requires a second factor (`interaction_required`: there is no page to ask it on).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from directory.base import DirectoryUnavailable
from idp.mfa.factors import login_facts
from idp.mfa.policy import AMR_FED, mfa_requirement, requested_acr_values
from idp.protocols.oidc.adapter import client_ip, commit, load_clients, oauth_request, run
from idp.protocols.oidc.context import OAuthContext, bound
from idp.protocols.oidc.server import SERVER
from idp.sso.access import AccessRule
from idp.upstream.base import RoundTrip, UpstreamError, UpstreamUnavailable

if TYPE_CHECKING:
    from idp.services import Services

PARAMS = ("client_id", "redirect_uri", "scope", "code_challenge", "code_challenge_method",
          "nonce", "state")
MAX_PARAM = 2048
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers=NO_STORE)


async def _params(request: Request) -> dict[str, str]:
    if (request.headers.get("content-type") or "").startswith("application/json"):
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return {}
        items = body.items()
    else:
        items = (await request.form()).items()
    return {k: v for k, v in items if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_PARAM}


async def mini_program_code(services: Services, request: Request, name: str) -> Response:
    connector = services.upstreams.get(name)
    if connector is None or connector.config.kind != "wechat_mini":
        return _error(404, "invalid_request", "no such mini-program sign-in")
    given = await _params(request)
    js_code = given.get("js_code")
    if not js_code:
        return _error(400, "invalid_request", "js_code is required")
    # the request checks of /authorize: client, exact redirect_uri, scope, PKCE
    params = [("response_type", "code")] + [(k, given[k]) for k in PARAMS if k in given]
    ctx = OAuthContext(services, ip=client_ip(request))
    req = oauth_request(services, request, [], params)  # a POST: authlib reads the body
    await load_clients(ctx, [req.payload.client_id])
    with bound(ctx):
        try:
            grant = SERVER.get_authorization_grant(req)
            grant.validate_authorization_request()
        except OAuth2Error as error:
            return _error(400, error.error or "invalid_request", error.description or "")
    client = req.client
    audit = {"client_id": client.client_id, "ip": ctx.ip, "provider": name}
    try:
        account = await connector.account(js_code, RoundTrip("", "", "", ""))
    except UpstreamUnavailable:
        return _error(503, "temporarily_unavailable", "WeChat cannot be reached; try again")
    except UpstreamError as exc:
        await services.audit.record("upstream", "failed", reason=str(exc)[:300], **audit)
        return _error(400, "invalid_grant", "the wx.login code was not accepted")
    audit["upstream_id"] = account.external_id
    binding = await services.upstreams.bindings.find(account.issuer, account.external_id)
    if binding is None:
        await services.audit.record("upstream", "unbound", **audit)
        return _error(403, "access_denied", "this WeChat account is not bound to a campus "
                                            "account: bind it first with the campus password")
    try:
        person = await services.directory.by_subject(binding.subject)
    except DirectoryUnavailable:
        return _error(503, "temporarily_unavailable", "the directory cannot be reached")
    if person is None or person.disabled:
        await services.audit.record("login", "account_disabled", actor=binding.username,
                                    method="upstream", **audit)
        return _error(403, "access_denied", "the bound campus account is disabled")
    if not AccessRule.of(client.row.extra).allows(person):
        await services.audit.record("access", "denied", actor=person.username,
                                    client_id=client.client_id, ip=ctx.ip, protocol="oidc")
        return _error(403, "access_denied", "this person may not use this app")
    if not client.row.skip_consent:
        return _error(400, "consent_required", "only first-party apps (no consent page) may "
                                               "sign in from the mini-program")
    extra, enrolled = await login_facts(services.engine, client.client_id, person.subject)
    if enrolled or mfa_requirement(services.settings, client_extra=extra, person=person,
                                   acr_values=requested_acr_values(req.payload.data)):
        return _error(400, "interaction_required", "a second factor is required: sign in on "
                                                   "the web")
    await services.upstreams.bindings.used(binding.id)
    session = await services.sessions.create(
        subject=person.subject, username=person.username, amr=[AMR_FED], ip=ctx.ip,
        user_agent=(request.headers.get("user-agent") or "")[:300] or None)
    await services.audit.record("login", "success", actor=person.username, method="upstream",
                                subject=person.subject, **audit)
    ctx.session = session
    status, _, headers = run(ctx, lambda: SERVER.create_authorization_response(
        req, grant_user=person, grant=grant))
    await commit(ctx, kind="authorize")
    location = dict(headers).get("Location", "")
    query = parse_qs(urlsplit(location).query)
    if status != 302 or "code" not in query:
        error = query.get("error", ["server_error"])[0]
        return _error(400, error, query.get("error_description", [""])[0])
    await services.sessions.add_client(session.sid, client.client_id)
    return JSONResponse({"code": query["code"][0], "state": query.get("state", [None])[0],
                         "expires_in": services.settings.tokens.code_ttl,
                         "issued_at": int(time.time())}, headers=NO_STORE)

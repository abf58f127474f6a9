"""Signing in with an upstream account: /upstream/{name}/start/{signin_id} sends the browser to
the provider, /upstream/{name}/callback brings it back.

The callback is a pipeline of small steps: take the trip (single use, this browser's only),
redeem the code with the provider's connector, find the binding, find the person, and hand them
to the login page's `complete_login` with amr ["fed"], so a required second factor is still
asked and the session is made as at every login. An account that nobody has bound goes back to
the login page, which asks for the campus password once and binds it (upstream_binding.py); it
never becomes a campus account of its own.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from directory.base import DirectoryUnavailable
from idp.http.routing import Router
from idp.mfa.policy import AMR_FED
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip
from idp.sso.signins import PendingSignIn
from idp.upstream.base import UpstreamAccount, UpstreamError, UpstreamUnavailable
from idp.upstream.states import Trip
from idp.web import csrf, upstream_text  # noqa: F401  (upstream_text: registers the page strings)
from idp.web.i18n import choose_locale
from idp.web.login import RETRY_AFTER, complete_login, expired_page
from idp.web.pages import error_page
from idp.web.upstream_binding import NOTICE, remember

router = Router(audience="page", include_in_schema=False)

MAX_CODE = 2048


def callback_url(services: Services, name: str) -> str:
    """The redirect URI to register at the provider."""
    return f"{services.settings.issuer}/upstream/{name}/callback"


def _unavailable(request: Request, signin: PendingSignIn | None) -> Response:
    locale = choose_locale(request, request.app.state.settings.site.default_locale,
                           ui_locales=signin.ui_locales if signin else None)
    return error_page(request, status=503, title="upstream_unavailable_title",
                      detail="upstream_unavailable", locale=locale,
                      headers={"Retry-After": RETRY_AFTER})


async def _back_to_login(services: Services, signin: PendingSignIn, notice: str) -> Response:
    signin.extra[NOTICE] = notice
    await services.signins.save(signin)
    return RedirectResponse(f"/login/{signin.id}", status_code=303)


@router.get("/upstream/{name}/start/{signin_id}")
async def upstream_start(name: str, signin_id: str, request: Request,
                         services: ServicesDep) -> Response:
    signin = await services.signins.get(signin_id)
    if signin is None or signin.page != "login":
        return expired_page(request)
    connector = services.upstreams.get(name)
    if connector is None or not connector.browser_sign_in:
        return error_page(request, status=404, title="upstream_unknown_title",
                          detail="upstream_unknown")
    token, new = csrf.browser_token(request, services.settings)
    trip = await services.upstreams.trips.start(
        provider=name, signin_id=signin.id, browser=token,
        redirect_uri=callback_url(services, name),
        # inside the provider's own app: its in-app (silent) authorization, not a QR code
        silent=connector.in_app(request.headers.get("user-agent") or ""))
    try:
        url = await connector.authorization_url(trip.round_trip)
    except UpstreamUnavailable:
        return _unavailable(request, signin)
    except UpstreamError as exc:
        await services.audit.record("upstream", "failed", client_id=signin.app_id,
                                    ip=client_ip(request), provider=name, reason=str(exc)[:300])
        return await _back_to_login(services, signin, "upstream_err_failed")
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    if new:
        csrf.set_cookie(response, token, services.settings)
    return response


async def _own_trip(request: Request, services: Services, name: str) -> Trip | None:
    """The trip this callback ends, when it is this provider's and this browser's."""
    trip = await services.upstreams.trips.take(request.query_params.get("state"))
    if trip is None or trip.provider != name:
        return None
    cookie = request.cookies.get(csrf.cookie_name(services.settings)) or ""
    if not hmac.compare_digest(cookie.encode(), trip.browser.encode()):
        await services.audit.record("upstream", "csrf_failed", ip=client_ip(request),
                                    provider=name)
        return None
    return trip


@router.get("/upstream/{name}/callback")
async def upstream_callback(name: str, request: Request, services: ServicesDep) -> Response:
    trip = await _own_trip(request, services, name)
    signin = await services.signins.get(trip.signin_id) if trip else None
    connector = services.upstreams.get(name)
    if trip is None or signin is None or signin.page != "login" or connector is None:
        return expired_page(request)
    ip = client_ip(request)
    audit = {"client_id": signin.app_id, "ip": ip, "provider": name}
    # DingTalk names it authCode
    code = request.query_params.get("code") or request.query_params.get("authCode")
    if not code or len(code) > MAX_CODE:
        # the person said no at the provider, or it answered with an error (RFC 6749 §4.1.2.1)
        error = (request.query_params.get("error") or "no_code")[:100]
        await services.audit.record("upstream", "refused", reason=error, **audit)
        return await _back_to_login(services, signin, "upstream_err_refused")
    try:
        account = await connector.account(code, trip.round_trip)
    except UpstreamUnavailable as exc:
        await services.audit.record("upstream", "unavailable", reason=str(exc)[:300], **audit)
        return _unavailable(request, signin)
    except UpstreamError as exc:
        await services.audit.record("upstream", "failed", reason=str(exc)[:300], **audit)
        return await _back_to_login(services, signin, "upstream_err_failed")
    return await sign_in(request, services, signin, account, audit, browser=trip.browser)


async def sign_in(request: Request, services: Services, signin: PendingSignIn,
                  account: UpstreamAccount, audit: dict[str, object], *,
                  browser: str) -> Response:
    """The person bound to `account` signs in (or, unbound, is asked to bind it, in this
    browser only)."""
    binding = await services.upstreams.bindings.find(account.issuer, account.external_id)
    audit = audit | {"upstream_id": account.external_id}
    if binding is None:
        remember(signin, account, browser)
        await services.audit.record("upstream", "unbound", **audit)
        return await _back_to_login(services, signin, "upstream_bind_needed")
    try:
        person = await services.directory.by_subject(binding.subject)
    except DirectoryUnavailable:
        return error_page(request, status=503, title="err_directory_unavailable_title",
                          detail="err_directory_unavailable", headers={"Retry-After": RETRY_AFTER})
    if person is None or person.disabled:
        await services.audit.record("login", "account_disabled", actor=binding.username,
                                    method="upstream", **audit)
        return await _back_to_login(services, signin, "upstream_err_account")
    await services.upstreams.bindings.used(binding.id)
    await services.audit.record("login", "success", actor=person.username, method="upstream",
                                subject=person.subject, **audit)
    return await complete_login(request, services, signin, person, amr=[AMR_FED])

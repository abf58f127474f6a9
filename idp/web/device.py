"""The device verification page (RFC 8628 §3.3): a person types the code a device shows, or
arrives through `verification_uri_complete` with it filled in, and presses Continue; the
sign-in core takes over from there (idp/protocols/oidc/device_verification.py: login, second
factor, then a confirmation that names the app, the code and where the request came from).

Nothing is approved here, and nothing on arrival: a filled-in code is only a filled-in form.
Guessing codes is limited per client address (`device.entry_failures` wrong codes per
`device.entry_window`, counted in the Store so every replica shares the count, §5.1), and the
code space (20^8) makes a guess within that budget hopeless. Also here: /device/qr.svg, the
`verification_uri_complete` of a code as a QR code, for devices that can show an image.
"""

from __future__ import annotations

import hashlib
import ipaddress

import segno
from fastapi import Request
from starlette.responses import Response

from idp.http.routing import Router
from idp.protocols.oidc import device_verification
from idp.protocols.oidc.device_authorization import verification_uris
from idp.protocols.oidc.device_codes import (
    DeviceCodes,
    display_user_code,
    normalize_user_code,
)
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip
from idp.web import csrf, device_text  # noqa: F401  (device_text: registers the page strings)
from idp.web.i18n import Locale, choose_locale
from idp.web.pages import error_page, render

router = Router(audience="page", include_in_schema=False)

MAX_TYPED = 32


def _entry_key(ip: str) -> str:
    """Wrong codes are counted per address, and per /64 for IPv6: one home or host gets a whole
    /64, so its addresses are one guesser's."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        ip = str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return "device-entry:" + hashlib.sha256(ip.encode()).hexdigest()[:32]


def _form(request: Request, services: Services, *, locale: Locale, typed: str,
          error: str | None = None, status: int = 200,
          error_values: dict[str, object] | None = None,
          headers: dict[str, str] | None = None) -> Response:
    token, new = csrf.browser_token(request, services.settings)
    response = render(request, "device.html", locale=locale, status=status, headers=headers,
                      typed=typed[:MAX_TYPED], error=error, error_values=error_values,
                      csrf_token=token, action="/device")
    if new:
        csrf.set_cookie(response, token, services.settings)
    return response


@router.get("/device")
async def device_page(request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    typed = request.query_params.get("user_code") or ""
    code = normalize_user_code(typed)
    return _form(request, services, locale=locale,
                 typed=display_user_code(code) if code else typed)


@router.post("/device")
async def device_submit(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    locale = choose_locale(request, settings.site.default_locale, form=form)
    ip = client_ip(request)
    cookie = request.cookies.get(csrf.cookie_name(settings))
    if not csrf.is_valid(request, settings, form.get("csrf"), cookie):
        await services.audit.record("device", "csrf_failed", ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    raw = form.get("user_code")
    typed = raw if isinstance(raw, str) else ""
    store, limits = services.store, settings.device
    key = _entry_key(ip)
    # counted before the lookup with an atomic increment, so that guesses sent all at once
    # cannot all pass a check that has not yet seen the others fail; a code that is found, or
    # that cannot be a code at all, is given back
    if await store.incr(key, limits.entry_window) > limits.entry_failures:
        await store.incr(key, limits.entry_window, -1)
        await services.audit.record("device", "throttled", ip=ip)
        wait = await store.ttl(key) or limits.entry_window
        return _form(request, services, locale=locale, typed=typed, status=429,
                     error="device_err_throttled",
                     error_values={"minutes": max(1, -(-wait // 60))},
                     headers={"Retry-After": str(wait)})
    code = normalize_user_code(typed)
    if code is None:  # cannot be anyone's code: a typo, not a guess
        await store.incr(key, limits.entry_window, -1)
        return _form(request, services, locale=locale, typed=typed, status=400,
                     error="device_err_format")
    found = await DeviceCodes(store, limits).by_user_code(code)
    if found is None:
        await services.audit.record("device", "code_unknown", ip=ip)
        return _form(request, services, locale=locale, typed=display_user_code(code),
                     status=400, error="device_err_unknown")
    await store.incr(key, limits.entry_window, -1)
    digest, record = found
    await services.audit.record("device", "code_entered", client_id=record.client_id, ip=ip)
    return await device_verification.begin(services, request, digest, ui_locales=locale)


@router.get("/device/done")
async def device_done(request: Request, services: ServicesDep) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    approved = request.query_params.get("outcome") == "approved"
    return render(request, "device_done.html", locale=locale, approved=approved)


@router.get("/device/qr.svg")
async def device_qr(request: Request, services: ServicesDep) -> Response:
    """The page with this code filled in, as a QR code (SVG). It says nothing about whether the
    code exists: it only draws the URL the device already knows."""
    code = normalize_user_code(request.query_params.get("user_code"))
    if code is None:
        return Response("user_code must be a code such as BCDF-GHJK", status_code=400,
                        media_type="text/plain; charset=utf-8")
    _, complete = verification_uris(services.settings.issuer, code)
    svg = segno.make(complete, error="m", micro=False).svg_inline(scale=6, border=2)
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=600"})

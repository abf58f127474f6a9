"""The identity choice page ("以哪个身份登录 / Sign in as"): which of the person's linked
identities an app gets (idp/sso/identities.py decides when to ask).

A protocol parks a pending sign-in with page "identity" and the candidates (identities.py
`choice_extra`: only the identities the app's rule lets in). The page belongs to the SSO session
that the protocol saw; the POST accepts only one of those candidates, remembers it as the
person's default for the app, and sends the browser back to the protocol, which gives the app
exactly that identity.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.services import ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.sso.identities import remember
from idp.sso.signins import PendingSignIn
from idp.web import csrf, identity_text  # noqa: F401  (identity_text: registers the strings)
from idp.web.i18n import Locale, choose_locale
from idp.web.login import expired_page
from idp.web.pages import error_page, render

router = Router(audience="page", include_in_schema=False)


def _page(request: Request, signin: PendingSignIn, locale: Locale, token: str,
          status: int = 200) -> Response:
    return render(request, "identity.html", locale=locale, status=status,
                  app_name=signin.app_name or signin.app_id,
                  identities=signin.extra.get("identities") or [], csrf_token=token,
                  action=f"/identity/{signin.id}")


@router.get("/identity/{signin_id}")
async def identity_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    if signin is None:
        return expired_page(request)
    if signin.page != "identity":
        return RedirectResponse(signin.page_url, status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    session = await services.sessions.get(session_id(request, settings))
    if session is None or signin.sid != session.sid:
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    token, new = csrf.browser_token(request, settings)
    if signin.extra.get("csrf") != token:
        signin.extra["csrf"] = token
        await services.signins.save(signin)
    response = _page(request, signin, locale, token)
    if new:
        csrf.set_cookie(response, token, settings)
    return response


@router.post("/identity/{signin_id}")
async def identity_submit(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if signin is None or signin.page != "identity":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("identity", "csrf_failed", client_id=signin.app_id, ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    session = await services.sessions.get(session_id(request, settings))
    # the choice belongs to the session the protocol saw, not to whoever signed in since
    if session is None or signin.sid != session.sid:
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    chosen = form.get("identity")
    offered = {c.get("subject"): c for c in signin.extra.get("identities") or []
               if isinstance(c, dict)}
    if not isinstance(chosen, str) or chosen not in offered:
        # only what was offered: never another entry, never one the app's rule refuses
        return _page(request, signin, locale, signin.extra["csrf"], status=400)
    signin.extra["identity"] = chosen
    await services.signins.save(signin)
    if signin.app_id:
        await remember(services, session.subject, signin.app_id, chosen)
    await services.audit.record("identity", "chosen", actor=session.username,
                                client_id=signin.app_id, ip=ip,
                                identity=offered[chosen].get("username"))
    return RedirectResponse(signin.resume, status_code=303)

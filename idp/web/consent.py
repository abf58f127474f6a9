"""The consent page of a sign-in: which app, which scopes, what each one releases, and which of
them the person lets it have.

Every scope is a checkbox. The required ones (the sign-in record's `required_scopes`: openid, and
what the app's registration marks) are ticked, marked and explained, and cannot be unticked; the
rest start ticked, except those the person unticked the last time this app asked. A form that
leaves out a required scope or names one the app did not ask for was not made by this page: it
gets a readable error, and the sign-in stays as it was, so the person can go back and answer.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.services import ServicesDep
from idp.sso.cookie import client_ip, session_id
from idp.sso.signins import PendingSignIn
from idp.web import csrf
from idp.web.i18n import choose_locale
from idp.web.login import expired_page
from idp.web.pages import error_page, render
from idp.web.scopes import describe, scope_name

router = Router(audience="page")


@router.get("/consent/{signin_id}")
async def consent_page(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    signin = await services.signins.get(signin_id)
    if signin is None:
        return expired_page(request)
    if signin.page != "consent":
        return RedirectResponse(signin.page_url, status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=signin.ui_locales)
    session = await services.sessions.get(session_id(request, settings))
    if session is None or (signin.sid and signin.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    token, new = csrf.browser_token(request, settings)
    if signin.extra.get("csrf") != token:
        signin.extra["csrf"] = token
        await services.signins.save(signin)
    lines = describe(signin.scopes, locale, required=signin.required_scopes,
                     unticked=signin.declined_scopes)
    response = render(
        request, "consent.html", locale=locale, app_name=signin.app_name,
        # the identity the app gets, when the person has several (idp/sso/identities.py)
        user=signin.extra.get("identity_name") or session.username, scopes=lines,
        csrf_token=token, action=f"/consent/{signin.id}",
        optional=any(not line.required for line in lines),
    )
    if new:
        csrf.set_cookie(response, token, settings)
    return response


@router.post("/consent/{signin_id}")
async def consent_submit(signin_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    signin = await services.signins.get(signin_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=signin.ui_locales if signin else None)
    if signin is None or signin.page != "consent":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), signin.extra.get("csrf")):
        await services.audit.record("consent", "csrf_failed", client_id=signin.app_id,
                                    ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    session = await services.sessions.get(session_id(request, settings))
    # the consent belongs to the session the engine saw (signin.sid), not to whoever
    # signed in since in this browser
    if session is None or (signin.sid and signin.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    allowed = form.get("decision") == "allow"
    if allowed:
        try:
            signin.granted_scopes = chosen_scopes(form, signin)
        except BadChoice as bad:
            await services.audit.record("consent", "invalid_choice", actor=session.username,
                                        client_id=signin.app_id, ip=ip, scope=bad.scope)
            return error_page(
                request, status=400, title="consent_invalid_title",
                detail="consent_required_unticked" if bad.required else "consent_not_asked",
                locale=locale, values={"app": signin.app_name,
                                       "scope": scope_name(bad.scope, locale)})
    else:
        signin.denied = True
    # the engine checks at resume that the browser's session is still this person's
    signin.extra["consent_subject"] = session.subject
    await services.signins.save(signin)
    granted = signin.granted_scopes or []
    await services.audit.record(
        "consent", "granted" if allowed else "denied", actor=session.username,
        client_id=signin.app_id, ip=ip, scopes=signin.scopes,
        **({"granted": granted, "declined": [s for s in signin.scopes if s not in granted]}
           if allowed else {}),
    )
    return RedirectResponse(signin.resume, status_code=303)


class BadChoice(ValueError):
    """A consent form this page did not make: a required scope unticked, or a scope added."""

    def __init__(self, scope: str, *, required: bool) -> None:
        super().__init__(scope)
        self.scope = scope[:64]
        self.required = required


def chosen_scopes(form: FormData, signin: PendingSignIn) -> list[str]:
    """The scopes the person left ticked. The page marks its form (`choice`); a bare
    `decision=allow` (a form without the boxes) allows everything the page showed."""
    if form.get("choice") != "scopes":
        return list(signin.scopes)
    ticked = {value for value in form.getlist("scope") if isinstance(value, str)}
    for scope in sorted(ticked):
        if scope not in signin.scopes:
            raise BadChoice(scope, required=False)
    for scope in signin.required_scopes:
        if scope not in ticked:
            raise BadChoice(scope, required=True)
    return [scope for scope in signin.scopes if scope in ticked]

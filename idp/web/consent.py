"""The consent page of an interaction: which app, which scopes, and what each one releases."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.http.routing import Router
from idp.services import ServicesDep
from idp.web import csrf
from idp.web.cookies import client_ip, session_id
from idp.web.i18n import choose_locale
from idp.web.login import expired_page
from idp.web.pages import error_page, render
from idp.web.scopes import describe

router = Router(audience="page")


@router.get("/consent/{interaction_id}")
async def consent_page(interaction_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    interaction = await services.interactions.get(interaction_id)
    if interaction is None:
        return expired_page(request)
    if interaction.prompt == "login":
        return RedirectResponse(f"/login/{interaction.id}", status_code=303)
    locale = choose_locale(request, settings.site.default_locale, ui_locales=interaction.ui_locales)
    session = await services.sessions.get(session_id(request, settings))
    if session is None or (interaction.sid and interaction.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    token, new = csrf.browser_token(request, settings)
    if interaction.extra.get("csrf") != token:
        interaction.extra["csrf"] = token
        await services.interactions.save(interaction)
    response = render(
        request, "consent.html", locale=locale, app_name=interaction.client_name,
        user=session.username, scopes=describe(interaction.scopes, locale), csrf_token=token,
        action=f"/consent/{interaction.id}",
    )
    if new:
        csrf.set_cookie(response, token, settings)
    return response


@router.post("/consent/{interaction_id}")
async def consent_submit(interaction_id: str, request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    interaction = await services.interactions.get(interaction_id)
    locale = choose_locale(request, settings.site.default_locale, form=form,
                           ui_locales=interaction.ui_locales if interaction else None)
    if interaction is None or interaction.prompt != "consent":
        return expired_page(request, locale)
    ip = client_ip(request)
    if not csrf.is_valid(request, settings, form.get("csrf"), interaction.extra.get("csrf")):
        await services.audit.record("consent", "csrf_failed", client_id=interaction.client_id,
                                    ip=ip)
        return error_page(request, status=403, title="csrf_title", detail="csrf_detail",
                          locale=locale)
    session = await services.sessions.get(session_id(request, settings))
    # the consent belongs to the session the engine saw (interaction.sid), not to whoever
    # signed in since in this browser
    if session is None or (interaction.sid and interaction.sid != session.sid):
        return error_page(request, status=400, title="session_expired_title",
                          detail="session_expired", locale=locale)
    allowed = form.get("decision") == "allow"
    if allowed:
        interaction.granted_scopes = list(interaction.scopes)
    else:
        interaction.denied = True
    # the engine checks at resume that the browser's session is still this person's
    interaction.extra["consent_subject"] = session.subject
    await services.interactions.save(interaction)
    await services.audit.record(
        "consent", "granted" if allowed else "denied", actor=session.username,
        client_id=interaction.client_id, ip=ip, scopes=interaction.scopes,
    )
    return RedirectResponse(f"/authorize/resume/{interaction.id}", status_code=303)

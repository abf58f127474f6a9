"""The self-service account page, /account: second factors, where one is signed in, which apps
hold which consents, which apps received which of one's information (the attribute-release
record); and the actions on sessions and consents.

Password change, factor enrolment, password reset and the step-up those changes need have
modules of their own (account_password.py, account_mfa.py, account_reset.py, account_step_up.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import delete, select
from starlette.responses import RedirectResponse, Response

from idp.db.models import Client, Consent
from idp.http.routing import Router
from idp.mfa import recovery, totp
from idp.mfa.webauthn import credentials_of
from idp.protocols.oidc import ledger
from idp.protocols.oidc.claims import SUPPORTED_SCOPES
from idp.services import Services, ServicesDep
from idp.sso import releases
from idp.sso.cookie import clear_session_cookie
from idp.web import account_bindings, login_area
from idp.web import account_step_up as step_up
from idp.web.account_common import ACCOUNT, checked_post, done, visit
from idp.web.account_identities import identities_context
from idp.web.claim_labels import claim_labels
from idp.web.devices import device_summary
from idp.web.i18n import Locale
from idp.web.scopes import describe

router = Router(audience="page")

# messages a redirect back to /account may show (?done=...): a fixed list, never free text
DONE_MESSAGES = frozenset({
    "account_done", "account_password_changed", "account_confirmed", "account_identity_changed",
    "account_binding_removed",
})


@router.get(ACCOUNT.callback_path)
async def account_callback(request: Request, services: ServicesDep) -> Response:
    return await login_area.finish_login(request, services, ACCOUNT)


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _in_page_order(scopes: list[str]) -> list[str]:
    """Scopes in the order the consent page shows them (openid first), not as stored."""
    order = {scope: index for index, scope in enumerate(SUPPORTED_SCOPES)}
    return sorted(scopes, key=lambda scope: (order.get(scope, len(order)), scope))


async def _consents(services: Services, subject: str) -> list[dict[str, object]]:
    async with services.db() as db:
        rows = await db.execute(
            select(Consent, Client.name).outerjoin(Client, Client.client_id == Consent.client_id)
            .where(Consent.subject == subject).order_by(Consent.granted_at))
        return [{"client_id": consent.client_id, "name": name or consent.client_id,
                 "scopes": _in_page_order(list(consent.scopes or [])),
                 "declined": _in_page_order(list(consent.declined or [])),
                 "granted_at": consent.granted_at.strftime("%Y-%m-%d")}
                for consent, name in rows]


async def _releases(services: Services, subject: str, locale: Locale) -> list[dict[str, object]]:
    """Per app, what it received of this person (labels, each once) and when it last did."""
    return [{"client_id": app.client_id, "name": app.app_name,
             "claims": claim_labels(app.claims, locale),
             "last": app.last_at.strftime("%Y-%m-%d %H:%M UTC") if app.last_at else ""}
            for app in await releases.apps_of(services.db, subject)]


@router.get("/account")
async def account_page(request: Request, services: ServicesDep) -> Response:
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    subject = found.person.subject
    sessions = [{"sid": s.sid, "current": s.sid == found.session.sid, "since": _when(s.created_at),
                 "ip": s.ip or "?", "agent": device_summary(s.user_agent),
                 "user_agent": s.user_agent or ""}
                for s in await services.sessions.of_subject(subject)]
    consents = await _consents(services, subject)
    for consent in consents:
        consent["scopes"] = describe(consent["scopes"], found.locale)  # type: ignore[arg-type]
        consent["declined"] = describe(consent["declined"], found.locale)  # type: ignore[arg-type]
    message = request.query_params.get("done")
    return found.page(
        request, "account.html", sessions=sessions, consents=consents,
        releases=await _releases(services, subject, found.locale),
        release_days=services.settings.releases.retention_days,
        totp=await totp.enrolled(services.db, subject),
        passkeys=await credentials_of(services, subject),
        recovery_left=await recovery.remaining(services.db, subject),
        done=message if message in DONE_MESSAGES else None,
        step_up_minutes=step_up.minutes(services),
        **await identities_context(services, found),
        bindings=await account_bindings.listed(services, subject, found.locale),
        wide=True,  # two columns on a desktop (site.css), one on a phone
    )


@router.post("/account/sessions/end")
async def end_session(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    sid = form.get("sid")
    mine = {s.sid for s in await services.sessions.of_subject(found.person.subject)}
    if not isinstance(sid, str) or sid not in mine:
        return done()  # already gone, or never the person's: nothing to tell an attacker
    await services.logout.end(sid, reason="account")
    await services.audit.record("account", "session_ended", actor=found.person.username,
                                subject=found.person.subject)
    if sid == found.session.sid:
        response = RedirectResponse("/logout/done", status_code=303)
        clear_session_cookie(response, services.settings)
        return response
    return done()


@router.post("/account/consents/revoke")
async def revoke_consent(request: Request, services: ServicesDep) -> Response:
    """Forget the consent and revoke the refresh tokens the app holds for this person, so it
    must ask again and cannot keep reading in the background."""
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    client_id = form.get("client_id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
        return done()
    subject = found.person.subject
    # the consent goes first: an authorization from now on asks again
    async with services.db() as db, db.begin():
        removed = await db.execute(delete(Consent).where(
            Consent.subject == subject, Consent.client_id == client_id))
    # whole refresh families, with the access tokens issued alongside (idp/protocols/oidc/ledger.py)
    revoked = await ledger.revoke_app_grants(services, subject, client_id)
    if removed.rowcount or revoked:
        await services.audit.record("account", "consent_revoked", actor=found.person.username,
                                    client_id=client_id, subject=subject, refresh_tokens=revoked)
    return done()

"""Managing one's second factors from the account page: the authenticator app (enrol, replace,
remove), passkeys (register, remove) and recovery codes (make a new set, shown once).

Enrolment is confirmed by a code from the new app (or a verified WebAuthn attestation) before it
is kept. The first factor a person adds comes with a set of recovery codes.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from idp.http.routing import Router
from idp.mfa import recovery, totp
from idp.mfa import webauthn as passkeys
from idp.mfa.secretbox import SecretUnreadable, seal, unseal
from idp.services import Services, ServicesDep
from idp.web.account_common import Visit, checked_post, done, visit

router = Router(audience="page")

ENROL_TTL = 600  # seconds to scan the code and type the first one
ENROL_KEY = "account-totp:{sid}"


async def _codes_page(request: Request, services: Services, found: Visit,
                      *, always: bool = False) -> Response:
    """The new recovery codes (shown once) when the person has none left, else back home."""
    subject = found.person.subject
    if not always and await recovery.remaining(services.db, subject) > 0:
        return done()
    codes = await recovery.regenerate(services.db, subject)
    await services.audit.record("account", "recovery_codes_made", actor=found.person.username)
    return found.page(request, "mfa_codes.html", codes=codes, continue_url="/account")


async def _totp_page(request: Request, services: Services, found: Visit, *,
                     error: str | None = None, status: int = 200) -> Response:
    subject, key = found.person.subject, ENROL_KEY.format(sid=found.session.sid)
    sealed = await services.store.get(key)
    try:
        secret = unseal(services.settings, sealed, subject=subject) if sealed else None
    except SecretUnreadable:
        secret = None
    if secret is None:
        secret = totp.new_secret()
        await services.store.put(key, seal(services.settings, secret, subject=subject), ENROL_TTL)
    uri = totp.provisioning_uri(secret, account=found.person.username,
                                issuer=services.settings.site.campus_name)
    return found.page(request, "mfa_enrol.html", qr=totp.qr_data_uri(uri),
                      secret=totp.base32(secret), required=False, error=error, status=status,
                      action="/account/mfa/totp")


@router.get("/account/mfa/totp")
async def totp_enrol_page(request: Request, services: ServicesDep) -> Response:
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    return await _totp_page(request, services, found)


@router.post("/account/mfa/totp")
async def totp_enrol(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    subject, key = found.person.subject, ENROL_KEY.format(sid=found.session.sid)
    sealed = await services.store.get(key)
    code = form.get("code")
    try:
        secret = unseal(services.settings, sealed, subject=subject) if sealed else None
    except SecretUnreadable:
        secret = None
    step = totp.matching_step(secret, code[:64]) if secret and isinstance(code, str) else None
    if secret is None or step is None:
        return await _totp_page(request, services, found, error="mfa_err_wrong_code", status=400)
    await services.store.delete(key)
    await totp.save(services.db, services.settings, subject, secret, step)
    await services.audit.record("account", "totp_enrolled", actor=found.person.username)
    return await _codes_page(request, services, found)


@router.post("/account/mfa/totp/remove")
async def totp_remove(request: Request, services: ServicesDep) -> Response:
    found, _ = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    if await totp.remove(services.db, found.person.subject):
        await services.audit.record("account", "totp_removed", actor=found.person.username)
    return done()


async def _passkey_page(request: Request, services: Services, found: Visit, *,
                        error: str | None = None, status: int = 200) -> Response:
    options = await passkeys.registration_options(services, found.person, found.session.sid)
    return found.page(request, "account_passkey.html", options=options, error=error,
                      status=status)


@router.get("/account/mfa/passkey")
async def passkey_page(request: Request, services: ServicesDep) -> Response:
    found = await visit(request, services)
    if isinstance(found, Response):
        return found
    return await _passkey_page(request, services, found)


@router.post("/account/mfa/passkey")
async def passkey_register(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    credential, label = form.get("credential"), form.get("label")
    try:
        row = await passkeys.register(
            services, found.person, found.session.sid,
            credential if isinstance(credential, str) else "",
            label if isinstance(label, str) else "")
    except passkeys.PasskeyError as exc:
        await services.audit.record("account", "passkey_failed", actor=found.person.username,
                                    reason=str(exc)[:300])
        return await _passkey_page(request, services, found, error="mfa_err_passkey", status=400)
    await services.audit.record("account", "passkey_added", actor=found.person.username,
                                label=row.label, aaguid=row.aaguid)
    return await _codes_page(request, services, found)


@router.post("/account/mfa/passkey/remove")
async def passkey_remove(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    raw = form.get("id")
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 12:
        if await passkeys.remove(services, found.person.subject, int(raw)):
            await services.audit.record("account", "passkey_removed", actor=found.person.username)
    return done()


@router.post("/account/mfa/recovery")
async def recovery_regenerate(request: Request, services: ServicesDep) -> Response:
    found, _ = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    return await _codes_page(request, services, found, always=True)

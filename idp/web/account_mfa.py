"""Managing one's second factors from the account page: the authenticator app (enrol, replace,
remove), passkeys (register, remove) and recovery codes (make a new set, shown once).

Enrolment is confirmed by a code from the new app (or a verified WebAuthn attestation) before it
is kept. The first factor a person adds comes with a set of recovery codes; removing the last one
takes its recovery codes with it. Every change needs a recent check (account_step_up.py): the
enrolment pages hand out a secret or challenge only then, and every removal and new set of codes
checks again.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from idp.http.routing import Router
from idp.mfa import recovery, totp
from idp.mfa import webauthn as passkeys
from idp.mfa.secretbox import SecretUnreadable, seal, unseal
from idp.services import Services, ServicesDep
from idp.web import account_step_up as step_up
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
    if (asked := await step_up.required(request, services, found, "add_factor",
                                        back="/account/mfa/totp")) is not None:
        return asked
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
    # a secret on offer was handed out to a recent session; without one, a new one is made
    # below, and only a recent session may have it
    if secret is None and (asked := await step_up.required(
            request, services, found, "add_factor", back="/account/mfa/totp")) is not None:
        return asked
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
    if (asked := await step_up.required(request, services, found, "remove_factor")) is not None:
        return asked
    if await totp.remove(services.db, found.person.subject):
        await _removed(services, found, "totp_removed")
    return done()


async def _removed(services: Services, found: Visit, outcome: str, **detail: object) -> None:
    """Audit a removal; when it was the last factor, its recovery codes go with it."""
    codes = await recovery.remove_without_factor(services.db, found.person.subject)
    await services.audit.record("account", outcome, actor=found.person.username,
                                recovery_codes_removed=codes, **detail)


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
    if (asked := await step_up.required(request, services, found, "add_factor",
                                        back="/account/mfa/passkey")) is not None:
        return asked
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
        # the challenge it answered was handed out to a recent session; a new one is, too
        if (asked := await step_up.required(request, services, found, "add_factor",
                                            back="/account/mfa/passkey")) is not None:
            return asked
        return await _passkey_page(request, services, found, error="mfa_err_passkey", status=400)
    await services.audit.record("account", "passkey_added", actor=found.person.username,
                                label=row.label, aaguid=row.aaguid)
    return await _codes_page(request, services, found)


@router.post("/account/mfa/passkey/remove")
async def passkey_remove(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    if (asked := await step_up.required(request, services, found, "remove_factor")) is not None:
        return asked
    raw = form.get("id")
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 12:
        if await passkeys.remove(services, found.person.subject, int(raw)):
            await _removed(services, found, "passkey_removed")
    return done()


@router.post("/account/mfa/recovery")
async def recovery_regenerate(request: Request, services: ServicesDep) -> Response:
    found, _ = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    subject = found.person.subject
    if not await totp.enrolled(services.db, subject) \
            and not await passkeys.credentials_of(services, subject):
        return done()  # recovery codes stand in for a second factor: none before one exists
    if (asked := await step_up.required(request, services, found, "recovery_codes")) is not None:
        return asked
    return await _codes_page(request, services, found, always=True)

"""WebAuthn / passkeys as a second factor (W3C Web Authentication Level 2, §7.1 registration and
§7.2 authentication), through duo-labs' py_webauthn.

The relying party is this IdP: RP ID = the issuer's host (or IDP_MFA_WEBAUTHN_RP_ID), origin =
the issuer's scheme://host[:port]. Each ceremony's challenge lives in the Store under the page it
belongs to (the login interaction, or the account page's session) and is taken once, so a
response can be verified only once. Attestation is "none": a campus does not vet authenticator
models, it needs the key to be the one registered.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import (
    parse_authentication_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from directory.base import Person
from idp.db.mfa_models import PasskeyCredential
from idp.db.models import utcnow
from idp.settings import Settings

if TYPE_CHECKING:
    from idp.services import Services

CHALLENGE_TTL = 300  # seconds a ceremony may take (the browser's own timeout is 120 s)
TIMEOUT_MS = 120_000
MAX_RESPONSE = 64 * 1024  # a credential JSON is a few KB; anything larger is not one
MAX_LABEL = 100
# what a parse or verification of browser-supplied JSON may raise besides the library's own
_BAD_INPUT = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


class PasskeyError(Exception):
    """The browser's answer does not verify (or the ceremony expired); the message is for logs."""


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str


def relying_party(settings: Settings) -> RelyingParty:
    parts = urlsplit(settings.issuer)
    rp_id = settings.mfa.webauthn_rp_id or parts.hostname or "localhost"
    return RelyingParty(rp_id=rp_id, origin=f"{parts.scheme}://{parts.netloc}",
                        name=settings.site.campus_name)


def user_handle(subject: str) -> bytes:
    """An opaque, stable user.id (§5.4.3: no personal data in it)."""
    return hashlib.sha256(b"campus-idp webauthn user:" + subject.encode("utf-8")).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


async def credentials_of(services: Services, subject: str) -> list[PasskeyCredential]:
    async with services.db() as db:
        rows = await db.scalars(select(PasskeyCredential).where(
            PasskeyCredential.subject == subject).order_by(PasskeyCredential.created_at))
        return list(rows)


def _descriptors(rows: list[PasskeyCredential]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for row in rows:
        transports = []
        for name in row.transports or []:
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue
        descriptors.append(PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(row.credential_id), transports=transports or None))
    return descriptors


async def _remember(services: Services, key: str, challenge: bytes, subject: str) -> None:
    await services.store.put(key, json.dumps({"challenge": _b64(challenge), "subject": subject}),
                             CHALLENGE_TTL)


async def _recall(services: Services, key: str, subject: str) -> bytes:
    raw = await services.store.take(key)
    saved = json.loads(raw) if raw else None
    if not saved or saved.get("subject") != subject:
        raise PasskeyError("no ceremony in progress (expired or already answered)")
    return base64.urlsafe_b64decode(saved["challenge"])


# --- registration (§7.1) ---------------------------------------------------------------------


async def registration_options(services: Services, person: Person, ceremony: str) -> str:
    """The JSON for navigator.credentials.create(); `ceremony` names where the challenge waits."""
    rp = relying_party(services.settings)
    existing = await credentials_of(services, person.subject)
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=user_handle(person.subject),
        user_name=person.username, user_display_name=person.name or person.username,
        timeout=TIMEOUT_MS, exclude_credentials=_descriptors(existing),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED),
    )
    await _remember(services, f"webauthn:register:{ceremony}", options.challenge, person.subject)
    return options_to_json(options)


async def register(services: Services, person: Person, ceremony: str, response: str,
                   label: str) -> PasskeyCredential:
    """Verify the browser's attestation and keep the credential."""
    challenge = await _recall(services, f"webauthn:register:{ceremony}", person.subject)
    if not response or len(response) > MAX_RESPONSE:
        raise PasskeyError("no credential in the form")
    rp = relying_party(services.settings)
    try:
        verified = verify_registration_response(
            credential=response, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin)
        transports = [str(t) for t in (json.loads(response).get("response", {})
                                       .get("transports") or []) if isinstance(t, str)][:8]
    except _BAD_INPUT as exc:
        raise PasskeyError(f"registration did not verify: {exc}") from exc
    row = PasskeyCredential(
        subject=person.subject, credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count, label=(label.strip() or "Passkey")[:MAX_LABEL],
        aaguid=verified.aaguid, transports=transports,
    )
    try:
        async with services.db() as db, db.begin():
            db.add(row)
    except IntegrityError as exc:
        raise PasskeyError("this credential is already registered") from exc
    return row


# --- authentication (§7.2) -------------------------------------------------------------------


async def authentication_options(services: Services, subject: str, ceremony: str) -> str | None:
    """The JSON for navigator.credentials.get(), or None when the person has no passkey."""
    rows = await credentials_of(services, subject)
    if not rows:
        return None
    rp = relying_party(services.settings)
    options = generate_authentication_options(
        rp_id=rp.rp_id, timeout=TIMEOUT_MS, allow_credentials=_descriptors(rows),
        user_verification=UserVerificationRequirement.PREFERRED)
    await _remember(services, f"webauthn:login:{ceremony}", options.challenge, subject)
    return options_to_json(options)


async def authenticate(services: Services, subject: str, ceremony: str, response: str) -> None:
    """Verify the assertion against the person's registered key; raises PasskeyError."""
    challenge = await _recall(services, f"webauthn:login:{ceremony}", subject)
    if not response or len(response) > MAX_RESPONSE:
        raise PasskeyError("no assertion in the form")
    try:
        credential = parse_authentication_credential_json(response)
    except _BAD_INPUT as exc:
        raise PasskeyError(f"malformed assertion: {exc}") from exc
    async with services.db() as db:
        row = await db.scalar(select(PasskeyCredential).where(
            PasskeyCredential.subject == subject,
            PasskeyCredential.credential_id == credential.id[:1400]))
    if row is None:
        raise PasskeyError("the credential is not one of this person's")
    rp = relying_party(services.settings)
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, credential_public_key=base64url_to_bytes(row.public_key),
            credential_current_sign_count=row.sign_count)
    except _BAD_INPUT as exc:
        raise PasskeyError(f"assertion did not verify: {exc}") from exc
    # conditional: a cloned authenticator racing the real one cannot both move the counter
    async with services.db() as db, db.begin():
        result = await db.execute(
            update(PasskeyCredential)
            .where(PasskeyCredential.id == row.id, PasskeyCredential.sign_count == row.sign_count)
            .values(sign_count=verified.new_sign_count, last_used_at=utcnow()))
    if result.rowcount != 1:
        raise PasskeyError("the credential was used concurrently")


async def remove(services: Services, subject: str, credential_row_id: int) -> bool:
    async with services.db() as db, db.begin():
        result = await db.execute(delete(PasskeyCredential).where(
            PasskeyCredential.id == credential_row_id, PasskeyCredential.subject == subject))
    return bool(result.rowcount)

"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps make them.

SHA-1, 6 digits, 30-second steps: the parameters every app (Google Authenticator, Microsoft
Authenticator, FreeOTP, 企业微信/钉钉 authenticators) understands. One step of clock drift either
way is accepted (§5.2 "at most one time step" is the usual choice), and a step, once accepted,
is never accepted again (§5.2: the verifier MUST NOT accept the second attempt of the same OTP).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

import segno
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.mfa_models import TotpCredential
from idp.db.models import utcnow
from idp.mfa.secretbox import SecretUnreadable, seal, unseal
from idp.settings import Settings

DIGITS = 6
PERIOD = 30  # seconds, RFC 6238 §5.2's recommended X
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226 §4 R6


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def base32(secret: bytes) -> str:
    """The secret as apps take it typed in (RFC 4648 base32, unpadded)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    cleaned = text.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: HMAC-SHA-1 of the counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(now: float | None = None) -> int:
    """RFC 6238 §4.2: T = floor((now - T0) / X) with T0 = 0."""
    return int((time.time() if now is None else now) // PERIOD)


def code_at(secret: bytes, now: float | None = None) -> str:
    return hotp(secret, time_step(now))


def normalise_code(code: str) -> str:
    """Apps show "123 456"; people paste with spaces or dashes."""
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


def matching_step(secret: bytes, code: str, *, after: int = 0, now: float | None = None) -> int | None:
    """The time step whose code this is, within the drift window and newer than `after`."""
    code = normalise_code(code)
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    current = time_step(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # every candidate is compared, in constant time, so timing tells nothing
        if hmac.compare_digest(hotp(secret, step), code) and step > after:
            found = step
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    """The otpauth:// URI of the Key Uri Format that authenticator apps scan."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": base32(secret), "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": PERIOD})
    return f"otpauth://totp/{label}?{query}"


def qr_data_uri(uri: str) -> str:
    """The URI as an SVG QR code in a data: URI, drawn here (no script, no third party)."""
    return segno.make(uri, error="m", micro=False).svg_data_uri(scale=5, border=2)


async def enrolled(db: async_sessionmaker, subject: str) -> bool:
    async with db() as session:
        return await session.scalar(
            select(TotpCredential.id).where(TotpCredential.subject == subject)) is not None


async def save(db: async_sessionmaker, settings: Settings, subject: str, secret: bytes,
               step: int) -> None:
    """Keep the (confirmed) secret, replacing an earlier app; `step` was just used to confirm."""
    sealed = seal(settings, secret, subject=subject)
    async with db() as session, session.begin():
        await session.execute(delete(TotpCredential).where(TotpCredential.subject == subject))
        session.add(TotpCredential(subject=subject, secret=sealed, last_step=step,
                                   last_used_at=utcnow()))


async def remove(db: async_sessionmaker, subject: str) -> bool:
    async with db() as session, session.begin():
        result = await session.execute(
            delete(TotpCredential).where(TotpCredential.subject == subject))
    return bool(result.rowcount)


async def verify(db: async_sessionmaker, settings: Settings, subject: str, code: str) -> bool:
    """Whether `code` is the person's current TOTP; a success uses up its time step."""
    async with db() as session:
        row = await session.scalar(select(TotpCredential).where(TotpCredential.subject == subject))
    if row is None:
        return False
    try:
        secret = unseal(settings, row.secret, subject=subject)
    except SecretUnreadable:
        return False
    step = matching_step(secret, code, after=row.last_step)
    if step is None:
        return False
    # conditional update: of two concurrent uses of one code, only one moves last_step
    async with db() as session, session.begin():
        result = await session.execute(
            update(TotpCredential)
            .where(TotpCredential.id == row.id, TotpCredential.last_step < step)
            .values(last_step=step, last_used_at=utcnow()))
    return result.rowcount == 1

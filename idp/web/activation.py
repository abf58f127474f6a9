"""Self-service activation (/activate, pages in activate.py): proving who one is with facts the
directory holds, the short-lived ticket that proof earns, and the first password.

Facts (IDP_ACTIVATION_FACTS) are compared as a person types them, not as a database stores them:
NFKC (fullwidth digits and letters are the ASCII ones), case folded (an ID card's final `x` is
`X`), without spaces and the separators people put in dates and numbers (- / . _ · :). Each fact
is compared as a SHA-256 digest with `hmac.compare_digest` (so neither the value's length nor
its first difference shows in the timing), every fact is always compared (no early exit), and a
login name that finds no entry is compared against random values: an unknown person and wrong
facts take the same steps and get the same answer.

The first password is set the way the directory's own policy sees it: a random interim password
is written as an administrator would, marked must-change, and the person's new password then
replaces it through `Directory.change_password`, the person's own change. So the directory
applies the policy it applies to people (ppolicy pwdMinLength / pwdCheckQuality, AD complexity
and history) rather than the administrator's exemption from it, and a refusal comes back as
PasswordRejected with a reason the page can explain. The interim password never leaves this
process; after a refusal the account keeps it, unknown to anyone, and the person tries again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from directory.base import Facts
from idp.store.base import Store

TICKET_TTL = 15 * 60  # seconds from the proven facts to the saved password
BUSY_TTL = 60  # seconds one activation of a person may take (its interim password is live)
MAX_FACT = 256
MAX_EMAIL = 254
_SEPARATORS = frozenset("-/._·:")
# one @, something on each side, a dot in the domain, no spaces or angle brackets
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{4,30}")


def normalise_fact(value: str) -> str:
    """A fact as compared: NFKC, case folded, without spaces and separators (module docstring)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return "".join(ch for ch in folded if not ch.isspace() and ch not in _SEPARATORS)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def facts_match(found: Facts | None, typed: dict[str, str]) -> bool:
    """Whether every typed fact equals one of the entry's values of that attribute, compared in
    constant time; False for no entry or an attribute it lacks, after the same comparisons."""
    ok = found is not None
    for name, value in typed.items():
        given = _digest(normalise_fact(value))
        stored = found.values.get(name, ()) if found is not None else ()
        candidates = [normalise_fact(v) for v in stored if normalise_fact(v)]
        if not candidates:  # an unknown person, or nothing on record: a value nobody can type
            ok = False
            candidates = [secrets.token_hex(16)]
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(given, _digest(candidate))
        ok &= matched and bool(normalise_fact(value))
    return ok


def contact_problem(email: str, phone: str) -> str | None:
    """The message key when the recovery contact cannot be saved as given."""
    if not email and not phone:
        return "activate_err_contact"
    if email and (len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email)):
        return "activate_err_email"
    if phone and not _PHONE.fullmatch(phone):
        return "activate_err_phone"
    return None


def interim_password() -> str:
    """Random, and of every character class, so AD's complexity rule accepts it."""
    return f"{secrets.token_urlsafe(24)}aZ9!"


# --- the ticket: facts proven, password not yet chosen --------------------------------------------


@dataclass(frozen=True)
class Ticket:
    subject: str
    username: str
    csrf: str  # the browser's CSRF token it was issued to: it works in that browser only
    expires: int


def _ticket_key(token: str) -> str:
    return f"activation:ticket:{hashlib.sha256(token.encode()).hexdigest()}"


async def issue_ticket(store: Store, subject: str, username: str, csrf: str) -> str:
    """A ticket for the password step; the Store keeps only its digest."""
    token = secrets.token_urlsafe(32)
    record = {"subject": subject, "username": username, "csrf": csrf,
              "expires": int(time.time()) + TICKET_TTL}
    await store.put(_ticket_key(token), json.dumps(record), TICKET_TTL)
    return token


async def read_ticket(store: Store, token: object, csrf: str | None) -> Ticket | None:
    """The live ticket, when this browser (its CSRF token) is the one it was issued to."""
    if not isinstance(token, str) or not 20 <= len(token) <= 128 or not csrf:
        return None
    raw = await store.get(_ticket_key(token))
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    if not hmac.compare_digest(str(record.get("csrf", "")).encode(), csrf.encode()):
        return None
    return Ticket(record["subject"], record["username"], record["csrf"], int(record["expires"]))


async def end_ticket(store: Store, token: str) -> None:
    await store.delete(_ticket_key(token))


async def begin(store: Store, subject: str) -> bool:
    """Only one activation of a person at a time (its interim password must not be replaced
    by another's between the two writes)."""
    return await store.add(f"activation:busy:{subject}", "1", BUSY_TTL)


async def finish(store: Store, subject: str) -> None:
    await store.delete(f"activation:busy:{subject}")

"""Checking what an admin types about a person, once, for the API, the console and the CSV
import alike: each problem is reported per field, in words that say what to fix."""

from __future__ import annotations

import re
import secrets
import string
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from directory.base import normalize_username
from directory.writes import MULTI_VALUED_FIELDS, WRITABLE_FIELDS
from idp.http.csv_cells import starts_like_formula

# eduPersonAffiliation's controlled vocabulary (eduPerson 201602, §2.2.1)
AFFILIATIONS = ("faculty", "student", "staff", "alum", "member", "affiliate", "employee",
                "library-walk-in")
MAX_USERNAME = 64
MAX_TEXT = 200
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_USERNAME = re.compile(r"^[\w.@+-]+$")  # \w is Unicode: 张三 is a valid login name
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,40}$")
# no 0/O, 1/l/I: one-time passwords are read aloud at the service desk
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


class FieldErrors(ValueError):
    """Every problem with a person's fields: field name -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


def clean_username(value: object) -> str:
    """The NFKC-normalised login name (no fullwidth or other compatibility twins of an existing
    name), or ValueError saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a username is required")
    name = normalize_username(value)
    if not name:  # a control character makes no name (directory/base.py)
        raise ValueError("only letters, digits and . _ @ + - (no spaces)")
    if len(name) > MAX_USERNAME:
        raise ValueError(f"at most {MAX_USERNAME} characters")
    if name[0] == "." or starts_like_formula(name):
        # = + - @ (and TAB, CR) open a formula when a spreadsheet shows a CSV with this name in
        # it (import results, audit exports): refused here, and escaped in every CSV anyway
        raise ValueError("must not start with . = + - or @ (a spreadsheet would read it as a "
                         "formula)")
    if not _USERNAME.match(name):
        raise ValueError("only letters, digits and . _ @ + - (no spaces)")
    return name


def _text(value: object, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    if not text.isprintable():
        raise ValueError("must not contain control characters")
    return text or None


def _list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[object] = value.split(";")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError("must be a list")
    cleaned = []
    for item in items:
        text = _text(item, 500)
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned


def _field(name: str, value: object) -> Any:
    if name in MULTI_VALUED_FIELDS:
        values = _list(value)
        if name == "affiliations":
            unknown = [v for v in values if v.lower() not in AFFILIATIONS]
            if unknown:
                raise ValueError(f"unknown affiliation {unknown[0]!r} (use: {', '.join(AFFILIATIONS)})")
            values = [v.lower() for v in values]
        return values
    text = _text(value, 254 if name in ("email", "principal_name") else MAX_TEXT)
    if text is None:
        return None
    if name in ("email", "principal_name") and not _EMAIL.match(text):
        raise ValueError(f"{text!r} is not an e-mail address")
    if name == "phone" and not _PHONE.match(text):
        raise ValueError(f"{text!r} is not a phone number (digits, spaces, + ( ) - . /)")
    return text


def clean_fields(raw: Mapping[str, object], *, partial: bool = False) -> dict[str, Any]:
    """Checked person fields (only WRITABLE_FIELDS). `partial`: only the fields given (an edit);
    otherwise every field, missing ones as empty. Raises FieldErrors listing every problem."""
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - set(WRITABLE_FIELDS))
    for name in unknown:
        errors[name] = "not a person field"
    cleaned: dict[str, Any] = {}
    for name in WRITABLE_FIELDS:
        if partial and name not in raw:
            continue
        try:
            cleaned[name] = _field(name, raw.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return cleaned


def check_password(password: object) -> str:
    if not isinstance(password, str) or not password:
        raise ValueError("a password is required")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"at most {MAX_PASSWORD} characters")
    if password != password.strip() or not password.isprintable():
        raise ValueError("no leading or trailing spaces, no control characters")
    return password


def generate_password(length: int = 16) -> str:
    """A random password with upper and lower case letters and digits (~90 bits at 16)."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)):
            return password

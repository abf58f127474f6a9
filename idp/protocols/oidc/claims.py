"""Which claims each scope releases, and how a Person becomes those claims (OIDC Core §5.4).

The mapping is data (`SCOPE_CLAIMS`, `CLAIM_SOURCES`) so it can be made configurable. A client
receives the claims of the scopes it is allowed (Client.scopes) and the person consented to:
both are already folded into the token's scope before anything here is called.

Decision: the scope claims go into the ID token as well as userinfo (as Keycloak and Azure AD
do), because many campus apps read only the ID token. The claims request parameter
(OIDC Core §5.5) is accepted and validated; since every claim of a granted scope is released in
both places, a requested claim is present exactly when its scope was granted: the parameter
never widens what the person consented to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from directory.base import Person

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username", "locale"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number",),
    "campus": ("campus_number", "department", "title"),
    "groups": ("groups",),
    "eduperson": ("eduperson_affiliation", "eduperson_scoped_affiliation",
                  "eduperson_principal_name", "eduperson_entitlement"),
}
# scopes that release no claims but mean something (offline_access: a refresh token)
NON_CLAIM_SCOPES = ("offline_access",)
SUPPORTED_SCOPES = tuple(SCOPE_CLAIMS) + NON_CLAIM_SCOPES


# claim -> how to read it from a Person; None results are left out of the response
CLAIM_SOURCES: dict[str, Callable[[Person], Any]] = {
    "sub": lambda p: p.subject,
    "name": lambda p: p.name,
    "given_name": lambda p: p.given_name,
    "family_name": lambda p: p.family_name,
    "preferred_username": lambda p: p.username,
    "locale": lambda p: None,
    "email": lambda p: p.email,
    # campus addresses are issued by the directory itself, hence verified
    "email_verified": lambda p: True if p.email else None,
    "phone_number": lambda p: p.phone,
    "campus_number": lambda p: p.number,
    "department": lambda p: p.department,
    "title": lambda p: p.title,
    "groups": lambda p: list(p.groups),
    "eduperson_affiliation": lambda p: list(p.affiliations) or None,
    "eduperson_scoped_affiliation": lambda p: list(p.scoped_affiliations) or None,
    "eduperson_principal_name": lambda p: p.principal_name,
    "eduperson_entitlement": lambda p: list(p.entitlements) or None,
}

CLAIMS_SUPPORTED = sorted({claim for claims in SCOPE_CLAIMS.values() for claim in claims}
                          | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
                             "sid", "at_hash"})


def allowed_claims(scopes: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for scope in scopes:
        names.update(SCOPE_CLAIMS.get(scope, ()))
    return names


def check_claims_param(claims_param: str) -> str | None:
    """An error description when the claims parameter is not a JSON object of objects."""
    try:
        parsed = json.loads(claims_param)
    except ValueError:
        return "The claims parameter must be JSON (OIDC Core 5.5)."
    if not isinstance(parsed, dict) or any(
        key in parsed and not isinstance(parsed[key], dict | None) for key in ("userinfo", "id_token")
    ):
        return "The claims parameter must be a JSON object of objects (OIDC Core 5.5)."
    return None


def person_claims(person: Person, scopes: Iterable[str]) -> dict[str, Any]:
    """The claims this person releases for `scopes` (None and empty values left out)."""
    names = allowed_claims(scopes)
    names.add("sub")
    result: dict[str, Any] = {}
    for name in sorted(names):
        source = CLAIM_SOURCES.get(name)
        value = source(person) if source else None
        if value is not None and value != []:
            result[name] = value
    return result

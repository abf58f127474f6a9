"""Which person fields a CAS service may receive, under the attribute names CAS services expect
(the names Apereo CAS and LDAP deployments use), and the authentication attributes every CAS 3.0
success carries (Appendix A: authenticationDate, longTermAuthenticationRequestTokenUsed,
isFromNewLogin).

A service receives exactly the attributes it was registered with (`--attribute`), never more:
the same fields an OIDC client gets through its scopes, one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from directory.base import Person

# attribute name -> the values a person has for it (an empty list: the attribute is left out)
ATTRIBUTES: dict[str, Callable[[Person], list[str]]] = {
    "uid": lambda p: [p.username],
    "cn": lambda p: [p.name] if p.name else [],
    "displayName": lambda p: [p.name] if p.name else [],
    "givenName": lambda p: [p.given_name] if p.given_name else [],
    "sn": lambda p: [p.family_name] if p.family_name else [],
    "mail": lambda p: [p.email] if p.email else [],
    "telephoneNumber": lambda p: [p.phone] if p.phone else [],
    "employeeNumber": lambda p: [p.number] if p.number else [],  # student or staff number
    "ou": lambda p: [p.department] if p.department else [],
    "title": lambda p: [p.title] if p.title else [],
    "memberOf": lambda p: list(p.groups),
    "eduPersonAffiliation": lambda p: list(p.affiliations),
    "eduPersonScopedAffiliation": lambda p: list(p.scoped_affiliations),
    "eduPersonPrincipalName": lambda p: [p.principal_name] if p.principal_name else [],
    "eduPersonEntitlement": lambda p: list(p.entitlements),
}
ATTRIBUTE_NAMES = tuple(ATTRIBUTES)
# what `idp clients add --protocol cas` registers when no --attribute is given: who the person
# is, nothing personal beyond it
DEFAULT_ATTRIBUTES = ("uid", "cn", "eduPersonAffiliation")


def check_names(names: Iterable[str]) -> list[str]:
    """The names, or ValueError naming the first one CAS does not know."""
    checked = []
    for name in names:
        if name not in ATTRIBUTES:
            raise ValueError(f"unknown CAS attribute {name!r} (known: {', '.join(ATTRIBUTE_NAMES)})")
        if name not in checked:
            checked.append(name)
    return checked


# what every success carries about the login, not about the person
AUTHENTICATION_ATTRIBUTES = ("authenticationDate", "longTermAuthenticationRequestTokenUsed",
                             "isFromNewLogin")
# the name the release record gives the <cas:user> every success carries (the username)
USER = "user"


def release_names(attributes: dict[str, list[str]] | None) -> list[str]:
    """The names the attribute-release record keeps for one success: the user, and each
    person attribute the answer carried."""
    return [USER, *(name for name in attributes or {} if name not in AUTHENTICATION_ATTRIBUTES)]


def released(person: Person, allowed: Iterable[str], *, auth_time: int,
             new_login: bool) -> dict[str, list[str]]:
    """The CAS 3.0 attributes for this person and service: the three authentication attributes
    first (the schema's order), then each allowed attribute that has a value."""
    when = datetime.fromtimestamp(auth_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result: dict[str, list[str]] = {
        "authenticationDate": [when],
        "longTermAuthenticationRequestTokenUsed": ["false"],  # no remember-me logins
        "isFromNewLogin": ["true" if new_login else "false"],
    }
    for name in allowed:
        source = ATTRIBUTES.get(name)
        values = source(person) if source else []
        if values:
            result[name] = values
    return result

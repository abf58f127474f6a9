"""Who may use which app: an app's access rule, the same for every protocol.

An app (OIDC client or CAS service) may be limited to directory groups and/or affiliations,
kept in its `extra["access"]` (`idp clients add --allow-group … --allow-affiliation …`, the
admin console and API): a person may use it when they are in one of the groups or have one of
the affiliations; an app without a rule is open to everyone signed in. The rule is checked at
every authorization, refresh and CAS ticket and validation, so a person removed from a group
loses the app at their next refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from directory.base import Person
from idp.http.problems import PageError

MAX_ENTRIES = 50


@dataclass(frozen=True)
class AccessRule:
    groups: tuple[str, ...] = ()
    affiliations: tuple[str, ...] = ()

    @classmethod
    def of(cls, extra: Mapping[str, Any] | None) -> AccessRule:
        rule = (extra or {}).get("access") or {}
        return cls(tuple(rule.get("groups") or ()), tuple(rule.get("affiliations") or ()))

    @property
    def open(self) -> bool:
        return not self.groups and not self.affiliations

    def allows(self, person: Person) -> bool:
        if self.open:
            return True
        groups = {g.casefold() for g in person.groups}
        affiliations = {a.casefold() for a in person.affiliations}
        return (any(g.casefold() in groups for g in self.groups)
                or any(a.casefold() in affiliations for a in self.affiliations))

    def as_extra(self) -> dict[str, list[str]]:
        return {"groups": list(self.groups), "affiliations": list(self.affiliations)}


def checked_rule(groups: Iterable[str], affiliations: Iterable[str]) -> AccessRule:
    """A rule from what an admin typed, or ValueError saying what is wrong with it."""
    cleaned: list[list[str]] = []
    for values, what in ((groups, "group"), (affiliations, "affiliation")):
        entries = []
        for value in values:
            if not isinstance(value, str) or not value.strip() or len(value) > 256 \
                    or not value.isprintable():
                raise ValueError(f"{what} {value!r} is not a name")
            if value.strip() not in entries:
                entries.append(value.strip())
        if len(entries) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} {what}s in one rule")
        cleaned.append(entries)
    return AccessRule(tuple(cleaned[0]), tuple(cleaned[1]))


def widens(current: AccessRule, new: AccessRule) -> bool:
    """Whether `new` lets in someone `current` keeps out (a developer's change that does waits
    for an admin; one that only narrows applies at once)."""
    if current.open:
        return False
    if new.open:
        return True

    def folded(names: Iterable[str]) -> set[str]:
        return {name.casefold() for name in names}

    return bool(folded(new.groups) - folded(current.groups)
                or folded(new.affiliations) - folded(current.affiliations))


def with_rule(extra: Mapping[str, Any] | None, rule: AccessRule) -> dict[str, Any]:
    """The app's `extra` with this rule (none kept when the rule is open)."""
    result = dict(extra or {})
    result.pop("access_request", None)  # a rule set answers any rule asked for
    if rule.open:
        result.pop("access", None)
    else:
        result["access"] = rule.as_extra()
    return result


def refusal(app_name: str, contact: str) -> PageError:
    """The page a person outside an app's rule gets: which app, and whom to ask."""
    if contact:
        return PageError(403, "access_denied_title", "access_denied", app=app_name,
                         contact=contact)
    return PageError(403, "access_denied_title", "access_denied_desk", app=app_name)

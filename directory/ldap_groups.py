"""Group lookups: memberOf when the server keeps it, a member search otherwise, nesting walked.

memberOf exists in OpenLDAP only with the memberof overlay and is operational (LDAP-PITFALLS 7);
AD's transitive matching rule works only on AD, so elsewhere nested groups are walked upwards
with a cycle guard (LDAP-PITFALLS 6). Every DN put into a filter is escaped (RFC 4515).
"""

from __future__ import annotations

import ldap
import ldap.dn
from ldap.controls import SimplePagedResultsControl
from ldap.filter import filter_format
from ldap.ldapobject import LDAPObject

from directory.base import Group

AD_IN_CHAIN = "1.2.840.113556.1.4.1941"
ANY_GROUP = (
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group)(objectClass=posixGroup))"
)
MAX_NESTING_ROUNDS = 32  # a guard on top of the cycle guard, for absurdly deep trees
PAGE_SIZE = 500


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def name_from_dn(dn: str) -> str:
    """The value of a group DN's first RDN (its cn), without splitting on commas by hand."""
    try:
        return ldap.dn.str2dn(dn)[0][0][1]
    except (ldap.DECODING_ERROR, IndexError):
        return dn


def member_filter(dn: str) -> str:
    return filter_format(
        "(|(&(objectClass=groupOfNames)(member=%s))(&(objectClass=groupOfUniqueNames)(uniqueMember=%s)))",
        [dn, dn],
    )


def _search_groups(conn: LDAPObject, base: str, filterstr: str) -> dict[str, str]:
    """DN -> name of the groups matching `filterstr`."""
    results = conn.search_s(base, ldap.SCOPE_SUBTREE, filterstr, ["cn"])
    found: dict[str, str] = {}
    for dn, attrs in results:
        if dn is None:  # a search continuation reference
            continue
        cns = attrs.get("cn") or []
        found[dn] = _text(cns[0]) if cns else name_from_dn(dn)
    return found


def direct_groups(conn: LDAPObject, base: str, member_dn: str) -> dict[str, str]:
    return _search_groups(conn, base, member_filter(member_dn))


def parents_walk(conn: LDAPObject, base: str, start: dict[str, str]) -> dict[str, str]:
    """Add every group that contains one of `start`, transitively; each group visited once."""
    found = dict(start)
    frontier = list(start)
    seen = {dn.lower() for dn in start}
    for _round in range(MAX_NESTING_ROUNDS):
        if not frontier:
            break
        next_frontier: list[str] = []
        for group_dn in frontier:
            for parent_dn, name in direct_groups(conn, base, group_dn).items():
                if parent_dn.lower() in seen:
                    continue  # a cycle, or reached by another path
                seen.add(parent_dn.lower())
                found[parent_dn] = name
                next_frontier.append(parent_dn)
        frontier = next_frontier
    return found


def ad_transitive(conn: LDAPObject, base: str, member_dn: str) -> dict[str, str]:
    """All groups of `member_dn`, nested included, in one AD query (LDAP_MATCHING_RULE_IN_CHAIN)."""
    filterstr = filter_format(f"(&(objectClass=group)(member:{AD_IN_CHAIN}:=%s))", [member_dn])
    return _search_groups(conn, base, filterstr)


def groups_of(
    conn: LDAPObject,
    base: str,
    member_dn: str,
    member_of: list[str],
    *,
    nested: bool,
    active_directory: bool,
) -> list[str]:
    """Sorted group names of the entry `member_dn` (member_of: its memberOf values, if any)."""
    if nested and active_directory:
        found = ad_transitive(conn, base, member_dn)
    else:
        if member_of:
            found = {dn: name_from_dn(dn) for dn in member_of}
        else:
            found = direct_groups(conn, base, member_dn)
        if nested:
            found = parents_walk(conn, base, found)
    return sorted(set(found.values()))


def list_groups(conn: LDAPObject, base: str) -> list[Group]:
    """Every group under `base`, read page by page (AD caps a plain search at 1000 entries)."""
    page = SimplePagedResultsControl(criticality=False, size=PAGE_SIZE, cookie="")
    groups: list[Group] = []
    while True:
        msgid = conn.search_ext(
            base, ldap.SCOPE_SUBTREE, ANY_GROUP, ["cn", "description"], serverctrls=[page]
        )
        _rtype, results, _msgid, controls = conn.result3(msgid, timeout=conn.timeout)
        for dn, attrs in results:
            if dn is None:
                continue
            cns = attrs.get("cn") or []
            descriptions = attrs.get("description") or []
            groups.append(
                Group(
                    name=_text(cns[0]) if cns else name_from_dn(dn),
                    dn=dn,
                    description=_text(descriptions[0]) if descriptions else None,
                )
            )
        cookie = next(
            (c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType),
            b"",
        )
        if not cookie:
            break
        page.cookie = cookie
    return sorted(groups, key=lambda group: group.name)

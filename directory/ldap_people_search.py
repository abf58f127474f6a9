"""The admin console's people search on LDAP: one filter over login name, name, e-mail and
number, read in Simple Paged Results pages (RFC 2696) no larger than needed and abandoned as soon
as the window [offset, offset + limit) is filled, so page 1 of 100,000 people costs one page.

Apart from the writer (ldap_admin.py) because it only reads: it runs on whichever pool the writer
hands it, the admin account's where there is one, else the login side's service pool.
"""

from __future__ import annotations

import ldap
from ldap.controls import SimplePagedResultsControl
from ldap.filter import escape_filter_chars

from directory.base import DirectoryUnavailable, Person
from directory.config import LdapConfig
from directory.ldap_groups import name_from_dn
from directory.ldap_pool import Connection, ServicePool
from directory.ldap_profiles import Profile
from directory.writes import MAX_LISTED

SEARCH_PAGE = 500  # below AD's MaxPageSize of 1000 (LDAP-PITFALLS 5)


def people_filter(config: LdapConfig, profile: Profile, query: str) -> str:
    """Everyone the user filter admits whose login name, name, e-mail or number contains
    `query`, escaped once, here, where the filter is built (RFC 4515)."""
    everyone = config.user_filter.replace("{username}", "*")
    query = query.replace("\x00", "").strip()
    if not query:
        return everyone
    value = escape_filter_chars(query)
    attributes: list[str] = []
    for field_name in ("username", "name", "email", "number"):
        attributes.extend(a for a in profile.fields[field_name] if a not in attributes)
    alternatives = "".join(f"({attribute}=*{value}*)" for attribute in attributes)
    return f"(&{everyone}(|{alternatives}))"


def search_people(pool: ServicePool, config: LdapConfig, profile: Profile, query: str,
                  offset: int, limit: int) -> list[Person]:
    """Matches [offset, offset + limit) of `query`, in a stable order, read on a connection of
    `pool`. Blocking: the writer runs it in the directory's thread pool."""
    offset, limit = max(offset, 0), max(min(limit, 1000), 0)
    if offset + limit > MAX_LISTED:
        raise ValueError(f"only the first {MAX_LISTED} matches are listed: narrow the search")
    filterstr = people_filter(config, profile, query)

    def run(connection: Connection) -> list[Person]:
        conn = connection.conn
        page = SimplePagedResultsControl(True, size=min(SEARCH_PAGE, offset + limit + 1), cookie="")
        found: list[Person] = []
        seen = 0
        while True:
            msgid = conn.search_ext(config.user_base, ldap.SCOPE_SUBTREE, filterstr,
                                    profile.attributes, serverctrls=[page],
                                    timeout=config.timeout)
            _rtype, results, _msgid, controls = conn.result3(msgid, timeout=config.timeout)
            for dn, entry in results:
                if dn is None:
                    continue
                seen += 1
                if seen <= offset or len(found) >= limit:
                    continue
                groups = [name_from_dn(group_dn) for group_dn in profile.member_of(entry)]
                person = profile.person(dn, entry, groups=sorted(groups))
                if person is not None:
                    found.append(person)
            cookie = next((c.cookie for c in controls
                           if c.controlType == SimplePagedResultsControl.controlType), b"")
            if not cookie:
                return found
            if len(found) >= limit:
                # RFC 2696 §3: a page size of 0 with the cookie abandons the search
                page.size, page.cookie = 0, cookie
                try:
                    conn.search_ext_s(config.user_base, ldap.SCOPE_SUBTREE, filterstr,
                                      ["1.1"], serverctrls=[page])
                except ldap.UNAVAILABLE_CRITICAL_EXTENSION:
                    # Samba AD refuses a size-0 page ("dsdb_paged_results: Unsupported critical
                    # extension") although the window is read: the abandon only frees the
                    # server's cursor, which Samba drops with the connection or on its own
                    pass
                return found
            page.cookie = cookie

    try:
        return pool.run(run)
    except (ldap.SIZELIMIT_EXCEEDED, ldap.ADMINLIMIT_EXCEEDED) as exc:
        raise ValueError(f"the directory stops listing after its size limit (before match "
                         f"{offset + limit}): narrow the search") from exc
    except ldap.NO_SUCH_OBJECT as exc:
        raise DirectoryUnavailable(detail=f"user base {config.user_base!r} missing") from exc
    except ldap.FILTER_ERROR as exc:
        raise DirectoryUnavailable(detail=f"bad search filter {filterstr!r}") from exc

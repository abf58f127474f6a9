"""Linked identities on LDAP: the entries that are one person (directory/base.py `identities`).

Two ways an entry names another of the same person, both configured as attribute names
(directory/config.py IdentityLinkConfig):
- a DN-valued link attribute (e.g. seeAlso): followed forwards (a base search on each DN it
  holds) and backwards (a search for entries whose link attribute holds this DN), so the link
  needs writing on one side only;
- a correlation attribute (e.g. a national-ID hash): every entry with the same value.
The walk goes on from each entry found, breadth first, with a guard on DNs already seen and a cap
of MAX_IDENTITIES entries. Only entries under the user base count: a link to an admin account or
a group elsewhere in the tree is no identity. Every value put into a filter is escaped (RFC 4515,
LDAP-PITFALLS 2); DNs are compared parsed, never split by hand (LDAP-PITFALLS 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import ldap
import ldap.dn
from ldap.filter import escape_filter_chars

from directory.base import MAX_IDENTITIES
from directory.config import IdentityLinkConfig
from directory.ldap_pool import Connection, ServicePool
from directory.ldap_profiles import Entry

log = logging.getLogger(__name__)

Found = tuple[str, Entry]
# runs one search on a pooled service connection: (base, scope, filter) -> entries
Search = Callable[[str, int, str], list[Found]]


def dn_key(dn: str) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """A DN as a comparable value: attribute types and values case-folded, parsed (so escaped
    commas and spacing do not matter). None for text that is no DN."""
    try:
        parsed = ldap.dn.str2dn(dn)
    except (ldap.DECODING_ERROR, TypeError):
        return None
    return tuple(tuple((kind.casefold(), value.casefold()) for kind, value, _flags in rdn)
                 for rdn in parsed)


def under(dn_parts: tuple[object, ...], base_parts: tuple[object, ...]) -> bool:
    return len(dn_parts) > len(base_parts) and dn_parts[len(dn_parts) - len(base_parts):] == base_parts


def _values(entry: Entry, attribute: str) -> list[str]:
    wanted = attribute.casefold()
    for key, values in entry.items():
        if key.casefold() == wanted:
            return [value.decode("utf-8", "replace") for value in values if value]
    return []


class IdentityWalk:
    """The walk from one entry to the entries of the same person."""

    def __init__(self, links: IdentityLinkConfig, user_base: str, search: Search) -> None:
        self.links = links
        self.base_dn = user_base
        self.base = dn_key(user_base) or ()
        self.search = search

    @property
    def attributes(self) -> list[str]:
        """What the walk reads of each entry, besides the person's own attributes."""
        return [a for a in (self.links.link_attribute, self.links.correlate_by) if a]

    def entries(self, start: Found) -> list[Found]:
        """Every entry of the person `start` is, `start` first, at most MAX_IDENTITIES."""
        found: list[Found] = [start]
        seen = {dn_key(start[0])}
        queue = [start]
        while queue and len(found) < MAX_IDENTITIES:
            dn, entry = queue.pop(0)
            for neighbour in self._neighbours(dn, entry):
                key = dn_key(neighbour[0])
                if key is None or key in seen or not under(key, self.base):
                    continue
                seen.add(key)
                found.append(neighbour)
                queue.append(neighbour)
                if len(found) >= MAX_IDENTITIES:
                    log.warning("entry %r links to more than %d entries; the rest are not "
                                "offered", start[0], MAX_IDENTITIES)
                    break
        return found

    def _neighbours(self, dn: str, entry: Entry) -> Iterator[Found]:
        link, correlate = self.links.link_attribute, self.links.correlate_by
        if link:
            for target in _values(entry, link):
                key = dn_key(target)
                if key is not None and under(key, self.base):  # never searched outside it
                    yield from self._safe(target, ldap.SCOPE_BASE, "(objectClass=*)")
            yield from self._safe(self.base_dn, ldap.SCOPE_SUBTREE,
                                  f"({link}={escape_filter_chars(dn)})")
        if correlate:
            for value in _values(entry, correlate):
                yield from self._safe(self.base_dn, ldap.SCOPE_SUBTREE,
                                      f"({correlate}={escape_filter_chars(value)})")

    def _safe(self, base: str, scope: int, filterstr: str) -> list[Found]:
        """The search's entries; a dangling link (NO_SUCH_OBJECT) or a value shared by too many
        entries (a data error) finds none rather than failing the sign-in."""
        try:
            return self.search(base, scope, filterstr)
        except ldap.NO_SUCH_OBJECT:
            log.warning("identity link to %r: no such entry", base)
        except ldap.SIZELIMIT_EXCEEDED:
            log.warning("identity search %r matched more than %d entries", filterstr,
                        MAX_IDENTITIES)
        return []


def searcher(pool: ServicePool, attributes: list[str], timeout: float) -> Search:
    """A Search on the pooled service connections (never a user's bind)."""

    def search(base: str, scope: int, filterstr: str) -> list[Found]:
        def run(connection: Connection) -> list[Found]:
            results = connection.conn.search_ext_s(
                base, scope, filterstr, attributes, timeout=timeout,
                sizelimit=MAX_IDENTITIES + 1)
            return [(dn, attrs) for dn, attrs in results if dn is not None]

        return pool.run(run)

    return search

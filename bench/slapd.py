"""The bench's directory: the tests' campus slapd (tests/support/slapd.py) with the equality
indexes a production OpenLDAP has, filled offline by slapadd with generated people.

Generated people are `bench000001` … with one password (SSHA-hashed here, because slapadd skips
the ppolicy overlay that would hash a cleartext one) and no group memberships.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time

from tests.support.slapd import SUFFIX, CampusSlapd

BENCH_PASSWORD = "bench-password"  # noqa: S105 - generated test people only
PEOPLE = f"ou=people,{SUFFIX}"

# the indexes a campus directory needs for the IdP's filters: login (uid), subject (entryUUID OR
# eduPersonUniqueId: one unindexed branch makes slapd scan every entry), the admin search (cn,
# displayName, mail, employeeNumber; substring) and groups; and paged searches past
# slapd's default 500 entries for the IdP's account (here also the admin search's account)
_INDEXES = """dn: olcDatabase={1}mdb,cn=config
changetype: modify
add: olcDbIndex
olcDbIndex: objectClass eq
olcDbIndex: uid eq,sub
olcDbIndex: entryUUID,eduPersonUniqueId eq
olcDbIndex: cn,displayName,mail,employeeNumber eq,sub
olcDbIndex: member eq
-
replace: olcDbMaxSize
olcDbMaxSize: 4294967296
-
add: olcLimits
olcLimits: dn.exact="cn=idp,ou=services,dc=example,dc=edu" size.soft=500
  size.hard=unlimited size.prtotal=unlimited
"""
SLAPMODIFY = "/usr/sbin/slapmodify"


class BenchSlapd(CampusSlapd):
    """CampusSlapd plus indexes and a 4 GiB map (100,000 people need ~400 MB)."""

    def __init__(self) -> None:
        super().__init__(memberof=True)

    def _write_config(self) -> None:
        super()._write_config()
        # the schema is loaded only now, so the indexes on its attributes come last (offline)
        self._cli_popen(SLAPMODIFY, stdin_data=_INDEXES.encode("utf-8"), extra_args=["-n0"])


def username(n: int) -> str:
    return f"bench{n:06d}"


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()  # noqa: S324 - LDAP {SSHA}
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def people_ldif(count: int) -> str:
    """`count` students; one shared hash keeps generation fast (slapd checks each bind anyway)."""
    hashed = ssha(BENCH_PASSWORD)
    entries = []
    for n in range(1, count + 1):
        uid = username(n)
        entries.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: eduPerson\n"
            f"uid: {uid}\ncn: Bench Student {n}\nsn: Student\ngivenName: Bench\n"
            f"mail: {uid}@example.edu\nemployeeNumber: 2026{n:06d}\nou: Bench College\n"
            f"eduPersonAffiliation: student\neduPersonPrincipalName: {uid}@example.edu\n"
            f"userPassword: {hashed}\n")
    return "\n".join(entries)


def start_directory(people: int) -> tuple[BenchSlapd, float]:
    """A running slapd with the demo campus and the password policies (added online, so the
    memberof overlay sees the demo groups) and `people` generated people (slapadd, offline);
    returns it and the seconds slapadd took."""
    server = BenchSlapd()
    server.start()
    server.seed()
    server.terminate()  # slapadd wants the database closed
    server.wait()
    started = time.monotonic()
    server.slapadd(people_ldif(people), ["-n1", "-q"])
    loaded = time.monotonic() - started
    server.resume()
    return server, loaded

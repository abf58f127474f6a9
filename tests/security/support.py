"""Live servers for the security tests: the real app over HTTP with the throttle settings a test
needs (short windows), on the embedded backends or on slapd + Redis, and a slapd whose people
sit under the password policies the flows need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ldap

from idp.settings import ThrottleSettings
from tests.support.server import LiveIdp, start_idp
from tests.support.slapd import SUFFIX, CampusSlapd

PEOPLE = f"ou=people,{SUFFIX}"
POLICIES = f"ou=policies,{SUFFIX}"


async def start_server(root: Path, *, throttle: ThrottleSettings | None = None,
                       **overrides: Any) -> LiveIdp:
    """tests.support.server.start_idp with a [throttle] section of the test's choosing, its
    files under `root`, and the demo people in a local directory."""
    overrides.setdefault("database_url", f"sqlite:///{root}/idp.db")
    overrides.setdefault("keys_dir", root / "keys")
    if throttle is not None:
        overrides["throttle"] = throttle
    return await start_idp(seed=overrides.get("directory", "local") == "local", **overrides)


# --- slapd: people under the policies the flows need --------------------------------------------

SECURITY_POLICIES = f"""dn: cn=lowlock,{POLICIES}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: lowlock
pwdAttribute: userPassword
pwdMaxFailure: 3
pwdLockout: TRUE

dn: cn=strict,{POLICIES}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: strict
pwdAttribute: userPassword
pwdMinLength: 12
pwdCheckQuality: 2
pwdInHistory: 3
pwdMustChange: TRUE
pwdMaxFailure: 5
pwdLockout: TRUE

dn: cn=graced,{POLICIES}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: graced
pwdAttribute: userPassword
pwdMaxAge: 1
pwdGraceAuthNLimit: 3
"""


def person_ldif(uid: str, password: str, *extra: str) -> str:
    lines = [f"dn: uid={uid},{PEOPLE}", "objectClass: inetOrgPerson", "objectClass: eduPerson",
             f"uid: {uid}", f"cn: Test {uid}", f"sn: {uid}", f"mail: {uid}@example.edu",
             f"userPassword: {password}", *extra]
    return "\n".join(lines) + "\n"


def policy(name: str) -> str:
    return f"pwdPolicySubentry: cn={name},{POLICIES}"


def add_people(server: CampusSlapd, *ldif: str) -> None:
    server.ldapadd("\n".join(ldif))


def root_read(server: CampusSlapd, uid: str, *attributes: str) -> dict[str, list[bytes]]:
    """An entry's (operational) attributes as the directory manager sees them."""
    conn = ldap.initialize(server.ldap_uri)
    try:
        conn.simple_bind_s(server.root_dn, server.root_pw)
        return conn.search_s(f"uid={uid},{PEOPLE}", ldap.SCOPE_BASE, "(objectClass=*)",
                             list(attributes))[0][1]
    finally:
        conn.unbind_s()


def failure_count(server: CampusSlapd, uid: str) -> int:
    """How many failed binds slapd's ppolicy is counting toward its lockout."""
    return len(root_read(server, uid, "pwdFailureTime").get("pwdFailureTime", []))


def user_bind_ok(server: CampusSlapd, uid: str, password: str) -> bool:
    conn = ldap.initialize(server.ldap_uri)
    try:
        conn.simple_bind_s(f"uid={uid},{PEOPLE}", password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()

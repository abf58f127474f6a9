"""A throwaway OpenLDAP slapd for the tests, built on python-ldap's `slapdtest`.

It runs the campus shape: mdb under dc=example,dc=edu, the core/cosine/inetorgperson/nis schemas
plus eduPerson (directory/eduperson.ldif), the ppolicy overlay with a default policy, and
optionally the memberof overlay. It can be stopped and started again on the same port, so tests
can watch the IdP lose the directory and recover.

Session-wide use (for tests/conftest.py): `Campus(memberof=True).start()` then `seed(...)`;
`ldap_settings(server)` gives the LdapConfig that reaches it with the demo service account.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import slapdtest

from directory.config import LdapConfig
from directory.demo_people import DEMO_PEOPLE

SUPPORT = Path(__file__).parent
DEMO_LDIF = Path(__file__).parents[2] / "directory" / "demo.ldif"
SUFFIX = "dc=example,dc=edu"
SERVICE_DN = f"cn=idp,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "idp-service-secret"
DEFAULT_POLICY = f"cn=default,ou=policies,{SUFFIX}"
MAX_FAILURE = 5

# slapdtest's template plus the overlay modules and ACLs: passwords are only usable to bind, and
# the person's own access to their password is PASSWORD_ACLS[...] (all three are common on campus)
_CONFIG = r"""dn: cn=config
objectClass: olcGlobal
cn: config
olcServerID: %(serverid)s
olcLogLevel: %(loglevel)s
olcAuthzRegexp: {0}"gidnumber=%(root_gid)s\+uidnumber=%(root_uid)s,cn=peercred,cn=external,
"""
# a line too long for the linter, folded the LDIF way: a leading space continues the line above
_CONFIG += r""" cn=auth" "%(rootdn)s"
olcTLSCACertificateFile: %(cafile)s
olcTLSCertificateFile: %(servercert)s
olcTLSCertificateKeyFile: %(serverkey)s
olcTLSVerifyClient: never

dn: cn=module,cn=config
objectClass: olcModuleList
cn: module
olcModuleLoad: back_%(database)s
olcModuleLoad: ppolicy
%(memberof_module)s

dn: olcDatabase=%(database)s,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: %(database)s
olcSuffix: %(suffix)s
olcRootDN: %(rootdn)s
olcRootPW: %(rootpw)s
olcDbDirectory: %(directory)s
olcAccess: {0}to attrs=userPassword %(password_acl)s by anonymous auth by * none
olcAccess: {1}to * by * read
"""

# what `by self` may do with userPassword: "write" includes reading it (so slapd can verify an
# old password the person sends), "=xw" is auth + write, "=w" is write only (slapd will not
# verify an old password then: "unwilling to verify old password")
PASSWORD_ACLS = ("by self write", "by self =xw", "by self =w")

_PPOLICY = f"""dn: olcOverlay=ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: ppolicy
olcPPolicyDefault: {DEFAULT_POLICY}
olcPPolicyUseLockout: TRUE
olcPPolicyHashCleartext: TRUE
"""

_MEMBEROF = """dn: olcOverlay=memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
"""

# default: lock after MAX_FAILURE wrong binds, force a change after an admin reset.
# "short": passwords expire after one second with no grace logins (the expired-password case).
# "warned": passwords expire in 30 days and every bind is warned (timeBeforeExpiration).
POLICIES_LDIF = f"""dn: ou=policies,{SUFFIX}
objectClass: organizationalUnit
ou: policies

dn: {DEFAULT_POLICY}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMaxFailure: {MAX_FAILURE}
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdMustChange: TRUE
pwdMaxAge: 0
pwdGraceAuthNLimit: 0

dn: cn=short,ou=policies,{SUFFIX}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: short
pwdAttribute: userPassword
pwdMaxAge: 1
pwdGraceAuthNLimit: 0

dn: cn=warned,ou=policies,{SUFFIX}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: warned
pwdAttribute: userPassword
pwdMaxAge: 2592000
pwdExpireWarning: 5184000
pwdGraceAuthNLimit: 0
"""


class CampusSlapd(slapdtest.SlapdObject):
    """slapd with the campus schema and overlays; `memberof=False` leaves memberOf out;
    `password_acl` is the person's own access to userPassword (one of PASSWORD_ACLS)."""

    suffix = SUFFIX
    root_cn = "Manager"
    root_pw = "manager-secret"
    slapd_loglevel = "0"
    # slapdtest defaults to the current directory for its run dirs: keep the checkout clean
    TMPDIR = tempfile.gettempdir()
    openldap_schema_files = (
        "core.ldif",
        "cosine.ldif",
        "inetorgperson.ldif",
        "nis.ldif",
        str(DEMO_LDIF.parent / "eduperson.ldif"),
    )

    def __init__(self, *, memberof: bool = True, password_acl: str = PASSWORD_ACLS[0]) -> None:
        if password_acl not in PASSWORD_ACLS:
            raise ValueError(f"password_acl must be one of {PASSWORD_ACLS}")
        self.memberof = memberof
        # the template is %-formatted by slapdtest: pick the module line and ACL before it does
        module = "olcModuleLoad: memberof" if memberof else ""
        self.slapd_conf_template = _CONFIG.replace("%(memberof_module)s", module).replace(
            "%(password_acl)s", password_acl)
        super().__init__()

    def _write_config(self) -> None:
        super()._write_config()
        overlays = _PPOLICY + ("\n" + _MEMBEROF if self.memberof else "")
        self.slapadd(overlays, ["-n0"])

    # --- seeding -----------------------------------------------------------------------------

    def seed(self, *ldif_texts: str) -> None:
        """Add the demo directory, the password policies and any extra LDIF, online (so the
        overlays see every add: memberOf is maintained, ppolicy stamps pwdChangedTime)."""
        self.ldapadd(DEMO_LDIF.read_text(encoding="utf-8"))
        self.ldapadd(POLICIES_LDIF)
        for text in ldif_texts:
            if text.strip():
                self.ldapadd(text)

    # --- stop and start again on the same port -------------------------------------------------

    def pause(self) -> None:
        """Stop slapd but keep its data and port, for `resume`."""
        if self._proc is not None:
            self.terminate()
            self.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None


@dataclass
class Campus:
    """A running, seeded slapd and when its people were added (expiry needs > 1 s)."""

    server: CampusSlapd
    seeded_at: float = field(default_factory=time.monotonic)

    def wait_for_expiry(self) -> None:
        """Sleep until passwords under the one-second "short" policy have surely expired."""
        remaining = self.seeded_at + 2.1 - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


def ldap_settings(server: CampusSlapd, **overrides: object) -> LdapConfig:
    """The LdapConfig that reaches `server` through the demo service account, with short timeouts."""
    values: dict[str, object] = {
        "url": server.ldap_uri.rstrip("/"),
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_base": f"ou=people,{SUFFIX}",
        "group_base": f"ou=groups,{SUFFIX}",
        "timeout": 3.0,
        "network_timeout": 1.0,
        "pool_size": 2,
        "threads": 4,
    }
    values.update(overrides)
    return LdapConfig.model_validate(values)


def demo_password(username: str) -> str:
    return next(person.password for person in DEMO_PEOPLE if person.username == username)


def cafile() -> str:
    """The CA that signed slapdtest's server certificate (CN localhost), for TLS tests."""
    return os.path.join(os.path.dirname(slapdtest.__file__), "certs", "ca.pem")

"""The demo campus inside the Samba AD DC (tests/support/samba_dc.py), written over LDAPS as the
domain administrator the way a campus's own tools would write it.

- A read-only service account (any domain user may read what campus-idp reads) and a writer
  account with rights delegated on OU=people and OU=groups only (`delegate`).
- The domain password policy: complexity off and no minimum age (the demo passwords are simple,
  and the tests change passwords back and forth), lockoutThreshold LOCKOUT_THRESHOLD.
- The demo people and groups, with one level of real nesting: the teacher is a direct member of
  "faculty" only, and "faculty" is a member of "staff", so "staff" reaches the teacher through the
  in-chain matching rule alone. A deeper chain with a cycle (g-outer > g-middle > g-inner >
  nested > g-outer) for the nested-group tests.
- The contract suite's special people (tests/directory/conftest.py SPECIAL_PASSWORDS) in the
  states AD gives them: locked by wrong binds (775), must change by pwdLastSet 0 (773), expired
  (532: a password set in 2012, under a fine-grained policy), and a disabled account (533).
- That fine-grained policy (PSO) locks after PSO_LOCKOUT_THRESHOLD wrong passwords, fewer than
  the domain; as on Windows, only Domain Admins may read it.
"""

from __future__ import annotations

import struct
import subprocess

import ldap

from tests.support.samba_dc import (
    ACCOUNTDISABLE,
    ADMIN_DN,
    AFFILIATION_ATTRIBUTE,
    BASE,
    DEMO_GROUPS,
    DEMO_PEOPLE,
    DONT_EXPIRE_PASSWORD,
    GROUPS,
    LOCKOUT_THRESHOLD,
    NORMAL_ACCOUNT,
    PEOPLE,
    SERVICE_PASSWORD,
    SERVICES,
    WRITER_DN,
    WRITER_PASSWORD,
    SambaDC,
    SambaDCError,
    ad_password,
)

# groups a demo person belongs to only through another group (the nesting under test)
NESTED_DEMO = {"staff": ["faculty"]}
PSO_DN = f"CN=campus-pso,CN=Password Settings Container,CN=System,{BASE}"
# 2012: AD lets LDAP set pwdLastSet to 0 or -1 only; the DC's own database takes any time
# under the control Samba's upgrades use to import passwords (dsdb DSDB_CONTROL_PASSWORD_BYPASS_LAST_SET)
LONG_AGO = 130000000000000000
PSO_LOCKOUT_THRESHOLD = 3  # stricter than the domain's, as a PSO for staff often is
BYPASS_LAST_SET = "local_oid:1.3.6.1.4.1.7165.4.3.20:0"
DISABLED_PASSWORD = "disabled-pass-1"
NESTED_PASSWORD = "nested-pass-1"
NESTED_GROUPS = ("g-inner", "g-middle", "g-outer")


def _b(value: str | int) -> list[bytes]:
    return [str(value).encode("utf-8")]


# schemaIDGUIDs (MS-ADSC): the user and group classes, the member attribute
USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"
GROUP_CLASS = "bf967a9c-0de6-11d0-a285-00aa003049e2"
MEMBER_ATTRIBUTE = "bf9679c0-0de6-11d0-a285-00aa003049e2"


def _sid(raw: bytes) -> str:
    """A binary objectSid as S-1-5-21-... (MS-DTYP 2.4.2.2)."""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:8 + 4 * count])
    return f"S-{raw[0]}-{authority}-" + "-".join(str(sub) for sub in subs)


def delegate(dc: SambaDC, account_sid: str) -> None:
    """What README tells an AD admin to delegate to IDP_LDAP_ADMIN_BIND_DN: on the people OU,
    create and delete user objects and full control of them (reset password, userAccountControl,
    lockoutTime, pwdLastSet, the person fields); on the groups OU, write `member` of groups."""
    aces = {
        PEOPLE: f"(OA;CI;CCDC;{USER_CLASS};;{account_sid})(OA;CIIO;GA;;{USER_CLASS};{account_sid})",
        GROUPS: f"(OA;CIIO;RPWP;{MEMBER_ATTRIBUTE};{GROUP_CLASS};{account_sid})",
    }
    for dn, sddl in aces.items():
        done = subprocess.run(
            ["samba-tool", "dsacl", "set", "-H", str(dc.root / "dc" / "private" / "sam.ldb"),
             f"--objectdn={dn}", f"--sddl={sddl}"],
            capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise SambaDCError(f"samba-tool dsacl set on {dn} failed: {done.stdout}{done.stderr}")


def _domain_policy(conn: ldap.ldapobject.LDAPObject) -> None:
    conn.modify_s(BASE, [
        (ldap.MOD_REPLACE, "pwdProperties", _b(0)),  # no complexity
        (ldap.MOD_REPLACE, "minPwdAge", _b(0)),
        (ldap.MOD_REPLACE, "minPwdLength", _b(6)),
        (ldap.MOD_REPLACE, "pwdHistoryLength", _b(0)),
        (ldap.MOD_REPLACE, "lockoutThreshold", _b(LOCKOUT_THRESHOLD)),
        # 30 minutes, in AD's negative 100-nanosecond intervals
        (ldap.MOD_REPLACE, "lockoutDuration", _b(-18_000_000_000)),
        (ldap.MOD_REPLACE, "lockOutObservationWindow", _b(-18_000_000_000)),
    ])


def _group(conn: ldap.ldapobject.LDAPObject, name: str, description: str | None,
           members: list[str]) -> None:
    entry = [
        ("objectClass", [b"top", b"group"]),
        ("sAMAccountName", _b(name)),
        ("groupType", _b(-2147483646)),  # global security group
    ]
    if description:
        entry.append(("description", _b(description)))
    if members:
        entry.append(("member", [dn.encode() for dn in members]))
    conn.add_s(f"CN={name},{GROUPS}", entry)


def _fine_grained_policy(conn: ldap.ldapobject.LDAPObject, person_dn: str) -> None:
    """A fine-grained password policy (MS-ADTS 3.1.1.5.3.1.2) for one person: passwords live
    two days (Samba treats a maximum age under one day as "never expires"), and three wrong
    passwords lock, where the domain allows five."""
    two_days = -2 * 864_000_000_000
    conn.add_s(PSO_DN, [
        ("objectClass", [b"msDS-PasswordSettings"]),
        ("msDS-PasswordSettingsPrecedence", _b(1)),
        ("msDS-PasswordReversibleEncryptionEnabled", [b"FALSE"]),
        ("msDS-PasswordHistoryLength", _b(0)),
        ("msDS-PasswordComplexityEnabled", [b"FALSE"]),
        ("msDS-MinimumPasswordLength", _b(6)),
        ("msDS-MinimumPasswordAge", _b(0)),
        ("msDS-MaximumPasswordAge", _b(two_days)),
        ("msDS-LockoutThreshold", _b(PSO_LOCKOUT_THRESHOLD)),
        ("msDS-LockoutObservationWindow", _b(-18_000_000_000)),
        ("msDS-LockoutDuration", _b(-18_000_000_000)),
        ("msDS-PSOAppliesTo", [person_dn.encode()]),
    ])


def set_long_ago(dc: SambaDC, person_dn: str) -> None:
    """The person's password was set in 2012, so it has expired (532)."""
    ldif = f"dn: {person_dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: {LONG_AGO}\n"
    done = subprocess.run(
        ["ldbmodify", "-H", str(dc.root / "dc" / "private" / "sam.ldb"), f"--controls={BYPASS_LAST_SET}"],
        input=ldif, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise SambaDCError(f"ldbmodify pwdLastSet failed: {done.stdout}{done.stderr}")


def seed_campus(dc: SambaDC, special_passwords: dict[str, str]) -> None:
    conn = dc.admin()
    try:
        _domain_policy(conn)
        for ou in ("people", "groups", "services"):
            conn.add_s(f"OU={ou},{BASE}", [("objectClass", [b"top", b"organizationalUnit"])])
        # the service account: an ordinary domain user (every user may read the directory)
        conn.add_s(f"CN=idp-service,{SERVICES}", [
            ("objectClass", [b"top", b"person", b"organizationalPerson", b"user"]),
            ("sAMAccountName", _b("idp-service")),
            ("unicodePwd", [ad_password(SERVICE_PASSWORD)]),
            ("userAccountControl", _b(NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD)),
        ])
        conn.add_s(WRITER_DN, [
            ("objectClass", [b"top", b"person", b"organizationalPerson", b"user"]),
            ("sAMAccountName", _b("idp-writer")),
            ("unicodePwd", [ad_password(WRITER_PASSWORD)]),
            ("userAccountControl", _b(NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD)),
        ])
        writer_sid = _sid(conn.search_s(WRITER_DN, ldap.SCOPE_BASE, "(objectClass=*)",
                                        ["objectSid"])[0][1]["objectSid"][0])
        people: dict[str, str] = {}
        for demo in DEMO_PEOPLE:
            people[demo.username] = dc.add_person(
                conn, demo.username, demo.password, name=demo.name, givenName=demo.given_name,
                # both number attributes AD has: the profile reads employeeID, and the
                # contract's /activate facts ask for employeeNumber by its LDAP name
                sn=demo.family_name, mail=demo.email, employeeID=demo.number,
                employeeNumber=demo.number,
                department=demo.department, title=demo.title or "",
                telephoneNumber=demo.phone or "", **{AFFILIATION_ATTRIBUTE: list(demo.affiliations)})
        for username, password in special_passwords.items():
            cn = "Liu, Yang" if username == "liuyang" else None
            people[username] = dc.add_person(conn, username, password, name=username.title(), cn=cn)
        dc.add_person(conn, "disabled", DISABLED_PASSWORD, name="Disabled",
                      control=NORMAL_ACCOUNT | ACCOUNTDISABLE)
        nested = dc.add_person(conn, "nested", NESTED_PASSWORD, name="Nested Person")

        # groups: direct members, then the nesting (a group added before its parent)
        for name in ("faculty", *[g for g in DEMO_GROUPS if g != "faculty"]):
            nested_in = [f"CN={child},{GROUPS}" for child in NESTED_DEMO.get(name, [])]
            direct = [people[demo.username] for demo in DEMO_PEOPLE if name in demo.groups
                      and not any(child in demo.groups for child in NESTED_DEMO.get(name, []))]
            _group(conn, name, DEMO_GROUPS[name], direct + nested_in)
        _group(conn, "g-inner", None, [nested])
        _group(conn, "g-middle", None, [f"CN=g-inner,{GROUPS}"])
        _group(conn, "g-outer", None, [f"CN=g-middle,{GROUPS}"])
        conn.modify_s(f"CN=g-inner,{GROUPS}", [(ldap.MOD_ADD, "member", [f"CN=g-outer,{GROUPS}".encode()])])

        conn.modify_s(people["mustchange"], [(ldap.MOD_REPLACE, "pwdLastSet", _b(0))])
        _fine_grained_policy(conn, people["expired"])
    finally:
        conn.unbind_s()
    set_long_ago(dc, people["expired"])
    delegate(dc, writer_sid)
    dc.fail_binds("locked", LOCKOUT_THRESHOLD)


# AD has no eduPersonOrcid: the linked-identity tests correlate on this attribute instead
CORRELATE_ATTRIBUTE = "comment"


def seed_linked(dc: SambaDC, linked: dict[str, tuple[str, str, str, str, str]],
                link_values: dict[str, dict[str, list[str]]]) -> None:
    """The contract suite's linked identities (tests/directory/conftest.py LINKED): seeAlso
    names the other entry by DN, the correlation value sits in CORRELATE_ATTRIBUTE, `linkgone`
    is disabled and `linkwide` links outside the people OU (to the domain administrator)."""
    conn = dc.admin()
    try:
        for username, (name, password, affiliation, number, department) in linked.items():
            attributes: dict[str, str | list[str]] = {
                AFFILIATION_ATTRIBUTE: affiliation, "employeeID": number, "department": department}
            for attribute, values in link_values[username].items():
                if attribute == "seeAlso":
                    attributes["seeAlso"] = [
                        ADMIN_DN if value.startswith("cn=admin,") else f"CN={value},{PEOPLE}"
                        for value in values]
                else:
                    attributes[CORRELATE_ATTRIBUTE] = values
            control = NORMAL_ACCOUNT | (ACCOUNTDISABLE if username == "linkgone" else 0)
            dc.add_person(conn, username, password, name=name, control=control, **attributes)
    finally:
        conn.unbind_s()

"""A throwaway Samba Active Directory domain controller for the tests, as a campus runs one.

`samba-tool domain provision` makes a fresh domain (CAMPUS.TEST) in a temporary directory in a
few seconds; `samba -i -M single` serves it in the foreground, LDAP only. Samba's LDAP ports are
fixed (389 and 636, no setting moves them), so one DC serves a whole test session, and a lock
file keeps two sessions on one machine from starting two. Simple binds need an encrypted
connection, so the DC gets a certificate for 127.0.0.1 from a test CA made here, and campus-idp
verifies it with that CA file (IDP_LDAP_CA_FILE), as it would a campus CA.

Starting it can fail (Samba not installed: scripts/bootstrap.sh test installs it; not root; the
ports taken): then `start` raises with Samba's own words, so the tests fail loudly, never skip.

The domain holds the demo people and groups (directory/demo_people.py) in OU=people and
OU=groups, a read-only service account, and the people in special states the contract suite
needs: disabled (533), must change (773, pwdLastSet 0), expired (532, a fine-grained password
policy whose passwords live one second) and locked (775, lockoutThreshold wrong binds).
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import ldap
import ldap.dn
import ldap.filter
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from directory.config import LdapConfig
from directory.demo_people import DEMO_GROUPS, DEMO_PEOPLE

REALM = "CAMPUS.TEST"
DOMAIN = "CAMPUS"
BASE = "DC=campus,DC=test"
PEOPLE = f"OU=people,{BASE}"
GROUPS = f"OU=groups,{BASE}"
SERVICES = f"OU=services,{BASE}"
HOST = "127.0.0.1"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE}"
ADMIN_PASSWORD = "Campus-Admin-1"
SERVICE_DN = f"CN=idp-service,{SERVICES}"
SERVICE_PASSWORD = "Idp-Service-1"
# the admin console's account: rights delegated on the two OUs only (samba_campus.delegate)
WRITER_DN = f"CN=idp-writer,{SERVICES}"
WRITER_PASSWORD = "Idp-Writer-1"
LOCKOUT_THRESHOLD = 5
# the AD attribute the tests map eduPersonAffiliation to (AD has none of its own)
AFFILIATION_ATTRIBUTE = "businessCategory"
LOCK_FILE = Path(tempfile.gettempdir()) / "campus-idp-samba-dc.lock"
START_SECONDS = 60.0
LOCK_SECONDS = 600.0

# userAccountControl (MS-ADTS 2.2.16)
NORMAL_ACCOUNT = 0x200
ACCOUNTDISABLE = 0x2
DONT_EXPIRE_PASSWORD = 0x10000


def ad_password(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def _text(value: str) -> list[bytes]:
    return [value.encode("utf-8")]


class SambaDCError(RuntimeError):
    """The DC could not be provisioned or started; the message says why, in Samba's words."""


class SambaDC:
    """One provisioned and running Samba AD DC: `start()`, fill it (samba_campus.seed_campus),
    `stop()`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="campus-idp-dc-"))
        self.ca_file = str(self.root / "tls" / "ca.pem")
        self.url = f"ldaps://{HOST}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._take_lock()
            self._make_certificates()
            self._provision()
            self._serve()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        """389/636 can hold one DC: a second test session on this machine waits for the first."""
        self._lock = open(LOCK_FILE, "a")  # noqa: SIM115 - held until stop()
        deadline = time.monotonic() + LOCK_SECONDS
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SambaDCError(
                        f"another test session has held {LOCK_FILE} (the Samba DC on ports "
                        f"389/636) for {LOCK_SECONDS:.0f} s") from None
                time.sleep(1)

    def _make_certificates(self) -> None:
        """A test CA and the DC's certificate for 127.0.0.1 signed by it (the campus CA)."""
        tls = self.root / "tls"
        tls.mkdir()
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Campus Test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dc1.campus.test")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("dc1.campus.test")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (tls / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (tls / "dc.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file = tls / "dc.key"
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        key_file.chmod(0o600)  # Samba refuses a key file others may read

    def _options(self) -> list[str]:
        run = self.root / "run"
        run.mkdir(exist_ok=True)
        tls = self.root / "tls"
        options = {
            "interfaces": HOST,
            "bind interfaces only": "yes",
            "server services": "ldap",  # no SMB, DNS, Kerberos: nothing else takes a port
            "tls enabled": "yes",
            "tls keyfile": str(tls / "dc.key"),
            "tls certfile": str(tls / "dc.pem"),
            "tls cafile": str(tls / "ca.pem"),
            # everything the DC writes stays in its directory, never in /run or /var/log
            "pid directory": str(run),
            "ncalrpc dir": str(run / "ncalrpc"),
            "winbindd socket directory": str(run / "winbindd"),
            "log file": str(self.root / "samba.log"),
        }
        return [f"--option={name} = {value}" for name, value in options.items()]

    def _provision(self) -> None:
        command = [
            "samba-tool", "domain", "provision", "--use-rfc2307", f"--realm={REALM}",
            f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE", "--host-name=dc1",
            f"--adminpass={ADMIN_PASSWORD}", f"--targetdir={self.root / 'dc'}", *self._options(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except FileNotFoundError as exc:
            raise SambaDCError("samba-tool not found: run scripts/bootstrap.sh test "
                               "(it installs Debian's samba, samba-ad-provision, ...)") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise SambaDCError(f"samba-tool domain provision failed:\n{tail}")

    def _serve(self) -> None:
        for port in (389, 636):
            if _listening(port):
                raise SambaDCError(f"something already listens on {HOST}:{port}: the Samba DC "
                                   "needs ports 389 and 636 (see `ss -ltnp 'sport = :{port}'`)")
        log = open(self.root / "samba.out", "wb")  # noqa: SIM115 - Samba writes it until stopped
        self._proc = subprocess.Popen(
            ["samba", "-i", "-M", "single", "-s", str(self.root / "dc" / "etc" / "smb.conf")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SambaDCError(f"samba exited with {self._proc.returncode}:\n{self._output()}")
            try:
                self.admin().unbind_s()
                return
            except ldap.LDAPError as exc:
                last = exc
                time.sleep(0.3)
        raise SambaDCError(f"the Samba DC did not answer on {self.url} within {START_SECONDS:.0f} s "
                           f"({last}):\n{self._output()}")

    def _output(self) -> str:
        try:
            return "\n".join((self.root / "samba.out").read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    # --- connections ------------------------------------------------------------------------------

    def connect(self, dn: str, password: str) -> ldap.ldapobject.LDAPObject:
        conn = ldap.initialize(self.url)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5.0)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, self.ca_file)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        conn.simple_bind_s(dn, password)
        return conn

    def admin(self) -> ldap.ldapobject.LDAPObject:
        return self.connect(ADMIN_DN, ADMIN_PASSWORD)

    def settings(self, **overrides: object) -> LdapConfig:
        """The LdapConfig that reaches this DC with the service account, as README's
        "Connect Active Directory" section sets it."""
        values: dict[str, object] = {
            "url": self.url,
            "profile": "activedirectory",
            "ca_file": self.ca_file,
            "bind_dn": SERVICE_DN,
            "bind_password": SERVICE_PASSWORD,
            "user_base": PEOPLE,
            "user_filter": "(&(objectClass=user)(sAMAccountName={username}))",
            "group_base": GROUPS,
            "attributes": {"affiliations": AFFILIATION_ATTRIBUTE},
            "timeout": 5.0,
            "network_timeout": 2.0,
            "pool_size": 2,
            "threads": 4,
        }
        values.update(overrides)
        return LdapConfig.model_validate(values)

    def environment(self, **overrides: object) -> dict[str, str]:
        """The same settings as the IDP_LDAP_* variables README's "Connect Active Directory"
        section exports (with the admin account), for `idp` run as a command."""
        config = self.admin_settings(**overrides)
        env = {"IDP_DIRECTORY": "ldap"}
        for name in ("url", "profile", "ca_file", "bind_dn", "user_base", "user_filter",
                     "group_base", "admin_bind_dn"):
            env[f"IDP_LDAP_{name.upper()}"] = str(getattr(config, name))
        env["IDP_LDAP_BIND_PASSWORD"] = config.bind_password.get_secret_value()
        env["IDP_LDAP_ADMIN_BIND_PASSWORD"] = config.admin_bind_password.get_secret_value()
        env["IDP_LDAP_ATTRIBUTES"] = ",".join(f"{k}={v}" for k, v in config.attributes.items())
        return env

    def admin_settings(self, **overrides: object) -> LdapConfig:
        """With the delegated writer account as IDP_LDAP_ADMIN_BIND_DN (not a Domain Admin)."""
        values: dict[str, object] = {"admin_bind_dn": WRITER_DN, "admin_bind_password": WRITER_PASSWORD}
        values.update(overrides)
        return self.settings(**values)

    # --- reading and writing as the domain administrator -------------------------------------------

    def entry(self, dn: str, attributes: Iterable[str]) -> dict[str, list[bytes]]:
        conn = self.admin()
        try:
            return conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(attributes))[0][1]
        finally:
            conn.unbind_s()

    def modify(self, dn: str, modlist: list[tuple[int, str, list[bytes] | None]]) -> None:
        conn = self.admin()
        try:
            conn.modify_s(dn, modlist)
        finally:
            conn.unbind_s()

    def person_dn(self, username: str) -> str:
        conn = self.admin()
        try:
            found = conn.search_s(PEOPLE, ldap.SCOPE_SUBTREE,
                                  ldap.filter.filter_format("(sAMAccountName=%s)", [username]), ["1.1"])
        finally:
            conn.unbind_s()
        dns = [dn for dn, _attrs in found if dn]
        if len(dns) != 1:
            raise LookupError(f"{username!r}: {len(dns)} entries")
        return dns[0]

    def fail_binds(self, username: str, count: int) -> None:
        """`count` binds with a wrong password, as a guesser would send them."""
        dn = self.person_dn(username)
        for _ in range(count):
            conn = ldap.initialize(self.url)
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, self.ca_file)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
            try:
                conn.simple_bind_s(dn, "not-the-password")
            except ldap.INVALID_CREDENTIALS:
                pass
            finally:
                conn.unbind_s()

    def add_person(self, conn: ldap.ldapobject.LDAPObject, username: str, password: str, *,
                   name: str | None = None, cn: str | None = None, control: int = NORMAL_ACCOUNT,
                   **attributes: str | list[str]) -> str:
        dn = f"CN={ldap.dn.escape_dn_chars(cn or username)},{PEOPLE}"
        entry: dict[str, list[bytes]] = {
            "objectClass": [b"top", b"person", b"organizationalPerson", b"user"],
            "sAMAccountName": _text(username),
            "userPrincipalName": _text(f"{username}@example.edu"),
            "displayName": _text(name or username),
            "unicodePwd": [ad_password(password)],
            "userAccountControl": _text(str(control)),
        }
        for attribute, value in attributes.items():
            values = [value] if isinstance(value, str) else value
            entry[attribute] = [item.encode("utf-8") for item in values if item]
        conn.add_s(dn, [(key, values) for key, values in entry.items() if values])
        return dn


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies, so a
    killed session leaves no DC holding 389/636 (Linux PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


__all__ = ["DEMO_GROUPS", "DEMO_PEOPLE", "SambaDC", "SambaDCError"]

"""Persistence and key material for the KeyRing (idp/keys/ring.py): the keyring file, its
locking, generating keys and parsing them (the JWS signing and verification itself is
idp/keys/jws.py).

The whole ring lives in one file, ``<keys_dir>/keyring.json`` (mode 0600, directory 0700):

    {"version": 1, "generation": 3,
     "keys": [{"kid": …, "alg": "RS256", "state": "current", "created_at": …,
               "retired_at": null, "jwk": {…private JWK…}}, …]}

One file, replaced atomically (temp file + fsync + os.replace), means a reader in another process
sees either the old ring or the new one, never half of each, without taking any lock. Writers
(first start, rotation) serialise on an flock()ed ``.lock`` file so two replicas starting together
or a CLI rotation racing a server cannot lose each other's keys.

Private key material must never reach a log or an exception message: errors here name the file
and what is wrong with it, never the content.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

KEYRING_FILE = "keyring.json"
LOCK_FILE = ".lock"
FORMAT_VERSION = 1

KeyState = Literal["current", "next", "retired"]
KEY_STATES: tuple[KeyState, ...] = ("current", "next", "retired")

# alg -> (kty, what to generate). RS256 is the OIDC default (Core §15.1); ES256 is ~10x cheaper
# to sign with, so both are always present.
SUPPORTED_ALGS: dict[str, str] = {"RS256": "RSA", "ES256": "EC"}
RSA_KEY_BITS = 2048
EC_CURVE = "P-256"

# A stat() result that changes whenever the file is replaced: os.replace() gives it a new inode
# and a new ctime, so even two writes within one mtime tick are told apart.
FileStamp = tuple[int, int, int, int]


class KeyRingError(Exception):
    """The keys directory or keyring file is unusable; the message says which and why."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One signing key as persisted. ``private_jwk`` holds private parameters: never log it."""

    kid: str
    alg: str
    state: KeyState
    created_at: float
    retired_at: float | None
    private_jwk: dict[str, Any]

    def __repr__(self) -> str:  # keep private material out of tracebacks and debug logs
        return f"KeyRecord(kid={self.kid!r}, alg={self.alg!r}, state={self.state!r})"


def generate_key(alg: str, state: KeyState, now: float) -> KeyRecord:
    """A fresh private key for ``alg``; its kid is the RFC 7638 §3 SHA-256 JWK thumbprint."""
    key: RSAKey | ECKey
    if alg == "RS256":
        key = RSAKey.generate_key(RSA_KEY_BITS)
    elif alg == "ES256":
        key = ECKey.generate_key(EC_CURVE)
    else:
        raise KeyRingError(f"unsupported signing algorithm {alg!r}")
    return KeyRecord(
        kid=key.thumbprint(),
        alg=alg,
        state=state,
        created_at=now,
        retired_at=None,
        private_jwk=dict(key.as_dict(private=True)),
    )


def import_private_key(record: KeyRecord) -> RSAKey | ECKey:
    """Parse a record's JWK and check it is what the record claims (kid, type, size, private)."""
    try:
        key = import_key(record.private_jwk)
    except (JoseError, ValueError, TypeError) as err:
        raise KeyRingError(f"key {record.kid!r}: unreadable JWK ({type(err).__name__})") from None
    expected_kty = SUPPORTED_ALGS[record.alg]
    if key.key_type != expected_kty:
        raise KeyRingError(f"key {record.kid!r}: alg {record.alg} needs a {expected_kty} key")
    if not key.is_private:
        raise KeyRingError(f"key {record.kid!r}: the private part is missing")
    if isinstance(key, RSAKey) and key.private_key.key_size < RSA_KEY_BITS:
        raise KeyRingError(f"key {record.kid!r}: RSA keys must have at least {RSA_KEY_BITS} bits")
    if isinstance(key, ECKey) and key.curve_name != EC_CURVE:
        raise KeyRingError(f"key {record.kid!r}: ES256 needs curve {EC_CURVE}")
    # A kid that is not the thumbprint means the file was edited by hand or corrupted; trusting
    # it would let two different keys share a kid.
    if key.thumbprint() != record.kid:
        raise KeyRingError(f"key {record.kid!r}: kid is not the RFC 7638 thumbprint of the key")
    return key


def ensure_keys_dir(keys_dir: Path) -> None:
    """Create the keys directory with mode 0700 (only the idp user may even list it)."""
    if keys_dir.exists():
        if not keys_dir.is_dir():
            raise KeyRingError(f"keys_dir {keys_dir} exists and is not a directory")
        return
    try:
        keys_dir.mkdir(mode=0o700, parents=True)
        # mkdir's mode is masked by the umask; make the intent exact.
        os.chmod(keys_dir, 0o700)
    except OSError as err:
        raise KeyRingError(f"cannot create keys_dir {keys_dir}: {err.strerror}") from None


@contextmanager
def writer_lock(keys_dir: Path) -> Iterator[None]:
    """Exclusive lock across processes for read-modify-write of the keyring file."""
    try:
        fd = os.open(keys_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise KeyRingError(f"cannot open lock file in {keys_dir}: {err.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def file_stamp(keys_dir: Path) -> FileStamp | None:
    """One stat() call: cheap enough to run every few seconds from the server."""
    try:
        st = os.stat(keys_dir / KEYRING_FILE)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def file_mode(keys_dir: Path) -> int:
    return stat.S_IMODE(os.stat(keys_dir / KEYRING_FILE).st_mode)


def read_ring(keys_dir: Path) -> tuple[int, list[KeyRecord]] | None:
    """(generation, records) from the keyring file, or None when there is no file yet."""
    path = keys_dir / KEYRING_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise KeyRingError(f"cannot read {path}: {err.strerror}") from None
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        # The decoder's message may quote the file, i.e. key material: keep only the position.
        raise KeyRingError(f"{path} is not valid JSON") from None
    return _parse_ring(path, document)


def _parse_ring(path: Path, document: Any) -> tuple[int, list[KeyRecord]]:
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise KeyRingError(f"{path}: not a version {FORMAT_VERSION} keyring file")
    generation = document.get("generation")
    entries = document.get("keys")
    if not isinstance(generation, int) or not isinstance(entries, list):
        raise KeyRingError(f"{path}: 'generation' must be an integer and 'keys' a list")
    records = [_parse_record(path, index, entry) for index, entry in enumerate(entries)]
    return generation, records


def _parse_record(path: Path, index: int, entry: Any) -> KeyRecord:
    where = f"{path}: keys[{index}]"
    if not isinstance(entry, dict):
        raise KeyRingError(f"{where} is not an object")
    kid, alg, state = entry.get("kid"), entry.get("alg"), entry.get("state")
    created_at, retired_at, jwk = entry.get("created_at"), entry.get("retired_at"), entry.get("jwk")
    if not isinstance(kid, str) or not kid:
        raise KeyRingError(f"{where}: 'kid' must be a non-empty string")
    if alg not in SUPPORTED_ALGS:
        raise KeyRingError(f"{where}: unsupported alg {alg!r} (supported: RS256, ES256)")
    if state not in KEY_STATES:
        raise KeyRingError(f"{where}: state must be one of {', '.join(KEY_STATES)}")
    if not _is_timestamp(created_at):
        raise KeyRingError(f"{where}: 'created_at' must be a number")
    if state == "retired" and not _is_timestamp(retired_at):
        raise KeyRingError(f"{where}: a retired key needs a numeric 'retired_at'")
    if state != "retired" and retired_at is not None:
        raise KeyRingError(f"{where}: only retired keys have 'retired_at'")
    if not isinstance(jwk, dict):
        raise KeyRingError(f"{where}: 'jwk' must be an object")
    return KeyRecord(kid, alg, state, float(created_at), retired_at, jwk)


def _is_timestamp(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def write_ring(keys_dir: Path, generation: int, records: list[KeyRecord]) -> None:
    """Atomically replace the keyring file; the new file is 0600 from its first byte."""
    document = {
        "version": FORMAT_VERSION,
        "generation": generation,
        "keys": [
            {
                "kid": r.kid,
                "alg": r.alg,
                "state": r.state,
                "created_at": r.created_at,
                "retired_at": r.retired_at,
                "jwk": r.private_jwk,
            }
            for r in records
        ],
    }
    data = json.dumps(document, indent=1).encode()
    target = keys_dir / KEYRING_FILE
    temp = keys_dir / f".{KEYRING_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask could only narrow it, but be exact
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise KeyRingError(f"cannot write {target}: {err.strerror}") from None
    # Make the rename itself durable, so a crash cannot bring back the pre-rotation ring.
    dir_fd = os.open(keys_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- ring transformations (pure; the caller persists the result) ---------------------------


def rotate_records(records: Iterable[KeyRecord], algs: list[str], now: float) -> list[KeyRecord]:
    rotated: list[KeyRecord] = []
    for record in records:
        if record.alg in algs and record.state == "current":
            record = replace(record, state="retired", retired_at=now)
        elif record.alg in algs and record.state == "next":
            record = replace(record, state="current")
        rotated.append(record)
    # complete_ring() then generates the missing next key for each rotated alg.
    return rotated


def drop_expired(records: Iterable[KeyRecord], now: float, retire_after: float) -> list[KeyRecord]:
    return [r for r in records if r.state != "retired" or now - (r.retired_at or 0.0) < retire_after]


def complete_ring(records: list[KeyRecord], now: float, retire_after: float) -> list[KeyRecord]:
    """Drop expired retired keys and make sure every alg has exactly one current and one next."""
    completed = drop_expired(records, now, retire_after)
    for alg in SUPPORTED_ALGS:
        for state in ("current", "next"):
            if not any(r.alg == alg and r.state == state for r in completed):
                completed.append(generate_key(alg, state, now))
    return completed

"""KeyRing: the provider's signing keys, their rotation, and the JWKS that publishes them.

For each algorithm (RS256, ES256) the ring holds:
- a **current** key, which signs everything (ID tokens, RFC 9068 access tokens, logout tokens);
- a **next** key, already published in the JWKS, so relying parties that cache the JWKS know it
  before it signs anything (OIDC Core §10.1.1 "rotation of asymmetric signing keys");
- **retired** keys, still published and still verified for ``retire_after`` seconds after they
  stopped signing, so tokens issued before a rotation keep verifying until they expire.

kids are RFC 7638 JWK thumbprints: stable across restarts, unique, and checkable.

``retire_after`` (default 7 days) must exceed the longest lifetime of a token we sign plus the
time relying parties cache the JWKS; after it a retired key leaves the JWKS and stops verifying.

Sharing between processes (replicas on one keys dir, ``idp keys rotate`` from the CLI): a
rotation rewrites ``keyring.json`` atomically; ``reload_if_changed()`` notices it with one
``stat()``. **Bound:** a process adopts another's rotation at its next ``reload_if_changed()``,
i.e. within the server's polling interval; a token with a kid it does not know triggers that check
at once (at most once per ``MISS_RELOAD_INTERVAL``). Meanwhile nothing breaks: it signs with its
old current key, which the rotation kept as retired, and verifies the other process's new tokens
because their key was this process's ``next``.

Verification is on the hot path (every userinfo, introspection and admin API call), so it parses
the compact JWS itself and calls cryptography directly (keys_store.parse_compact, Verifier)
instead of joserfc's generic machinery; joserfc still imports keys and is the interop reference
in the tests. Tokens already verified are remembered until their exp, so a repeated token skips
only the signature maths: the key must still be in the live ring, and every claim check runs on
every call. Revocation is not this module's business: callers check the jti on every use.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.keys.files import (
    SUPPORTED_ALGS,
    FileStamp,
    KeyRecord,
    KeyRingError,
    complete_ring,
    drop_expired,
    ensure_keys_dir,
    file_mode,
    file_stamp,
    import_private_key,
    read_ring,
    rotate_records,
    write_ring,
    writer_lock,
)
from idp.keys.jws import MalformedJWS, Signer, Verifier, b64url_decode, parse_compact

__all__ = ["InvalidToken", "KeyRing", "KeyRingError", "SUPPORTED_ALGS"]

log = logging.getLogger(__name__)

DEFAULT_RETIRE_AFTER = 7 * 86400
MAX_TOKEN_LENGTH = 16 * 1024  # far above any token we issue; bounds work done on garbage
MISS_RELOAD_INTERVAL = 1.0  # seconds between "unknown kid, did someone rotate?" checks
# Tokens whose signature was already checked, kept until their exp: a resource server or the
# bench asks about the same access token again and again. Bounded so memory use is too.
VERIFIED_CACHE_SIZE = 2048
# JWKS order: current keys first, RS256 first (the OIDC default), for clients that take keys[0].
_STATE_ORDER = {"current": 0, "next": 1, "retired": 2}
_ALG_ORDER = {alg: index for index, alg in enumerate(SUPPORTED_ALGS)}


class InvalidToken(Exception):
    """A token that must not be trusted; the message says why (safe to log, never to echo keys)."""


@dataclass(frozen=True, slots=True)
class _Material:
    """Parsed key objects for one kid; built once and reused across rotations and reloads."""

    alg: str
    verifier: Verifier
    public_jwk: dict[str, Any]
    signer: Signer


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature checked out: what verify() needs to answer again without the maths.

    JSON text rather than dicts, so every caller gets fresh objects it may modify."""

    verifier: Verifier  # identity-compared with the live ring's: a key gone from it is a miss
    header_json: str
    payload_json: str
    exp: float


@dataclass(frozen=True, slots=True)
class _Ring:
    """An immutable snapshot of the ring: swapping the attribute is the only update."""

    records: tuple[KeyRecord, ...]
    material: dict[str, _Material]
    signers: dict[str, Signer]  # alg -> signer of the current key
    jwks_json: bytes
    stamp: FileStamp | None
    expires_at: float  # when the oldest retired key leaves the ring (inf: none retired)
    generation: int


class KeyRing:
    """Signing keys persisted under ``keys_dir``. Build it with :meth:`KeyRing.open`."""

    def __init__(self, keys_dir: Path, ring: _Ring, retire_after: float, clock: Callable[[], float]) -> None:
        self.keys_dir = keys_dir
        self._ring = ring
        self._retire_after = retire_after
        self._clock = clock
        self._write_lock = threading.Lock()
        self._last_miss_check = -math.inf
        self._verified: dict[bytes, _Verified] = {}
        self._verified_lock = threading.Lock()

    # --- opening and persistence ---------------------------------------------------------

    @classmethod
    def open(
        cls,
        keys_dir: Path,
        *,
        retire_after: float = DEFAULT_RETIRE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> KeyRing:
        """Load the ring, creating keys_dir (0700) and a current + next key per alg on first start.

        Also completes a ring that lacks a key for some alg, and drops retired keys older than
        ``retire_after``; either change is written back. Raises KeyRingError when unusable.
        """
        if not retire_after > 0:
            raise ValueError("retire_after must be a positive number of seconds")
        keys_dir = Path(keys_dir)
        ensure_keys_dir(keys_dir)
        with writer_lock(keys_dir):
            loaded = read_ring(keys_dir)
            generation, records = loaded if loaded is not None else (0, [])
            completed = complete_ring(records, clock(), retire_after)
            if loaded is None or completed != records:
                generation += 1
                write_ring(keys_dir, generation, completed)
            ring = _build_ring(completed, generation, file_stamp(keys_dir), retire_after, {})
        if file_mode(keys_dir) & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", keys_dir / "keyring.json")
        return cls(keys_dir, ring, retire_after, clock)

    def rotate(self, alg: str | None = None) -> dict[str, str]:
        """next -> current, a new next, old current -> retired; returns {alg: new current kid}.

        Works on the ring as it is on disk (another process may have rotated since we loaded it),
        under the cross-process writer lock, and persists before returning. It blocks (RSA key
        generation, fsync): from async code run it in a thread.
        """
        algs = list(SUPPORTED_ALGS) if alg is None else [alg]
        for name in algs:
            if name not in SUPPORTED_ALGS:
                raise ValueError(f"unsupported alg {name!r} (supported: RS256, ES256)")
        with self._write_lock, writer_lock(self.keys_dir):
            loaded = read_ring(self.keys_dir)
            if loaded is None:
                raise KeyRingError(f"{self.keys_dir / 'keyring.json'} disappeared; not rotating")
            generation, records = loaded
            now = self._clock()
            rotated = complete_ring(rotate_records(records, algs, now), now, self._retire_after)
            write_ring(self.keys_dir, generation + 1, rotated)
            self._ring = _build_ring(
                rotated,
                generation + 1,
                file_stamp(self.keys_dir),
                self._retire_after,
                self._ring.material,
            )
        log.info("rotated signing keys for %s (generation %d)", ", ".join(algs), generation + 1)
        return {name: self._ring.signers[name].kid for name in algs}

    def reload_if_changed(self) -> bool:
        """Pick up a rotation written by another process; True when the ring changed.

        Costs one stat() when nothing changed. After a rotation it parses the new keys once
        (~50 ms of CPU per RSA key, for cryptography's key validation): from async code prefer
        ``asyncio.to_thread``. A broken file is logged and ignored: the server keeps the keys it
        has rather than stop signing.
        """
        if not self._write_lock.acquire(blocking=False):
            return False  # a rotation in this process is writing; it installs the new ring itself
        try:
            stamp = file_stamp(self.keys_dir)
            if stamp is None or stamp == self._ring.stamp:
                return False
            try:
                loaded = read_ring(self.keys_dir)
                if loaded is None:
                    return False
                generation, records = loaded
                ring = _build_ring(records, generation, stamp, self._retire_after, self._ring.material)
            except KeyRingError as err:
                log.error("keeping the loaded signing keys; cannot reload: %s", err)
                return False
            changed = ring.generation != self._ring.generation or ring.records != self._ring.records
            self._ring = ring
            return changed
        finally:
            self._write_lock.release()

    # --- signing and verification ---------------------------------------------------------

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256", typ: str | None = None) -> str:
        """Compact JWS (RFC 7515 §7.1) over ``claims`` with the current key of ``alg``.

        ``typ``: "at+jwt" for RFC 9068 access tokens, "logout+jwt" for back-channel logout tokens,
        None for ID tokens. No file IO and no key parsing here: this is the hot path.
        """
        signer = self._ring.signers.get(alg)
        if signer is None:
            raise ValueError(f"unsupported alg {alg!r} (supported: RS256, ES256)")
        return signer.sign(claims, typ)

    def verify(
        self, token: str | bytes, *, algs: Collection[str] = ("RS256", "ES256")
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the signature against the ring key named by ``kid``; returns (header, claims).

        Any ring key verifies (current, next, retired). Raises InvalidToken for malformed tokens,
        a missing or unknown kid, an alg outside ``algs`` (``none`` and HMAC never qualify) or not
        matching the key, a ``crit`` header, and bad signatures. Claims are not validated: see
        verify_claims().

        A token seen before is answered from a small cache that skips only the signature maths:
        the entry is used only while the key that verified it is still in the ring (so a removed
        key stops verifying at once) and only until the token's exp.
        """
        allowed = [name for name in algs if name in SUPPORTED_ALGS]
        if not allowed:
            raise ValueError(f"algs must include one of {', '.join(SUPPORTED_ALGS)}")
        if not isinstance(token, str | bytes):
            raise InvalidToken("token must be a string")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token is too long")
        try:
            raw = token.encode("ascii") if isinstance(token, str) else token
        except UnicodeError:
            raise InvalidToken("malformed token (not base64url)") from None
        ring = self._live_ring()
        cached = self._verified.get(raw)
        if cached is not None:
            answer = self._from_cache(ring, raw, cached, allowed)
            if answer is not None:
                return answer
        return self._verify_signature(ring, raw, allowed)

    def _verify_signature(
        self, ring: _Ring, raw: bytes, allowed: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # The order of the checks, and so which error a doubly broken token gets, is joserfc's:
        # shape and header, then alg, then the key, then the signature, then the payload.
        try:
            parsed = parse_compact(raw)
        except MalformedJWS as err:
            raise InvalidToken(f"malformed token ({err})") from None
        header = parsed.header
        alg = header["alg"]
        if alg not in allowed:
            raise InvalidToken(f"alg not allowed (allowed: {', '.join(allowed)})")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("token has no kid")
        material = ring.material.get(kid)
        if material is None and self._reload_on_miss():
            material = self._live_ring().material.get(kid)
        if material is None:
            raise InvalidToken("unknown kid")
        if alg != material.alg:  # the key decides the alg, never the token (RS/HS confusion)
            raise InvalidToken("alg does not match the key")
        if not material.verifier.verify(parsed.signing_input, parsed.signature):
            raise InvalidToken("bad signature")
        try:
            payload_json = b64url_decode(parsed.payload_segment).decode("utf-8")  # RFC 7519 §7.2
            claims = json.loads(payload_json)
        except (MalformedJWS, ValueError):  # ValueError covers UnicodeDecodeError
            raise InvalidToken("malformed token (payload is not JSON)") from None
        if not isinstance(claims, dict):
            raise InvalidToken("payload is not a JSON object")
        self._remember(raw, material.verifier, parsed.header_json, payload_json, claims.get("exp"))
        return header, claims

    def _from_cache(
        self, ring: _Ring, raw: bytes, cached: _Verified, allowed: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The answer for a token verified before, or None to verify it afresh."""
        material = ring.material.get(cached.verifier.kid)
        if material is None or material.verifier is not cached.verifier or self._clock() >= cached.exp:
            with self._verified_lock:
                self._verified.pop(raw, None)
            return None
        if cached.verifier.alg not in allowed:
            return None  # the full path gives the usual "alg not allowed"
        header: dict[str, Any] = json.loads(cached.header_json)
        claims: dict[str, Any] = json.loads(cached.payload_json)
        return header, claims

    def _remember(self, raw: bytes, verifier: Verifier, header_json: str, payload_json: str,
                  exp: Any) -> None:
        try:
            until = _numeric_date({"exp": exp}, "exp")
        except InvalidToken:
            return
        if until is None or not until > self._clock():
            return  # nothing to gain (and no bound on the entry's life) for a token without exp
        entry = _Verified(verifier, header_json, payload_json, until)
        with self._verified_lock:
            while len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # oldest first
            self._verified[raw] = entry

    def verify_claims(
        self,
        token: str | bytes,
        *,
        issuer: str,
        audience: str | None = None,
        leeway: float = 30,
        typ: str | None = None,
        algs: Collection[str] = ("RS256", "ES256"),
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """verify() and then the RFC 7519 §4.1 time and identity claims; returns (header, claims).

        ``iss``, ``exp`` and ``iat`` are required (every token this provider issues has them);
        ``nbf`` is checked when present; ``aud`` must contain ``audience`` when one is given;
        ``typ`` (e.g. "at+jwt", RFC 9068 §4) is compared ignoring an "application/" prefix.
        """
        header, claims = self.verify(token, algs=algs)
        now = self._clock()
        if typ is not None and _media_type(header.get("typ")) != _media_type(typ):
            raise InvalidToken(f"typ must be {typ!r}")
        if claims.get("iss") != issuer:
            raise InvalidToken("wrong issuer")
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        nbf = _numeric_date(claims, "nbf")
        if exp is None or iat is None:
            raise InvalidToken("exp and iat are required")
        if now >= exp + leeway:
            raise InvalidToken("token has expired")
        if iat > now + leeway:
            raise InvalidToken("token was issued in the future")
        if nbf is not None and nbf > now + leeway:
            raise InvalidToken("token is not yet valid")
        if audience is not None:
            aud = claims.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if audience not in audiences:
                raise InvalidToken("wrong audience")
        return header, claims

    def _reload_on_miss(self) -> bool:
        """An unknown kid may come from a replica that rotated; look, but at most once a second."""
        now = time.monotonic()
        if now - self._last_miss_check < MISS_RELOAD_INTERVAL:
            return False
        self._last_miss_check = now
        return self.reload_if_changed()

    def _live_ring(self) -> _Ring:
        """The snapshot minus retired keys whose time is up. Pruned in memory only: the file keeps
        them until the next open or rotate, harmless since every reader prunes the same way."""
        ring = self._ring
        now = self._clock()
        if now >= ring.expires_at:
            pruned = drop_expired(ring.records, now, self._retire_after)
            ring = _build_ring(pruned, ring.generation, ring.stamp, self._retire_after, ring.material)
            if self._ring.generation == ring.generation:  # never undo a rotation made meanwhile
                self._ring = ring
        return ring

    # --- publication --------------------------------------------------------------------

    def jwks_json(self) -> bytes:
        """The JWKS (RFC 7517 §5) as ready-to-send bytes: public parts only."""
        return self._live_ring().jwks_json

    def jwks(self) -> dict[str, Any]:
        """The JWKS as a fresh dict (safe to modify)."""
        document: dict[str, Any] = json.loads(self.jwks_json())
        return document

    def describe(self) -> list[dict[str, Any]]:
        """For ``idp keys list``: kid, alg, state, created_at, retired_at (epoch seconds)."""
        return [
            {
                "kid": r.kid,
                "alg": r.alg,
                "state": r.state,
                "created_at": r.created_at,
                "retired_at": r.retired_at,
            }
            for r in self._live_ring().records
        ]


# --- snapshots ---------------------------------------------------------------------------


def _build_ring(
    records: list[KeyRecord],
    generation: int,
    stamp: FileStamp | None,
    retire_after: float,
    known: dict[str, _Material],
) -> _Ring:
    """Check the ring's shape, parse keys not parsed before, and precompute the JWKS bytes."""
    ordered = sorted(records, key=lambda r: (_STATE_ORDER[r.state], _ALG_ORDER[r.alg], -(r.retired_at or 0)))
    material: dict[str, _Material] = {}
    signers: dict[str, Signer] = {}
    for record in ordered:
        if record.kid in material:
            raise KeyRingError(f"kid {record.kid!r} appears twice in the keyring")
        material[record.kid] = known.get(record.kid) or _parse_material(record)
        if record.state == "current":
            if record.alg in signers:
                raise KeyRingError(f"more than one current {record.alg} key")
            signers[record.alg] = material[record.kid].signer
        elif record.state == "next" and sum(r.alg == record.alg and r.state == "next" for r in ordered) > 1:
            raise KeyRingError(f"more than one next {record.alg} key")
    missing = [alg for alg in SUPPORTED_ALGS if alg not in signers]
    if missing:
        raise KeyRingError(f"no current key for {', '.join(missing)}")
    jwks = {"keys": [material[r.kid].public_jwk for r in ordered]}
    retired_until = [r.retired_at + retire_after for r in ordered if r.retired_at is not None]
    return _Ring(
        records=tuple(ordered),
        material=material,
        signers=signers,
        jwks_json=json.dumps(jwks, separators=(",", ":")).encode(),
        stamp=stamp,
        expires_at=min(retired_until, default=math.inf),
        generation=generation,
    )


def _parse_material(record: KeyRecord) -> _Material:
    private_key = import_private_key(record)
    public_params = private_key.as_dict(private=False)
    public_jwk = {"kty": public_params["kty"], "use": "sig", "alg": record.alg, "kid": record.kid}
    public_jwk.update({k: v for k, v in public_params.items() if k not in public_jwk})
    return _Material(
        alg=record.alg,
        verifier=Verifier(record.kid, record.alg, private_key),
        public_jwk=public_jwk,
        signer=Signer(record.kid, record.alg, private_key),
    )


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate; a present but non-numeric value is an invalid token."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} must be a number")
    try:
        number = float(value)  # an int beyond float's range raises here
    except OverflowError:
        raise InvalidToken(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise InvalidToken(f"{name} must be a number")
    return number


def _media_type(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    return lowered.removeprefix("application/")

"""Compact JWS (RFC 7515) for the hot paths: the Signer holds a ready-to-use private key object,
the Verifier a public one, and `parse_compact` splits and strictly decodes a token before its
signature is checked. Which key and which alg apply is the KeyRing's decision (idp/keys/ring.py),
never the token's."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from joserfc.jwk import ECKey, RSAKey

from idp.keys.files import SUPPORTED_ALGS, KeyRingError


class Signer:
    """Signs compact JWS (RFC 7515 §5.1) with one private key, parsed once.

    Uses the cryptography key object directly with cached header segments: for ES256 this halves
    the cost of going through joserfc's generic serializer. Interop is proven by the tests, which
    verify these tokens with joserfc and authlib.
    """

    __slots__ = ("kid", "alg", "_key", "_headers")

    def __init__(self, kid: str, alg: str, key: RSAKey | ECKey) -> None:
        self.kid = kid
        self.alg = alg
        self._key: Any = key.private_key
        self._headers: dict[str | None, bytes] = {}

    def __repr__(self) -> str:
        return f"Signer(kid={self.kid!r}, alg={self.alg!r})"

    def sign(self, claims: dict[str, Any], typ: str | None) -> str:
        if not isinstance(claims, dict):
            raise TypeError("claims must be a dict")
        header = self._headers.get(typ) or self._header_segment(typ)
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        signing_input = header + b"." + _b64(payload)
        return (signing_input + b"." + _b64(self._signature(signing_input))).decode("ascii")

    def _signature(self, data: bytes) -> bytes:
        if self.alg == "RS256":  # RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256
            signature: bytes = self._key.sign(data, _PKCS1V15, _SHA256)
            return signature
        # RFC 7518 §3.4: the JWS signature is R || S, 32 bytes each, not the DER that OpenSSL gives.
        r, s = decode_dss_signature(self._key.sign(data, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def _header_segment(self, typ: str | None) -> bytes:
        header = {"alg": self.alg, "kid": self.kid}
        if typ is not None:
            header["typ"] = typ
        segment = _b64(json.dumps(header, separators=(",", ":")).encode())
        if len(self._headers) < 8:  # callers pass a handful of fixed typs; never grow unbounded
            self._headers[typ] = segment
        return segment


class Verifier:
    """Checks RS256 / ES256 signatures with one public key, parsed once.

    The counterpart of Signer: the cryptography key object is used directly, without joserfc's
    generic JWS machinery (registry, key guessing, per-call algorithm objects). Which key and
    which alg apply is decided by the caller from the ring, never by the token: this only does
    the maths for ``self.alg``.
    """

    __slots__ = ("kid", "alg", "_key")

    def __init__(self, kid: str, alg: str, key: RSAKey | ECKey) -> None:
        if alg not in SUPPORTED_ALGS:
            raise KeyRingError(f"unsupported signing algorithm {alg!r}")
        self.kid = kid
        self.alg = alg
        self._key: Any = key.public_key

    def __repr__(self) -> str:
        return f"Verifier(kid={self.kid!r}, alg={self.alg!r})"

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        try:
            if self.alg == "RS256":
                # a signature of the wrong length is an InvalidSignature from OpenSSL
                self._key.verify(signature, signing_input, _PKCS1V15, _SHA256)
                return True
            # RFC 7518 §3.4: R || S, 32 bytes each; cryptography wants the DER encoding.
            if len(signature) != 64:
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            self._key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
            return True
        except InvalidSignature:
            return False


class MalformedJWS(ValueError):
    """Not a well-formed compact JWS; the message says what is wrong (never echoes the token)."""


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """The parts of a compact JWS (RFC 7515 §7.1) before its signature is checked."""

    header: dict[str, Any]
    header_json: str
    payload_segment: bytes  # still base64url: nothing reads it before the signature is checked
    signing_input: bytes
    signature: bytes


# Exactly three segments of the base64url alphabet without padding (RFC 7515 §2 "Base64url
# Encoding"): '=', '+', '/', whitespace or a fourth segment never match.
_COMPACT = re.compile(rb"([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)")
MAX_HEADER_SEGMENT = 512  # our headers are ~110 characters; bounds the JSON parsed before the signature
MAX_SIGNATURE_SEGMENT = 1024  # RS256 with a 4096-bit key is 683 characters

# The header members joserfc's JWS registry accepts, with the same type rules. None of them
# chooses the key (the ring does, by kid). ``crit`` is absent on purpose: we understand no
# extension, so RFC 7515 §4.1.11 obliges us to reject any token that marks one critical.
_HEADER_RULES: dict[str, Callable[[Any], bool]] = {
    "alg": lambda v: isinstance(v, str),
    "kid": lambda v: isinstance(v, str),
    "typ": lambda v: isinstance(v, str),
    "cty": lambda v: isinstance(v, str),
    "jku": lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
    "jwk": lambda v: isinstance(v, dict),
    "x5u": lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
    "x5c": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "x5t": lambda v: isinstance(v, str),
    "x5t#S256": lambda v: isinstance(v, str),
    # RFC 7797: only the default (base64url-encoded payload) is accepted
    "b64": lambda v: v is True,
}


def parse_compact(token: bytes) -> CompactJWS:
    """Split and decode a compact JWS; raises MalformedJWS. The signature is NOT checked here."""
    match = _COMPACT.fullmatch(token)
    if match is None:
        raise MalformedJWS("not three base64url segments")
    header_segment, payload_segment, signature_segment = match.groups()
    if len(header_segment) > MAX_HEADER_SEGMENT or len(signature_segment) > MAX_SIGNATURE_SEGMENT:
        raise MalformedJWS("header or signature too long")
    if not _canonical_b64(payload_segment):
        raise MalformedJWS("payload is not base64url")
    try:
        # RFC 7515 §5.2 step 3: UTF-8, nothing else (json.loads on bytes would also take UTF-16/32)
        header_json = b64url_decode(header_segment).decode("utf-8")
        header = json.loads(header_json)
    except ValueError:  # includes UnicodeDecodeError
        raise MalformedJWS("header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedJWS("header is not a JSON object")
    if "crit" in header:
        raise MalformedJWS("critical header extensions are not supported")
    if "alg" not in header:
        raise MalformedJWS("header has no alg")
    for name, value in header.items():
        rule = _HEADER_RULES.get(name)
        if rule is None or not rule(value):
            raise MalformedJWS("unsupported header member or value")
    return CompactJWS(
        header=header,
        header_json=header_json,
        payload_segment=payload_segment,
        signing_input=token[: match.end(2)],
        signature=b64url_decode(signature_segment),
    )


# The last character of an unpadded segment may only carry zero bits beyond the data
# (RFC 4648 §3.5), so every byte string has exactly one accepted encoding.
_LAST_CHAR_OK = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_URLSAFE_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _canonical_b64(segment: bytes) -> bool:
    rest = len(segment) % 4
    return rest == 0 or (rest != 1 and segment[-1] in _LAST_CHAR_OK[rest])


def b64url_decode(segment: bytes) -> bytes:
    """Strict base64url (RFC 7515 §2): URL-safe alphabet only, no '=', one spelling per value."""
    if segment.translate(None, _URLSAFE_ALPHABET) or not _canonical_b64(segment):
        raise MalformedJWS("not strict base64url")
    try:
        padded = segment.translate(_FROM_URLSAFE) + b"=" * (-len(segment) % 4)
        return binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise MalformedJWS("not base64url") from None


_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")

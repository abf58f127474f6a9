"""verify() / verify_claims() against hostile input, through the public API only.

Where a property must hold even with a valid signature (padding, alphabet, crit, header shape,
payload shape), the token is signed with the ring's own private key over exactly the bytes under
test, so only the property itself can make it fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac as hmac_module
import json
import warnings
from pathlib import Path
from typing import Any

import authlib.deprecate  # noqa: F401  (installs its "always" filter before ours below)
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws, jwt
from joserfc.jwk import KeySet, OctKey, import_key

from idp.keys.ring import InvalidToken, KeyRing
from tests.keys.manual_clock import ManualClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # authlib.jose is deprecated in favour of joserfc
    from authlib.jose import JsonWebKey, JsonWebSignature, JsonWebToken

ISSUER = "https://idp.campus.example"
ALGS = ["RS256", "ES256"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def current_kid(ring: KeyRing, alg: str) -> str:
    return next(k["kid"] for k in ring.describe() if k["alg"] == alg and k["state"] == "current")


def private_jwk(keys_dir: Path, kid: str) -> dict:
    document = json.loads((keys_dir / "keyring.json").read_text())
    return next(k["jwk"] for k in document["keys"] if k["kid"] == kid)


def good_claims(clock: ManualClock, **extra: Any) -> dict[str, Any]:
    now = int(clock())
    return {"iss": ISSUER, "sub": "20231234", "aud": "portal", "iat": now, "exp": now + 300, **extra}


def raw_signature(keys_dir: Path, kid: str, alg: str, signing_input: bytes) -> bytes:
    """The JWS signature over arbitrary bytes, made with the ring's private key for ``kid``."""
    private = import_key(private_jwk(keys_dir, kid)).private_key
    if alg == "RS256":
        return private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))  # type: ignore[union-attr,call-arg]
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signed_raw(ring: KeyRing, keys_dir: Path, alg: str, header_segment: str, payload_segment: str) -> str:
    """A compact JWS whose signature is valid for exactly these (possibly ill-formed) segments."""
    kid = current_kid(ring, alg)
    signature = raw_signature(keys_dir, kid, alg, f"{header_segment}.{payload_segment}".encode())
    return f"{header_segment}.{payload_segment}.{b64(signature)}"


def signed_json(ring: KeyRing, keys_dir: Path, alg: str, header: Any, payload: Any) -> str:
    header_bytes = header if isinstance(header, bytes) else json.dumps(header).encode()
    payload_bytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return signed_raw(ring, keys_dir, alg, b64(header_bytes), b64(payload_bytes))


def our_header(ring: KeyRing, alg: str, **extra: Any) -> dict[str, Any]:
    return {"alg": alg, "kid": current_kid(ring, alg), **extra}


# --- the helpers themselves: a control that must verify, or every rejection below is moot ----


@pytest.mark.parametrize("alg", ALGS)
def test_control_token_from_the_raw_signer_verifies(ring: KeyRing, keys_dir: Path, clock: ManualClock,
                                                    alg: str) -> None:
    claims = good_claims(clock)
    token = signed_json(ring, keys_dir, alg, our_header(ring, alg, typ="at+jwt"), claims)
    header, verified = ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    assert verified == claims
    assert header == our_header(ring, alg, typ="at+jwt")


# --- signature -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_payload(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    header, _payload, signature = ring.sign(good_claims(clock, sub="student"), alg=alg).split(".")
    forged = b64(json.dumps(good_claims(clock, sub="admin")).encode())
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify_claims(f"{header}.{forged}.{signature}", issuer=ISSUER)


@pytest.mark.parametrize("alg", ALGS)
def test_tampered_header(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    _header, payload, signature = ring.sign(good_claims(clock), alg=alg).split(".")
    header = b64(json.dumps(our_header(ring, alg, typ="at+jwt")).encode())  # typ added afterwards
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("position", [0, 10, -1])
def test_tampered_signature(ring: KeyRing, clock: ManualClock, alg: str, position: int) -> None:
    header, payload, signature = ring.sign(good_claims(clock), alg=alg).split(".")
    raw = bytearray(unb64(signature))
    raw[position] ^= 0x40
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(bytes(raw))}")


@pytest.mark.parametrize("alg", ALGS)
def test_signature_of_another_token(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    first = ring.sign(good_claims(clock, sub="a"), alg=alg).split(".")
    second = ring.sign(good_claims(clock, sub="b"), alg=alg).split(".")
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{first[0]}.{first[1]}.{second[2]}")


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 128])
def test_es256_signature_of_the_wrong_length(ring: KeyRing, clock: ManualClock, length: int) -> None:
    header, payload, signature = ring.sign(good_claims(clock), alg="ES256").split(".")
    raw = unb64(signature)
    resized = (raw * 3)[:length]  # keeps R (and S) where they fit: only the length is wrong
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(resized)}")


def test_es256_signature_padded_with_zero_bytes(ring: KeyRing, clock: ManualClock) -> None:
    """R || 0x00 || S or 0x00 || R || 0x00 || S still carry the same integers: a decoder that
    reads S as "the rest" or splits in the middle would accept them. Only 32 + 32 bytes pass."""
    header, payload, signature = ring.sign(good_claims(clock), alg="ES256").split(".")
    raw = unb64(signature)
    for padded in (raw[:32] + b"\x00" + raw[32:], b"\x00" + raw[:32] + b"\x00" + raw[32:], b"\x00" + raw):
        with pytest.raises(InvalidToken, match="bad signature"):
            ring.verify(f"{header}.{payload}.{b64(padded)}")


def test_es256_signature_in_der_form_is_rejected(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    """The DER that OpenSSL produces is a valid ECDSA signature, but not a valid JWS one."""
    header, payload, _signature = ring.sign(good_claims(clock), alg="ES256").split(".")
    private = import_key(private_jwk(keys_dir, current_kid(ring, "ES256"))).private_key
    der = private.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg]
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(der)}")


def test_rs256_signature_of_the_wrong_length(ring: KeyRing, clock: ManualClock) -> None:
    header, payload, signature = ring.sign(good_claims(clock), alg="RS256").split(".")
    raw = unb64(signature)
    for resized in (raw[:-1], raw + b"\x00", b"\x00" + raw, raw[:64]):
        with pytest.raises(InvalidToken, match="bad signature"):
            ring.verify(f"{header}.{payload}.{b64(resized)}")


@pytest.mark.parametrize("alg", ALGS)
def test_zero_signature(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    header, payload, signature = ring.sign(good_claims(clock), alg=alg).split(".")
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(bytes(len(unb64(signature))))}")


# --- algorithm and key -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("signature", ["", "c2ln"])
def test_alg_none(ring: KeyRing, clock: ManualClock, alg: str, signature: str) -> None:
    header = b64(json.dumps({"alg": "none", "kid": current_kid(ring, alg)}).encode())
    payload = b64(json.dumps(good_claims(clock)).encode())
    for variant in ("none", "None", "NONE"):
        token = f"{header}.{payload}.{signature}".replace(header, b64(json.dumps(
            {"alg": variant, "kid": current_kid(ring, alg)}).encode()))
        with pytest.raises(InvalidToken, match="alg not allowed"):
            ring.verify_claims(token, issuer=ISSUER)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("hmac", ["HS256", "HS384", "HS512"])
def test_hmac_keyed_with_the_published_key(ring: KeyRing, clock: ManualClock, alg: str, hmac: str) -> None:
    """RS/HS confusion: an HMAC keyed with the public JWK (or its PEM) must never verify."""
    kid = current_kid(ring, alg)
    public = next(k for k in ring.jwks()["keys"] if k["kid"] == kid)
    pem = import_key(public).as_pem(private=False)
    payload = json.dumps(good_claims(clock, sub="admin")).encode()
    secret = OctKey.import_key(json.dumps(public))
    token = jws.serialize_compact({"alg": hmac, "kid": kid}, payload, secret, algorithms=[hmac])
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify_claims(token, issuer=ISSUER)
    # joserfc refuses a PEM as an HMAC secret; a careless library would not
    signing_input = f"{b64(json.dumps({'alg': hmac, 'kid': kid}).encode())}.{b64(payload)}"
    digest = getattr(hashlib, f"sha{hmac[2:]}")
    mac = hmac_module.new(pem, signing_input.encode(), digest).digest()
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify_claims(f"{signing_input}.{b64(mac)}", issuer=ISSUER)


def test_rs256_header_on_an_es256_key(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    """The kid names our ES256 key, the header claims RS256: refused before any signature maths,
    even when the signature is a genuine RS256 one from our own RSA key."""
    es_kid = current_kid(ring, "ES256")
    header = b64(json.dumps({"alg": "RS256", "kid": es_kid}).encode())
    payload = b64(json.dumps(good_claims(clock)).encode())
    signature = raw_signature(keys_dir, current_kid(ring, "RS256"), "RS256", f"{header}.{payload}".encode())
    with pytest.raises(InvalidToken, match="alg does not match the key"):
        ring.verify(f"{header}.{payload}.{b64(signature)}")


def test_es256_header_on_an_rs256_key(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    rs_kid = current_kid(ring, "RS256")
    header = b64(json.dumps({"alg": "ES256", "kid": rs_kid}).encode())
    payload = b64(json.dumps(good_claims(clock)).encode())
    signature = raw_signature(keys_dir, current_kid(ring, "ES256"), "ES256", f"{header}.{payload}".encode())
    with pytest.raises(InvalidToken, match="alg does not match the key"):
        ring.verify(f"{header}.{payload}.{b64(signature)}")


@pytest.mark.parametrize("alg", ["PS256", "RS384", "RS512", "ES384", "ES512", "EdDSA", "", "rs256"])
def test_other_algs_are_not_allowed(ring: KeyRing, keys_dir: Path, clock: ManualClock, alg: str) -> None:
    header = {"alg": alg, "kid": current_kid(ring, "RS256")}
    token = signed_json(ring, keys_dir, "RS256", header, good_claims(clock))
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify(token)


@pytest.mark.parametrize("alg", ALGS)
def test_algs_argument_narrows_what_is_accepted(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock), alg=alg)
    other = next(a for a in ALGS if a != alg)
    assert ring.verify(token, algs=(alg,))[0]["alg"] == alg
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify(token, algs=(other,))
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify_claims(token, issuer=ISSUER, algs=(other, "HS256"))


def test_unknown_kid(ring: KeyRing, tmp_path: Path, clock: ManualClock) -> None:
    stranger = KeyRing.open(tmp_path / "other-idp", clock=clock)
    for alg in ALGS:
        with pytest.raises(InvalidToken, match="unknown kid"):
            ring.verify_claims(stranger.sign(good_claims(clock), alg=alg), issuer=ISSUER)


@pytest.mark.parametrize("kid", [None, 5, ["x"], {"kid": "x"}])
def test_kid_missing_or_not_a_string(ring: KeyRing, keys_dir: Path, clock: ManualClock, kid: Any) -> None:
    header: dict[str, Any] = {"alg": "ES256"} if kid is None else {"alg": "ES256", "kid": kid}
    token = signed_json(ring, keys_dir, "ES256", header, good_claims(clock))
    with pytest.raises(InvalidToken, match="no kid|malformed"):
        ring.verify(token)


def test_kid_of_a_key_the_token_was_not_signed_with(ring: KeyRing, keys_dir: Path,
                                                    clock: ManualClock) -> None:
    """The next key's kid on a token signed by the current key: the ring's key decides."""
    next_kid = next(k["kid"] for k in ring.describe() if k["alg"] == "ES256" and k["state"] == "next")
    header = b64(json.dumps({"alg": "ES256", "kid": next_kid}).encode())
    payload = b64(json.dumps(good_claims(clock)).encode())
    signature = raw_signature(keys_dir, current_kid(ring, "ES256"), "ES256", f"{header}.{payload}".encode())
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(signature)}")


# --- compact serialization: exactly three strict base64url segments ---------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_two_and_four_segments(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock), alg=alg)
    header, payload, signature = token.split(".")
    for variant in (f"{header}.{payload}", f"{header}{payload}.{signature}", f"{token}.{signature}",
                    f"{token}.", f".{token}", f"{header}.{payload}..{signature}",
                    f"{header}..{payload}.{signature}"):
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(variant)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("char", ["+", "/", " ", "\n", "~", "%", "!", "*", "\x00", "é"])
def test_characters_outside_base64url_even_when_signed(ring: KeyRing, keys_dir: Path, clock: ManualClock,
                                                      alg: str, char: str) -> None:
    header = b64(json.dumps(our_header(ring, alg)).encode())
    payload = b64(json.dumps(good_claims(clock)).encode())
    for h, p in ((header[:5] + char + header[5:], payload), (header, payload[:5] + char + payload[5:]),
                 (header, payload + char)):
        try:
            token = signed_raw(ring, keys_dir, alg, h, p)
        except UnicodeEncodeError:
            token = f"{h}.{p}.{b64(b'x' * 64)}"
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(token)


@pytest.mark.parametrize("alg", ALGS)
def test_characters_outside_base64url_in_the_signature(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock), alg=alg)
    header, payload, signature = token.split(".")
    standard = base64.b64encode(unb64(signature)).decode()  # '+' and '/' instead of '-' and '_'
    variants = [standard, standard.rstrip("=")] if standard.rstrip("=") != signature else [standard]
    for variant in [*variants, signature[:10] + " " + signature[10:], signature + "\n"]:
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(f"{header}.{payload}.{variant}")


@pytest.mark.parametrize("alg", ALGS)
def test_padding_is_rejected_even_where_it_changes_nothing(ring: KeyRing, keys_dir: Path,
                                                           clock: ManualClock, alg: str) -> None:
    """'=' on the signature segment leaves the signing input as it was: a lenient decoder would
    accept the token. Padded header/payload segments are signed here, so only the '=' is wrong."""
    token = ring.sign(good_claims(clock), alg=alg)
    header, payload, signature = token.split(".")
    assert len(signature) % 4 == 2  # 64 and 256 bytes both leave room for "=="
    for pad in ("=", "==", "==="):
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(f"{header}.{payload}.{signature}{pad}")
    padded_header = base64.urlsafe_b64encode(json.dumps(our_header(ring, alg)).encode()).decode()
    padded_payload = base64.urlsafe_b64encode(json.dumps(good_claims(clock, x="y")).encode()).decode()
    assert "=" in padded_header + padded_payload
    for h, p in ((padded_header, payload), (header, padded_payload)):
        if "=" not in h + p:
            continue
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(signed_raw(ring, keys_dir, alg, h, p))


@pytest.mark.parametrize("alg", ALGS)
def test_non_canonical_base64url_is_rejected(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    """Flipping bits past the end of the data in the last character decodes to the same bytes:
    each signature has exactly one accepted spelling."""
    header, payload, signature = ring.sign(good_claims(clock), alg=alg).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    variant = signature[:-1] + alphabet[last | 0b0001]  # 64 and 256 bytes: 4 spare bits at the end
    assert variant != signature and unb64(variant) == unb64(signature)
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(f"{header}.{payload}.{variant}")


def test_segment_of_impossible_length(ring: KeyRing, clock: ManualClock) -> None:
    """A base64url segment can never be 1 character past a multiple of 4."""
    header, payload, signature = ring.sign(good_claims(clock), alg="ES256").split(".")
    longer_signature = signature + "A" * ((1 - len(signature)) % 4)
    longer_payload = payload + "A" * ((1 - len(payload)) % 4)
    assert len(longer_signature) % 4 == 1 and len(longer_payload) % 4 == 1
    for variant in (f"{header}.{payload}.{longer_signature}", f"{header}.{longer_payload}.{signature}"):
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(variant)


# --- header ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [[], ["alg", "ES256"], "ES256", 256, None, True])
def test_header_must_be_a_json_object(ring: KeyRing, keys_dir: Path, clock: ManualClock, header: Any) -> None:
    token = signed_json(ring, keys_dir, "ES256", header, good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


@pytest.mark.parametrize("header", [b"", b"{", b"\xff\xfe", b'{"alg":"ES256",}', b"alg=ES256"])
def test_header_must_be_json(ring: KeyRing, keys_dir: Path, clock: ManualClock, header: bytes) -> None:
    token = signed_json(ring, keys_dir, "ES256", header, good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


def test_header_without_alg(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    token = signed_json(ring, keys_dir, "ES256", {"kid": current_kid(ring, "ES256")}, good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], ["kid"], "exp"])
def test_crit_header_is_rejected(ring: KeyRing, keys_dir: Path, clock: ManualClock, alg: str,
                                 crit: Any) -> None:
    """RFC 7515 §4.1.11: we understand no extension, so anything marked critical is refused."""
    header = our_header(ring, alg, crit=crit, exp=int(clock()) + 300)
    token = signed_json(ring, keys_dir, alg, header, good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed token \\(critical"):
        ring.verify_claims(token, issuer=ISSUER)


def test_unencoded_payload_option_is_rejected(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    """RFC 7797 b64=false changes what the signature covers; we never issue it."""
    payload = json.dumps(good_claims(clock))
    for header in (our_header(ring, "ES256", b64=False), our_header(ring, "ES256", b64=False, crit=["b64"])):
        h = b64(json.dumps(header).encode())
        signature = raw_signature(keys_dir, current_kid(ring, "ES256"), "ES256", f"{h}.{payload}".encode())
        with pytest.raises(InvalidToken, match="malformed"):
            ring.verify(f"{h}.{b64(payload.encode())}.{b64(signature)}")


@pytest.mark.parametrize(
    "extra",
    [{"foo": "bar"}, {"typ": 5}, {"typ": None}, {"cty": ["JWT"]}, {"jku": "ftp://x"}, {"x5c": "abc"},
     {"b64": "true"}],
)
def test_unknown_or_ill_typed_header_members(ring: KeyRing, keys_dir: Path, clock: ManualClock,
                                             extra: dict) -> None:
    token = signed_json(ring, keys_dir, "ES256", our_header(ring, "ES256", **extra), good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


def test_registered_informational_header_members_are_accepted(ring: KeyRing, keys_dir: Path,
                                                              clock: ManualClock) -> None:
    """As with joserfc before: registered members pass; none of them picks the key."""
    header = our_header(ring, "ES256", typ="JWT", cty="JWT", x5t="abc", b64=True)
    token = signed_json(ring, keys_dir, "ES256", header, good_claims(clock))
    assert ring.verify(token)[0] == header


def test_oversized_header(ring: KeyRing, keys_dir: Path, clock: ManualClock) -> None:
    token = signed_json(ring, keys_dir, "ES256", our_header(ring, "ES256", cty="x" * 600), good_claims(clock))
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


# --- payload ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [[1, 2], "sub", 42, None, True])
def test_payload_must_be_a_json_object(ring: KeyRing, keys_dir: Path, payload: Any) -> None:
    token = signed_json(ring, keys_dir, "RS256", our_header(ring, "RS256"), payload)
    with pytest.raises(InvalidToken, match="payload is not a JSON object"):
        ring.verify(token)


@pytest.mark.parametrize("payload", [b"", b"{", b"\xff", b'{"sub": "a"} x', b"{'sub': 'a'}"])
def test_payload_must_be_json(ring: KeyRing, keys_dir: Path, payload: bytes) -> None:
    token = signed_json(ring, keys_dir, "RS256", our_header(ring, "RS256"), payload)
    with pytest.raises(InvalidToken, match="malformed"):
        ring.verify(token)


# --- claims ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_expired(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock), alg=alg, typ="at+jwt")
    clock.advance(300)
    ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")  # within the default leeway
    with pytest.raises(InvalidToken, match="expired"):
        ring.verify_claims(token, issuer=ISSUER, typ="at+jwt", leeway=0)  # exp == now is expired
    clock.advance(30)
    with pytest.raises(InvalidToken, match="expired"):
        ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    assert ring.verify(token)[1]["sub"] == "20231234"  # verify() alone never looks at exp


@pytest.mark.parametrize("alg", ALGS)
def test_nbf_in_the_future(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock, nbf=int(clock()) + 60), alg=alg)
    with pytest.raises(InvalidToken, match="not yet valid"):
        ring.verify_claims(token, issuer=ISSUER, leeway=59)
    ring.verify_claims(token, issuer=ISSUER, leeway=60)
    with pytest.raises(InvalidToken, match="nbf must be a number"):
        ring.verify_claims(ring.sign(good_claims(clock, nbf="soon"), alg=alg), issuer=ISSUER)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", ISSUER.upper(), None, [ISSUER]])
def test_wrong_issuer(ring: KeyRing, clock: ManualClock, alg: str, iss: Any) -> None:
    claims = good_claims(clock, iss=iss)
    if iss is None:
        del claims["iss"]
    with pytest.raises(InvalidToken, match="wrong issuer"):
        ring.verify_claims(ring.sign(claims, alg=alg), issuer=ISSUER)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("typ", [None, "JWT", "logout+jwt", "application/jwt", "at+jwt+x"])
def test_wrong_typ(ring: KeyRing, clock: ManualClock, alg: str, typ: str | None) -> None:
    token = ring.sign(good_claims(clock), alg=alg, typ=typ)
    with pytest.raises(InvalidToken, match="typ must be"):
        ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_typ_media_type_rules(ring: KeyRing, clock: ManualClock, typ: str) -> None:
    """RFC 9068 §4 / RFC 7515 §4.1.9: compared case-insensitively, "application/" optional."""
    token = ring.sign(good_claims(clock), alg="ES256", typ=typ)
    assert ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")[0]["typ"] == typ


def test_iat_in_the_future_and_non_numeric_dates(ring: KeyRing, clock: ManualClock) -> None:
    future = ring.sign(good_claims(clock, iat=int(clock()) + 31), alg="ES256")
    with pytest.raises(InvalidToken, match="issued in the future"):
        ring.verify_claims(future, issuer=ISSUER)
    for name, value in (("exp", "1"), ("iat", False), ("exp", [1]), ("iat", {"t": 1}), ("exp", 10**400)):
        with pytest.raises(InvalidToken, match=f"{name} must be a number"):
            ring.verify_claims(ring.sign(good_claims(clock, **{name: value}), alg="ES256"), issuer=ISSUER)
    nan = ring.sign(good_claims(clock), alg="ES256").split(".")
    # NaN is not JSON, but Python's decoder accepts it: it must not pass for a date
    payload = json.dumps(good_claims(clock)).replace(str(int(clock()) + 300), "NaN")
    assert "NaN" in payload
    with pytest.raises(InvalidToken):
        ring.verify_claims(f"{nan[0]}.{b64(payload.encode())}.{nan[2]}", issuer=ISSUER)


# --- input types -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_bytes_tokens_verify_like_strings(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    token = ring.sign(good_claims(clock), alg=alg)
    assert ring.verify(token.encode()) == ring.verify(token)
    # one character of the signature changed, well before its end, where every bit counts: the
    # last characters carry spare bits, and ending the signature in "AA" instead left it as it
    # was in one of 256 RS256 signatures
    at = len(token) - 20
    other = b"B" if token[at] == "A" else b"A"
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(token.encode()[:at] + other + token.encode()[at + 1:])


@pytest.mark.parametrize("garbage", [None, 42, 4.2, ["a.b.c"], {"token": "a.b.c"}, bytearray(b"a.b.c")])
def test_non_string_tokens(ring: KeyRing, garbage: Any) -> None:
    with pytest.raises(InvalidToken, match="must be a string"):
        ring.verify(garbage)


def test_too_long_tokens(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(good_claims(clock, pad="x" * 20_000), alg="ES256")
    with pytest.raises(InvalidToken, match="too long"):
        ring.verify(token)


# --- interop: tokens signed by other libraries with our keys ---------------------------------


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("typ", [None, "at+jwt", "JWT"])
def test_joserfc_signed_tokens_verify(ring: KeyRing, keys_dir: Path, clock: ManualClock, alg: str,
                                      typ: str | None) -> None:
    kid = current_kid(ring, alg)
    header = {"alg": alg, "kid": kid} if typ is None else {"alg": alg, "kid": kid, "typ": typ}
    claims = good_claims(clock, groups=["教务处"])
    payload = json.dumps(claims).encode()
    token = jws.serialize_compact(header, payload, import_key(private_jwk(keys_dir, kid)), algorithms=[alg])
    got_header, got_claims = ring.verify_claims(token, issuer=ISSUER, audience="portal")
    assert got_claims == claims
    assert got_header == header


@pytest.mark.parametrize("alg", ALGS)
def test_authlib_signed_tokens_verify(ring: KeyRing, keys_dir: Path, clock: ManualClock, alg: str) -> None:
    kid = current_kid(ring, alg)
    key = JsonWebKey.import_key(private_jwk(keys_dir, kid))
    claims = good_claims(clock)
    token = JsonWebToken([alg]).encode({"alg": alg, "kid": kid, "typ": "at+jwt"}, claims, key)
    header, verified = ring.verify_claims(token, issuer=ISSUER, typ="at+jwt")
    assert verified == claims
    assert header["kid"] == kid
    raw = JsonWebSignature([alg]).serialize_compact({"alg": alg, "kid": kid}, b'{"sub":"x"}', key)
    assert ring.verify(raw)[1] == {"sub": "x"}


@pytest.mark.parametrize("alg", ALGS)
def test_our_tokens_verify_with_joserfc_and_authlib(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    claims = good_claims(clock, name="张三")
    token = ring.sign(claims, alg=alg, typ="at+jwt")
    assert jwt.decode(token, KeySet.import_key_set(ring.jwks()), algorithms=[alg]).claims == claims
    assert dict(JsonWebToken([alg]).decode(token, JsonWebKey.import_key_set(ring.jwks()))) == claims

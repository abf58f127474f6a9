"""Signing, verification and the JWKS: what relying parties see, checked by independent libraries."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path

import authlib.deprecate  # noqa: F401  (installs its "always" filter before ours below)
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet, OctKey, import_key

from idp.keys.ring import InvalidToken, KeyRing
from tests.keys.manual_clock import ManualClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # authlib.jose is deprecated in favour of joserfc
    from authlib.jose import JsonWebKey, JsonWebToken

ISSUER = "https://idp.campus.example"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(token: str) -> dict:
    return json.loads(unb64(token.split(".")[0]))


def current_kid(ring: KeyRing, alg: str) -> str:
    return next(k["kid"] for k in ring.describe() if k["alg"] == alg and k["state"] == "current")


def private_jwk(keys_dir: Path, kid: str) -> dict:
    document = json.loads((keys_dir / "keyring.json").read_text())
    return next(k["jwk"] for k in document["keys"] if k["kid"] == kid)


def id_token_claims(clock: ManualClock, **extra: object) -> dict:
    now = int(clock())
    claims: dict = {"iss": ISSUER, "sub": "20231234", "aud": "oa-system", "iat": now}
    claims["exp"] = now + 300
    claims.update(extra)
    return claims


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_sign_and_verify(ring: KeyRing, alg: str) -> None:
    claims = {"sub": "张三", "groups": ["教务处"], "n": 1}
    token = ring.sign(claims, alg=alg)
    assert header_of(token) == {"alg": alg, "kid": current_kid(ring, alg)}  # ID token: no typ
    header, verified = ring.verify(token)
    assert verified == claims
    assert header["alg"] == alg


def test_es256_signature_is_raw_r_s(ring: KeyRing) -> None:
    token = ring.sign({"sub": "a"}, alg="ES256")
    assert len(unb64(token.split(".")[2])) == 64  # RFC 7518 §3.4, not DER


@pytest.mark.parametrize("typ", ["at+jwt", "logout+jwt"])
def test_typ_header(ring: KeyRing, typ: str) -> None:
    token = ring.sign({"sub": "a"}, alg="ES256", typ=typ)
    assert header_of(token)["typ"] == typ
    assert ring.verify(token)[0]["typ"] == typ
    # the header cache is per typ: an ID token signed afterwards still has none
    assert "typ" not in header_of(ring.sign({"sub": "a"}, alg="ES256"))


def test_sign_rejects_unknown_alg_and_non_dict(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="unsupported alg"):
        ring.sign({"sub": "a"}, alg="HS256")
    with pytest.raises(TypeError, match="claims must be a dict"):
        ring.sign(["sub"], alg="RS256")  # type: ignore[arg-type]


def test_jwks_is_public_and_complete(ring: KeyRing) -> None:
    document = ring.jwks()
    assert document == json.loads(ring.jwks_json())
    published = {k["kid"] for k in document["keys"]}
    assert published == {k["kid"] for k in ring.describe()}  # current + next, both algs
    for key in document["keys"]:
        assert not PRIVATE_MEMBERS & key.keys(), key
        assert key["use"] == "sig"
        assert (key["kty"], key["alg"]) in {("RSA", "RS256"), ("EC", "ES256")}
        assert not import_key(key).is_private
    # keys[0] is the current RS256 key, for clients that naively take the first key
    assert document["keys"][0]["kid"] == current_kid(ring, "RS256")


def test_jwks_dict_is_a_copy(ring: KeyRing) -> None:
    ring.jwks()["keys"].clear()
    assert len(ring.jwks()["keys"]) == 4


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_authlib_verifies_our_tokens_against_the_jwks(ring: KeyRing, clock: ManualClock, alg: str) -> None:
    claims = id_token_claims(clock)
    token = ring.sign(claims, alg=alg, typ="at+jwt")
    decoded = JsonWebToken([alg]).decode(token, JsonWebKey.import_key_set(ring.jwks()))
    assert dict(decoded) == claims
    assert decoded.header["kid"] == current_kid(ring, alg)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_joserfc_jwt_verifies_our_tokens_against_the_jwks(
    ring: KeyRing, clock: ManualClock, alg: str
) -> None:
    claims = id_token_claims(clock)
    token = jwt.decode(ring.sign(claims, alg=alg), KeySet.import_key_set(ring.jwks()), algorithms=[alg])
    assert token.claims == claims


def test_tokens_signed_elsewhere_with_our_key_verify(ring: KeyRing, keys_dir: Path) -> None:
    """The reverse interop direction: our verify() accepts joserfc-made tokens with our kid."""
    kid = current_kid(ring, "RS256")
    token = jws.serialize_compact(
        {"alg": "RS256", "kid": kid}, b'{"sub":"x"}', import_key(private_jwk(keys_dir, kid))
    )
    assert ring.verify(token)[1] == {"sub": "x"}


def test_tampered_payload_is_rejected(ring: KeyRing) -> None:
    header, _payload, signature = ring.sign({"sub": "student"}).split(".")
    forged = b64(json.dumps({"sub": "admin"}).encode())
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tampered_signature_is_rejected(ring: KeyRing, alg: str) -> None:
    header, payload, signature = ring.sign({"sub": "a"}, alg=alg).split(".")
    raw = bytearray(unb64(signature))
    raw[-1] ^= 1
    with pytest.raises(InvalidToken, match="bad signature"):
        ring.verify(f"{header}.{payload}.{b64(bytes(raw))}")


def test_alg_none_is_rejected(ring: KeyRing) -> None:
    kid = current_kid(ring, "RS256")
    header = b64(json.dumps({"alg": "none", "kid": kid}).encode())
    payload = b64(b'{"sub":"admin"}')
    for token in (f"{header}.{payload}.", f"{header}.{payload}.c2ln"):
        with pytest.raises(InvalidToken, match="alg not allowed"):
            ring.verify(token)
    with pytest.raises(ValueError, match="algs must include"):
        ring.verify(f"{header}.{payload}.", algs=("none",))


def test_hmac_with_the_public_key_as_secret_is_rejected(ring: KeyRing) -> None:
    """The classic alg-confusion attack: HS256 keyed with the published RSA key."""
    kid = current_kid(ring, "RS256")
    public = next(k for k in ring.jwks()["keys"] if k["kid"] == kid)
    secret = OctKey.import_key(json.dumps(public).encode())
    token = jws.serialize_compact({"alg": "HS256", "kid": kid}, b'{"sub":"admin"}', secret)
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify(token)


def test_unknown_kid_is_rejected(ring: KeyRing, tmp_path: Path) -> None:
    stranger = KeyRing.open(tmp_path / "other-idp")
    with pytest.raises(InvalidToken, match="unknown kid"):
        ring.verify(stranger.sign({"sub": "a"}, alg="ES256"))


def test_missing_kid_is_rejected(ring: KeyRing, keys_dir: Path) -> None:
    kid = current_kid(ring, "ES256")
    token = jws.serialize_compact({"alg": "ES256"}, b"{}", import_key(private_jwk(keys_dir, kid)))
    with pytest.raises(InvalidToken, match="no kid"):
        ring.verify(token)


def test_wrong_alg_is_rejected(ring: KeyRing) -> None:
    with pytest.raises(InvalidToken, match="alg not allowed"):
        ring.verify(ring.sign({"sub": "a"}, alg="ES256"), algs=("RS256",))


def test_header_alg_must_match_the_key(ring: KeyRing) -> None:
    """An RS256 kid under an ES256 header: refused before any signature maths."""
    _header, payload, signature = ring.sign({"sub": "a"}, alg="RS256").split(".")
    header = b64(json.dumps({"alg": "ES256", "kid": current_kid(ring, "RS256")}).encode())
    with pytest.raises(InvalidToken, match="alg does not match the key"):
        ring.verify(f"{header}.{payload}.{signature}")


def test_payload_must_be_a_json_object(ring: KeyRing, keys_dir: Path) -> None:
    kid = current_kid(ring, "ES256")
    key = import_key(private_jwk(keys_dir, kid))
    token = jws.serialize_compact({"alg": "ES256", "kid": kid}, b"[1,2]", key)
    with pytest.raises(InvalidToken, match="not a JSON object"):
        ring.verify(token)


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b", "a.b.c", "a.b.c.d", "...", "ü.ö.ä", "e30.e30.e30", "x" * 20_000, None, 42],
)
def test_malformed_tokens_raise_invalid_token(ring: KeyRing, garbage: object) -> None:
    with pytest.raises(InvalidToken):
        ring.verify(garbage)  # type: ignore[arg-type]


def test_verify_claims_accepts_a_good_token(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(id_token_claims(clock, aud=["oa-system", "portal"]))
    header, claims = ring.verify_claims(token, issuer=ISSUER, audience="portal")
    assert claims["sub"] == "20231234"
    assert header["kid"] == current_kid(ring, "RS256")


def test_verify_claims_exp_with_leeway(ring: KeyRing, clock: ManualClock) -> None:
    token = ring.sign(id_token_claims(clock))  # exp = now + 300
    clock.advance(300 + 29)
    ring.verify_claims(token, issuer=ISSUER, leeway=30)
    clock.advance(1)
    with pytest.raises(InvalidToken, match="expired"):
        ring.verify_claims(token, issuer=ISSUER, leeway=30)


@pytest.mark.parametrize(
    ("claims", "kwargs", "message"),
    [
        ({"iss": "https://evil.example"}, {}, "wrong issuer"),
        ({"aud": "other-app"}, {"audience": "oa-system"}, "wrong audience"),
        ({"aud": ["a", "b"]}, {"audience": "oa-system"}, "wrong audience"),
        ({"exp": None}, {}, "exp and iat are required"),
        ({"iat": None}, {}, "exp and iat are required"),
        ({"exp": "tomorrow"}, {}, "exp must be a number"),
        ({"exp": True}, {}, "exp must be a number"),
        ({"iat_offset": 120}, {}, "issued in the future"),
        ({"nbf_offset": 120}, {}, "not yet valid"),
    ],
)
def test_verify_claims_rejects(
    ring: KeyRing, clock: ManualClock, claims: dict, kwargs: dict, message: str
) -> None:
    body = id_token_claims(clock)
    if "iat_offset" in claims:
        body["iat"] = body["iat"] + claims.pop("iat_offset")
    if "nbf_offset" in claims:
        body["nbf"] = body["iat"] + claims.pop("nbf_offset")
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidToken, match=message):
        ring.verify_claims(ring.sign(body, alg="ES256"), issuer=ISSUER, **kwargs)


def test_verify_claims_checks_typ(ring: KeyRing, clock: ManualClock) -> None:
    access_token = ring.sign(id_token_claims(clock), typ="at+jwt")
    id_token = ring.sign(id_token_claims(clock))
    ring.verify_claims(access_token, issuer=ISSUER, typ="at+jwt")
    ring.verify_claims(access_token, issuer=ISSUER, typ="application/at+jwt")  # RFC 9068 §4
    with pytest.raises(InvalidToken, match="typ must be"):
        ring.verify_claims(id_token, issuer=ISSUER, typ="at+jwt")
    logout_token = ring.sign(id_token_claims(clock), typ="logout+jwt")
    with pytest.raises(InvalidToken, match="typ must be"):
        ring.verify_claims(logout_token, issuer=ISSUER, typ="at+jwt")

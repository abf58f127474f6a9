"""The TOTP arithmetic against the RFCs' own test vectors, the secret box, recovery codes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from idp.mfa import recovery, totp
from idp.mfa.secretbox import SecretUnreadable, seal, unseal
from idp.settings import load_settings

RFC_SECRET = b"12345678901234567890"


def test_hotp_matches_rfc4226_appendix_d() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314",
                "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(RFC_SECRET, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(("moment", "code"), [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
    (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_totp_matches_rfc6238_appendix_b_sha1(moment: int, code: str) -> None:
    assert totp.hotp(RFC_SECRET, totp.time_step(moment), digits=8) == code


def test_a_code_is_accepted_within_one_step_of_drift_and_never_twice() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    app = pyotp.TOTP(totp.base32(secret))
    step = totp.time_step(now)
    assert totp.matching_step(secret, app.at(now), now=now) == step
    assert totp.matching_step(secret, app.at(now - 30), now=now) == step - 1
    assert totp.matching_step(secret, app.at(now + 30), now=now) == step + 1
    assert totp.matching_step(secret, app.at(now + 90), now=now) is None
    # RFC 6238 §5.2: once a step is used, neither it nor an older one is accepted again
    assert totp.matching_step(secret, app.at(now), after=step, now=now) is None
    assert totp.matching_step(secret, app.at(now - 30), after=step, now=now) is None
    assert totp.matching_step(secret, " ".join([app.at(now)[:3], app.at(now)[3:]]), now=now) == step
    for junk in ("", "12345", "abcdef", "1234567", "１２３４５６"):
        assert totp.matching_step(secret, junk, now=now) is None


def test_the_provisioning_uri_is_what_apps_scan() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="zhang.san", issuer="Campus University")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    query = parse_qs(parts.query)
    assert query["secret"] == [totp.base32(secret)] and query["issuer"] == ["Campus University"]
    parsed = pyotp.parse_uri(uri)
    assert parsed.now() == totp.code_at(secret)
    assert totp.qr_data_uri(uri).startswith("data:image/svg+xml")


def test_sealed_secrets_open_only_for_their_person(tmp_path: Path) -> None:
    settings = load_settings(keys_dir=tmp_path / "keys")
    sealed = seal(settings, b"secret bytes", subject="alice")
    assert b"secret bytes" not in sealed.encode()
    assert unseal(settings, sealed, subject="alice") == b"secret bytes"
    with pytest.raises(SecretUnreadable):
        unseal(settings, sealed, subject="bob")
    with pytest.raises(SecretUnreadable):
        unseal(settings, sealed[:-4] + "AAAA", subject="alice")
    key_file = tmp_path / "keys" / "mfa-secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    # a configured key is used instead of the file, and the two do not open each other's
    with pytest.raises(SecretUnreadable):
        unseal(_with_key(tmp_path, "a configured key of enough length"), sealed, subject="alice")


def _with_key(tmp_path: Path, key: str):  # type: ignore[no-untyped-def]
    from idp.settings import load_settings

    return load_settings(keys_dir=tmp_path / "keys", mfa={"secret_key": key})


def test_recovery_codes_read_forgivingly_and_have_80_bits() -> None:
    code = "7k2m-9xq4-ab3d-h8zz"
    assert recovery.normalise(code) == "7k2m9xq4ab3dh8zz"
    assert recovery.normalise(code.upper().replace("-", " ")) == "7k2m9xq4ab3dh8zz"
    assert recovery.normalise("ik2m-9xq4-ab3d-h8zz") == "1k2m9xq4ab3dh8zz"  # i read as 1
    assert recovery.normalise("too-short") is None
    assert len(recovery.ALPHABET) ** recovery.LENGTH >= 2**80
    assert recovery.digest("alice", "x") != recovery.digest("bob", "x")

"""Encryption at rest for TOTP secrets: AES-256-GCM, each ciphertext bound to its person.

The key is IDP_MFA_SECRET_KEY when set (every replica must share it), else a random key kept in
a file next to the signing keys (created 0600 at first use). The person's subject is the
associated data, so a ciphertext copied onto another person's row does not decrypt.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idp.settings import Settings

KEY_FILE = "mfa-secret.key"
_NONCE = 12
_cache: dict[str, AESGCM] = {}
_lock = threading.Lock()


class SecretUnreadable(Exception):
    """The ciphertext was altered, belongs to someone else, or the key changed."""


def _derive(material: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"campus-idp mfa secrets v1").derive(material)
    return AESGCM(key)


def _key_file_material(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.b64decode(path.read_text(encoding="ascii").strip())
    material = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(material).decode("ascii") + "\n")
    return material


def _cipher(settings: Settings) -> AESGCM:
    configured = settings.mfa.secret_key.get_secret_value()
    cache_key = "setting:" + configured if configured else "file:" + str(settings.keys_dir)
    with _lock:
        cipher = _cache.get(cache_key)
        if cipher is None:
            material = configured.encode("utf-8") if configured else _key_file_material(
                Path(settings.keys_dir) / KEY_FILE)
            cipher = _cache[cache_key] = _derive(material)
    return cipher


def seal(settings: Settings, plaintext: bytes, *, subject: str) -> str:
    nonce = secrets.token_bytes(_NONCE)
    sealed = _cipher(settings).encrypt(nonce, plaintext, subject.encode("utf-8"))
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(settings: Settings, token: str, *, subject: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        return _cipher(settings).decrypt(raw[:_NONCE], raw[_NONCE:], subject.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise SecretUnreadable("the stored secret cannot be decrypted") from exc

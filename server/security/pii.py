"""Personal data at rest: AES-256-GCM with key versions, HMAC blind indexes, and masking.

Ciphertext layout: ``b"\\x01" + kid_len (1 byte) + kid + nonce (12) + ciphertext+tag``. The field
name is the associated data, so a phone ciphertext cannot be pasted into an ID-number column.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from server.security.keys import KeyRing

FORMAT_VERSION = 1


class PiiCipher:
    def __init__(self, keyring: KeyRing) -> None:
        self._keys = {kid: AESGCM(key) for kid, key in keyring.pii_keys.items()}
        self._active = keyring.pii_active
        self._blind_key = keyring.blind_index_key

    @property
    def active_kid(self) -> str:
        return self._active

    def encrypt(self, field: str, value: str) -> bytes:
        kid = self._active.encode()
        nonce = os.urandom(12)
        sealed = self._keys[self._active].encrypt(nonce, value.encode(), field.encode())
        return bytes([FORMAT_VERSION, len(kid)]) + kid + nonce + sealed

    def decrypt(self, field: str, blob: bytes) -> str:
        if not blob or blob[0] != FORMAT_VERSION:
            raise ValueError("unknown ciphertext format")
        kid_len = blob[1]
        kid = blob[2 : 2 + kid_len].decode()
        nonce = blob[2 + kid_len : 14 + kid_len]
        sealed = blob[14 + kid_len :]
        return self._keys[kid].decrypt(nonce, sealed, field.encode()).decode()

    @staticmethod
    def key_version(blob: bytes) -> str:
        return blob[2 : 2 + blob[1]].decode()

    def blind_index(self, field: str, normalised_value: str) -> bytes:
        """Deterministic keyed digest for equality look-ups; the key never leaves the server."""
        message = field.encode() + b"\x00" + normalised_value.encode()
        return hmac.new(self._blind_key, message, hashlib.sha256).digest()


def cipher() -> PiiCipher:
    return current_app.extensions["ssc.pii"]


def mask_id_number(value: str) -> str:
    """``440106199001011234`` → ``4401**********1234``."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_bank_account(value: str) -> str:
    """``6222021234567890123`` → ``6222***********0123``."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(value: str) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧**娜``; Latin names keep each word's first letter."""
    if not value:
        return value
    if value.isascii():
        return " ".join(w[0] + "*" * (len(w) - 1) for w in value.split())
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]

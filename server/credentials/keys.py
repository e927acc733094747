"""Issuer private keys: Ed25519, stored encrypted (AES-256-GCM under the key-encryption key) in
``<keys dir>/issuer/<kid>.key``. The database holds only public keys and their status.

Decrypted keys are cached per process: signing a certificate or a server code never touches disk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.security.keys import KeyRing


class IssuerKeyStore:
    def __init__(self, keyring: KeyRing) -> None:
        self._dir = Path(keyring.directory) / "issuer"
        self._aead = AESGCM(keyring.issuer_kek)
        self._cache: dict[int, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def _path(self, kid: int) -> Path:
        return self._dir / f"{kid:05d}.key"

    def create(self, kid: int) -> Ed25519PrivateKey:
        """Generate and store a new private key for ``kid`` (refuses to overwrite one)."""
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, key.private_bytes_raw(), f"issuer:{kid}".encode())
        fd = os.open(self._path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(nonce + sealed)
        with self._lock:
            self._cache[kid] = key
        return key

    def private_key(self, kid: int) -> Ed25519PrivateKey:
        with self._lock:
            key = self._cache.get(kid)
        if key is not None:
            return key
        blob = self._path(kid).read_bytes()
        raw = self._aead.decrypt(blob[:12], blob[12:], f"issuer:{kid}".encode())
        key = Ed25519PrivateKey.from_private_bytes(raw)
        with self._lock:
            self._cache[kid] = key
        return key

    def has(self, kid: int) -> bool:
        return self._path(kid).exists()

    def destroy(self, kid: int) -> None:
        """Forget a revoked key: remove the file and the cached copy."""
        with self._lock:
            self._cache.pop(kid, None)
        self._path(kid).unlink(missing_ok=True)

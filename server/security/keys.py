"""Secrets kept under ``instance/keys``: generated on first run, never in the repository.

- ``secret_key``: Flask's secret key.
- ``pii.json``: AES-256-GCM keys for personal data, by version, with the active version.
- ``blind_index.key``: HMAC-SHA256 key for look-ups of encrypted values.
- ``pin_pepper.key``: mixed into PIN hashes so a stolen database cannot be brute-forced alone.
- ``issuer_kek.key``: encrypts the e-card issuer private keys kept in ``issuer/`` beside it.
- ``card_master.key``: the card chip master key; each card's key is diversified from it by serial.

Files are written with mode 0600. In production, ``SSC_KEYS_DIR`` points at a mounted secret.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KeyRing:
    secret_key: str
    pii_keys: dict[str, bytes]
    pii_active: str
    blind_index_key: bytes
    pin_pepper: bytes
    issuer_kek: bytes
    directory: str
    card_master: bytes = b""


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _read_or_create(path: Path, make: callable) -> bytes:  # type: ignore[valid-type]
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another worker created it first
            _write_private(path, make())
    return path.read_bytes()


def load_keyring(directory: str | os.PathLike[str]) -> KeyRing:
    keys_dir = Path(directory)
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    secret_key = _read_or_create(keys_dir / "secret_key", lambda: secrets.token_hex(32).encode())

    def new_pii() -> bytes:
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        return json.dumps({"active": "1", "keys": {"1": key}}, indent=2).encode()

    pii = json.loads(_read_or_create(keys_dir / "pii.json", new_pii))
    blind = _read_or_create(keys_dir / "blind_index.key", lambda: secrets.token_hex(32).encode())
    pepper = _read_or_create(keys_dir / "pin_pepper.key", lambda: secrets.token_hex(32).encode())
    kek = _read_or_create(keys_dir / "issuer_kek.key", lambda: secrets.token_hex(32).encode())
    master = _read_or_create(keys_dir / "card_master.key", lambda: secrets.token_hex(32).encode())
    return KeyRing(
        secret_key=secret_key.decode().strip(),
        pii_keys={kid: base64.b64decode(k) for kid, k in pii["keys"].items()},
        pii_active=str(pii["active"]),
        blind_index_key=bytes.fromhex(blind.decode().strip()),
        pin_pepper=bytes.fromhex(pepper.decode().strip()),
        issuer_kek=bytes.fromhex(kek.decode().strip()),
        directory=str(keys_dir),
        card_master=bytes.fromhex(master.decode().strip()),
    )


def add_pii_key(directory: str | os.PathLike[str]) -> str:
    """Add a new AES key version and make it active; old versions stay for decryption."""
    path = Path(directory) / "pii.json"
    pii = json.loads(path.read_bytes())
    new_kid = str(max(int(k) for k in pii["keys"]) + 1)
    pii["keys"][new_kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    pii["active"] = new_kid
    tmp = path.with_suffix(".tmp")
    _write_private(tmp, json.dumps(pii, indent=2).encode())
    os.replace(tmp, path)
    return new_kid

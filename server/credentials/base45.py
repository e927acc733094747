"""Base45 (RFC 9285): bytes to text in the QR code alphanumeric character set.

Two bytes become three characters (``n = c0 + c1*45 + c2*45**2``, ``n < 65536``); a trailing single
byte becomes two characters. Decoding is strict: a character outside the 45-character alphabet, a
length of ``3k + 1``, a triple worth more than 65535 or a final pair worth more than 255 raises
:class:`ValueError`. Strict decoding makes the encoding canonical (one text per byte string).

Standard library only: terminals run this offline.
"""

from __future__ import annotations

__all__ = ["ALPHABET", "b45decode", "b45encode", "encoded_length"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


def encoded_length(n_bytes: int) -> int:
    """Number of Base45 characters for ``n_bytes`` bytes."""
    return (n_bytes // 2) * 3 + (n_bytes % 2) * 2


def b45encode(data: bytes | bytearray | memoryview) -> str:
    """Encode bytes as Base45 text."""
    data = bytes(data)
    out: list[str] = []
    end = len(data) - len(data) % 2
    for i in range(0, end, 2):
        n = (data[i] << 8) | data[i + 1]
        n, c0 = divmod(n, 45)
        c2, c1 = divmod(n, 45)
        out.append(ALPHABET[c0] + ALPHABET[c1] + ALPHABET[c2])
    if end != len(data):
        c1, c0 = divmod(data[-1], 45)
        out.append(ALPHABET[c0] + ALPHABET[c1])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode Base45 text strictly; raise :class:`ValueError` on anything invalid."""
    if not isinstance(text, str):
        raise ValueError("Base45 input must be str")
    if len(text) % 3 == 1:
        raise ValueError("invalid Base45 length")
    try:
        values = [_VALUE[ch] for ch in text]
    except KeyError:
        raise ValueError("invalid Base45 character") from None
    out = bytearray()
    end = len(values) - len(values) % 3
    for i in range(0, end, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025
        if n > 0xFFFF:
            raise ValueError("Base45 triple out of range")
        out += bytes((n >> 8, n & 0xFF))
    if end != len(values):
        n = values[-2] + values[-1] * 45
        if n > 0xFF:
            raise ValueError("Base45 pair out of range")
        out.append(n)
    return bytes(out)

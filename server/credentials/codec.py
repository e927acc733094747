"""Compact binary form of the e-card credential and its QR text (see docs/credential-format.md).

Three structures, all fixed-length, big-endian, versioned:

* :class:`Certificate` (130 bytes) — issued by the server, signed by an issuer Ed25519 key named by
  ``kid``; binds a card pseudonym, holder categories, home city, per-use cap and validity to the
  phone's device public key.
* :class:`Presentation` (203 bytes) — made on the phone offline: certificate + scene + generation
  time + counter + device signature. Text form ``SC1:`` + Base45 (309 characters: QR version 10-M).
* :class:`ServerCode` (99 bytes) — a short-lived code for thin clients, signed by the issuer key
  directly. Text form ``SS1:`` + Base45 (153 characters: QR version 6-M).

:func:`decode` raises only :class:`CredentialError` (code ``"malformed"``). Standard library and
``cryptography`` only; no clock reads: time is passed in.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .base45 import b45decode, b45encode, encoded_length

__all__ = [
    "CERTIFICATE_DOMAIN",
    "CERTIFICATE_LEN",
    "FORMAT_VERSION",
    "MAX_CAP_FEN",
    "MAX_CERT_MINUTES",
    "MAX_SERVER_CODE_VALIDITY_S",
    "PRESENTATION_DOMAIN",
    "PRESENTATION_LEN",
    "PRESENTATION_PREFIX",
    "PRESENTATION_TEXT_LEN",
    "PSEUDONYM_LEN",
    "SERVER_CODE_DOMAIN",
    "SERVER_CODE_LEN",
    "SERVER_CODE_PREFIX",
    "SERVER_CODE_TEXT_LEN",
    "Category",
    "Certificate",
    "CredentialError",
    "Presentation",
    "Scene",
    "ServerCode",
    "decode",
    "encode",
    "make_presentation",
    "make_server_code",
    "sign_certificate",
    "to_unix",
]

FORMAT_VERSION: Final = 1
PRESENTATION_PREFIX: Final = "SC1:"
SERVER_CODE_PREFIX: Final = "SS1:"

PSEUDONYM_LEN: Final = 10
PUBLIC_KEY_LEN: Final = 32
SIGNATURE_LEN: Final = 64
MAX_KID: Final = 0xFFFF
MAX_SERIAL: Final = 0xFFFF_FFFF_FFFF_FFFF
MAX_COUNTER: Final = 0xFFFF_FFFF
MAX_TIME: Final = 0xFFFF_FFFF  # unsigned 32-bit unix seconds: until 2106-02-07
MAX_CAP_FEN: Final = 0xFF_FFFF  # 16,777,215 fen = 167,772.15 yuan
MAX_CERT_MINUTES: Final = 0xFFFF  # 65,535 minutes = 45 d 12 h 15 min
MAX_SERVER_CODE_VALIDITY_S: Final = 0xFFFF  # 18 h 12 min 15 s
MAX_CATEGORIES: Final = 0xFFFF
MAX_HOME_CITY: Final = 0xFFFF * 100  # stored as code // 100 in 16 bits

# Domain-separation prefixes: a signature made for one structure never verifies as another.
CERTIFICATE_DOMAIN: Final = b"SSC-ONECARD/CERT/v1\x00"
PRESENTATION_DOMAIN: Final = b"SSC-ONECARD/PRES/v1\x00"
SERVER_CODE_DOMAIN: Final = b"SSC-ONECARD/SRVC/v1\x00"

# version, kid, serial, pseudonym, categories, city/100, cap (u24), not_before, minutes, device key
_CERT_TBS = struct.Struct(">BHQ10sHH3sIH32s")
# scene, generated_at, counter
_PRES_FIELDS = struct.Struct(">BII")
# version, kid, serial, pseudonym, scene, generated_at, validity_s, categories, city/100, cap (u24)
_SRVC_TBS = struct.Struct(">BHQ10sBIHHH3s")

CERTIFICATE_LEN: Final = _CERT_TBS.size + SIGNATURE_LEN  # 130
PRESENTATION_LEN: Final = CERTIFICATE_LEN + _PRES_FIELDS.size + SIGNATURE_LEN  # 203
SERVER_CODE_LEN: Final = _SRVC_TBS.size + SIGNATURE_LEN  # 99
PRESENTATION_TEXT_LEN: Final = len(PRESENTATION_PREFIX) + encoded_length(PRESENTATION_LEN)  # 309
SERVER_CODE_TEXT_LEN: Final = len(SERVER_CODE_PREFIX) + encoded_length(SERVER_CODE_LEN)  # 153


class CredentialError(Exception):
    """A credential could not be parsed (or, via the subclass ``Refused``, was refused).

    ``code`` is a stable machine code; ``detail`` is for logs only and never part of the contract.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class Category(IntFlag):
    """Holder categories (16 bits on the wire; unknown bits are preserved, not rejected)."""

    NONE = 0
    SENIOR_60_64 = 1 << 0
    SENIOR_65_PLUS = 1 << 1
    DISABLED = 1 << 2
    STUDENT = 1 << 3
    VETERAN = 1 << 4
    MINOR = 1 << 5
    LOW_INCOME = 1 << 6
    # bits 7-15 reserved for future categories


class Scene(IntEnum):
    """Where a code is shown. A presentation is accepted only by a terminal of the same scene."""

    TRANSIT = 1
    LIBRARY = 2
    VENUE = 3
    VOUCHER = 4
    KIOSK = 5
    POS = 6
    GENERIC = 7


def to_unix(value: int | datetime) -> int:
    """Unix seconds from an int or an aware datetime (naive datetimes are a programming error)."""
    if isinstance(value, bool):
        raise TypeError("time must be int unix seconds or an aware datetime, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return math.floor(value.timestamp())
    raise TypeError("time must be int unix seconds or an aware datetime")


def _uint(name: str, value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} out of range 0..{maximum}")
    return value


def _exact_bytes(name: str, value: object, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes")
    value = bytes(value)
    if len(value) != length:
        raise ValueError(f"{name} must be exactly {length} bytes")
    return value


def _check_city(home_city: object) -> int:
    city = _uint("home_city", home_city, MAX_HOME_CITY)
    if city % 100:
        raise ValueError("home_city must be an admin code ending in 00 (e.g. 440100)")
    return city


def _private_key(key: Ed25519PrivateKey | bytes) -> Ed25519PrivateKey:
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, bytes | bytearray):
        return Ed25519PrivateKey.from_private_bytes(bytes(key))
    raise TypeError("expected an Ed25519PrivateKey or its 32-byte raw form")


def _public_bytes(key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes_raw()
    return _exact_bytes("device_public_key", key, PUBLIC_KEY_LEN)


@dataclass(frozen=True, slots=True)
class Certificate:
    """Issuer-signed binding of a card pseudonym and its attributes to a device public key."""

    kid: int
    serial: int
    pseudonym: bytes
    categories: Category
    home_city: int
    per_use_cap_fen: int
    not_before: int
    not_after: int
    device_public_key: bytes
    issuer_signature: bytes
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.version != FORMAT_VERSION:
            raise ValueError(f"unsupported certificate version {self.version}")
        _uint("kid", self.kid, MAX_KID)
        _uint("serial", self.serial, MAX_SERIAL)
        object.__setattr__(
            self, "pseudonym", _exact_bytes("pseudonym", self.pseudonym, PSEUDONYM_LEN)
        )
        object.__setattr__(
            self, "categories", Category(_uint("categories", self.categories, MAX_CATEGORIES))
        )
        _check_city(self.home_city)
        _uint("per_use_cap_fen", self.per_use_cap_fen, MAX_CAP_FEN)
        _uint("not_before", self.not_before, MAX_TIME)
        if isinstance(self.not_after, bool) or not isinstance(self.not_after, int):
            raise TypeError("not_after must be int")
        span = self.not_after - self.not_before
        if span < 0 or span % 60 or span // 60 > MAX_CERT_MINUTES:
            raise ValueError(
                f"validity must be a whole number of minutes, at most {MAX_CERT_MINUTES}"
            )
        object.__setattr__(
            self,
            "device_public_key",
            _exact_bytes("device_public_key", self.device_public_key, PUBLIC_KEY_LEN),
        )
        object.__setattr__(
            self,
            "issuer_signature",
            _exact_bytes("issuer_signature", self.issuer_signature, SIGNATURE_LEN),
        )

    def tbs_bytes(self) -> bytes:
        """The certificate body: every byte before the issuer signature."""
        return _CERT_TBS.pack(
            self.version,
            self.kid,
            self.serial,
            self.pseudonym,
            int(self.categories),
            self.home_city // 100,
            self.per_use_cap_fen.to_bytes(3, "big"),
            self.not_before,
            (self.not_after - self.not_before) // 60,
            self.device_public_key,
        )

    def signature_input(self) -> bytes:
        """What the issuer signs: domain prefix + body."""
        return CERTIFICATE_DOMAIN + self.tbs_bytes()

    def to_bytes(self) -> bytes:
        return self.tbs_bytes() + self.issuer_signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse exactly :data:`CERTIFICATE_LEN` bytes; raise :class:`CredentialError`."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CredentialError("malformed", "certificate must be bytes")
        data = bytes(data)
        if len(data) != CERTIFICATE_LEN:
            raise CredentialError("malformed", "certificate length")
        return _parse_certificate(data)


def _parse_certificate(data: bytes) -> Certificate:
    (version, kid, serial, pseudonym, cats, city, cap, nb, minutes, dev) = _CERT_TBS.unpack_from(
        data, 0
    )
    if version != FORMAT_VERSION:
        raise CredentialError("malformed", f"unknown certificate version {version}")
    # Every field's width is its limit (kid and categories 16 bits, the city // 100 in 16 bits,
    # the cap in 24, the validity in whole minutes in 16 …): a certificate read from the wire
    # always passes __post_init__'s checks, which are for certificates made in code. Skipping them
    # is a third of a cold check's Python (tests compare both ways on random wire bytes).
    cert = object.__new__(Certificate)
    put = object.__setattr__
    put(cert, "kid", kid)
    put(cert, "serial", serial)
    put(cert, "pseudonym", pseudonym)
    put(cert, "categories", Category(cats))
    put(cert, "home_city", city * 100)
    put(cert, "per_use_cap_fen", int.from_bytes(cap, "big"))
    put(cert, "not_before", nb)
    put(cert, "not_after", nb + minutes * 60)
    put(cert, "device_public_key", dev)
    put(cert, "issuer_signature", data[_CERT_TBS.size : CERTIFICATE_LEN])
    put(cert, "version", version)
    return cert


@dataclass(frozen=True, slots=True)
class Presentation:
    """A certificate shown for one scene at one time, signed by the device key."""

    certificate: Certificate
    scene: Scene
    generated_at: int
    counter: int
    device_signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.certificate, Certificate):
            raise TypeError("certificate must be a Certificate")
        object.__setattr__(self, "scene", Scene(self.scene))
        _uint("generated_at", self.generated_at, MAX_TIME)
        _uint("counter", self.counter, MAX_COUNTER)
        object.__setattr__(
            self,
            "device_signature",
            _exact_bytes("device_signature", self.device_signature, SIGNATURE_LEN),
        )

    @property
    def kid(self) -> int:
        return self.certificate.kid

    @property
    def serial(self) -> int:
        return self.certificate.serial

    def _fields(self) -> bytes:
        return _PRES_FIELDS.pack(int(self.scene), self.generated_at, self.counter)

    def signature_input(self) -> bytes:
        """What the device signs: domain prefix + whole certificate + scene, time, counter."""
        return PRESENTATION_DOMAIN + self.certificate.to_bytes() + self._fields()

    def to_bytes(self) -> bytes:
        return self.certificate.to_bytes() + self._fields() + self.device_signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Presentation:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CredentialError("malformed", "presentation must be bytes")
        data = bytes(data)
        if len(data) != PRESENTATION_LEN:
            raise CredentialError("malformed", "presentation length")
        cert = _parse_certificate(data[:CERTIFICATE_LEN])
        scene, generated_at, counter = _PRES_FIELDS.unpack_from(data, CERTIFICATE_LEN)
        try:
            return cls(
                certificate=cert,
                scene=Scene(scene),
                generated_at=generated_at,
                counter=counter,
                device_signature=data[CERTIFICATE_LEN + _PRES_FIELDS.size :],
            )
        except (TypeError, ValueError) as exc:
            raise CredentialError("malformed", str(exc)) from None


@dataclass(frozen=True, slots=True)
class ServerCode:
    """A short-lived thin-client code signed by the issuer key directly (no device key)."""

    kid: int
    serial: int
    pseudonym: bytes
    scene: Scene
    generated_at: int
    validity_s: int
    categories: Category
    home_city: int
    per_use_cap_fen: int
    signature: bytes
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.version != FORMAT_VERSION:
            raise ValueError(f"unsupported server code version {self.version}")
        _uint("kid", self.kid, MAX_KID)
        _uint("serial", self.serial, MAX_SERIAL)
        object.__setattr__(
            self, "pseudonym", _exact_bytes("pseudonym", self.pseudonym, PSEUDONYM_LEN)
        )
        object.__setattr__(self, "scene", Scene(self.scene))
        _uint("generated_at", self.generated_at, MAX_TIME)
        _uint("validity_s", self.validity_s, MAX_SERVER_CODE_VALIDITY_S)
        object.__setattr__(
            self, "categories", Category(_uint("categories", self.categories, MAX_CATEGORIES))
        )
        _check_city(self.home_city)
        _uint("per_use_cap_fen", self.per_use_cap_fen, MAX_CAP_FEN)
        object.__setattr__(
            self, "signature", _exact_bytes("signature", self.signature, SIGNATURE_LEN)
        )

    @property
    def expires_at(self) -> int:
        return self.generated_at + self.validity_s

    def tbs_bytes(self) -> bytes:
        return _SRVC_TBS.pack(
            self.version,
            self.kid,
            self.serial,
            self.pseudonym,
            int(self.scene),
            self.generated_at,
            self.validity_s,
            int(self.categories),
            self.home_city // 100,
            self.per_use_cap_fen.to_bytes(3, "big"),
        )

    def signature_input(self) -> bytes:
        return SERVER_CODE_DOMAIN + self.tbs_bytes()

    def to_bytes(self) -> bytes:
        return self.tbs_bytes() + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> ServerCode:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CredentialError("malformed", "server code must be bytes")
        data = bytes(data)
        if len(data) != SERVER_CODE_LEN:
            raise CredentialError("malformed", "server code length")
        (version, kid, serial, pseudonym, scene, gen, validity, cats, city, cap) = (
            _SRVC_TBS.unpack_from(data, 0)
        )
        if version != FORMAT_VERSION:
            raise CredentialError("malformed", f"unknown server code version {version}")
        try:
            return cls(
                kid=kid,
                serial=serial,
                pseudonym=pseudonym,
                scene=Scene(scene),
                generated_at=gen,
                validity_s=validity,
                categories=Category(cats),
                home_city=city * 100,
                per_use_cap_fen=int.from_bytes(cap, "big"),
                signature=data[_SRVC_TBS.size :],
                version=version,
            )
        except (TypeError, ValueError) as exc:
            raise CredentialError("malformed", str(exc)) from None


_ZERO_SIG = bytes(SIGNATURE_LEN)


def sign_certificate(
    *,
    kid: int,
    serial: int,
    pseudonym: bytes,
    categories: Category | int,
    home_city: int,
    per_use_cap_fen: int,
    not_before: int | datetime,
    not_after: int | datetime,
    device_public_key: Ed25519PublicKey | bytes,
    issuer_private_key: Ed25519PrivateKey | bytes,
) -> Certificate:
    """Build and sign a certificate. ``not_after - not_before`` must be whole minutes (at most
    :data:`MAX_CERT_MINUTES`). Raises ``ValueError``/``TypeError`` for out-of-range fields."""
    nb, na = to_unix(not_before), to_unix(not_after)
    if na <= nb:
        raise ValueError("not_after must be after not_before")
    unsigned = Certificate(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        categories=Category(_uint("categories", categories, MAX_CATEGORIES)),
        home_city=home_city,
        per_use_cap_fen=per_use_cap_fen,
        not_before=nb,
        not_after=na,
        device_public_key=_public_bytes(device_public_key),
        issuer_signature=_ZERO_SIG,
    )
    signature = _private_key(issuer_private_key).sign(unsigned.signature_input())
    return dataclasses.replace(unsigned, issuer_signature=signature)


def make_presentation(
    cert: Certificate,
    device_private_key: Ed25519PrivateKey | bytes,
    scene: Scene | int,
    generated_at: int | datetime,
    counter: int,
) -> Presentation:
    """Sign a presentation on the phone. The key must match ``cert.device_public_key``."""
    key = _private_key(device_private_key)
    if key.public_key().public_bytes_raw() != cert.device_public_key:
        raise ValueError("device key does not match the certificate")
    unsigned = Presentation(
        certificate=cert,
        scene=Scene(scene),
        generated_at=to_unix(generated_at),
        counter=counter,
        device_signature=_ZERO_SIG,
    )
    return dataclasses.replace(unsigned, device_signature=key.sign(unsigned.signature_input()))


def make_server_code(
    *,
    kid: int,
    serial: int,
    pseudonym: bytes,
    scene: Scene | int,
    generated_at: int | datetime,
    validity_s: int,
    categories: Category | int,
    home_city: int,
    per_use_cap_fen: int,
    issuer_private_key: Ed25519PrivateKey | bytes,
) -> ServerCode:
    """Build and sign a thin-client code with the issuer key. ``serial`` must be unique among
    certificate serials and other server codes (it is the replay key, with counter 0)."""
    if isinstance(validity_s, int) and not isinstance(validity_s, bool) and validity_s <= 0:
        raise ValueError("validity_s must be positive")
    unsigned = ServerCode(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        scene=Scene(scene),
        generated_at=to_unix(generated_at),
        validity_s=validity_s,
        categories=Category(_uint("categories", categories, MAX_CATEGORIES)),
        home_city=home_city,
        per_use_cap_fen=per_use_cap_fen,
        signature=_ZERO_SIG,
    )
    # Sign and fill in the signature on the one validated object (no second construction).
    object.__setattr__(
        unsigned, "signature", _private_key(issuer_private_key).sign(unsigned.signature_input())
    )
    return unsigned


class ServerCodeSigner:
    """Issues server codes straight to QR text for one issuer key: the same bytes as
    ``encode(make_server_code(...))`` with the same checks, without building the dataclass
    (thin-client code issuance is a hot path)."""

    def __init__(self, kid: int, issuer_private_key: Ed25519PrivateKey | bytes) -> None:
        self.kid = _uint("kid", kid, MAX_KID)
        self._key = _private_key(issuer_private_key)

    def text(
        self,
        *,
        serial: int,
        pseudonym: bytes,
        scene: Scene | int,
        generated_at: int | datetime,
        validity_s: int,
        categories: Category | int,
        home_city: int,
        per_use_cap_fen: int,
    ) -> str:
        _uint("serial", serial, MAX_SERIAL)
        pseudonym = _exact_bytes("pseudonym", pseudonym, PSEUDONYM_LEN)
        scene = Scene(scene)
        generated = _uint("generated_at", to_unix(generated_at), MAX_TIME)
        if _uint("validity_s", validity_s, MAX_SERVER_CODE_VALIDITY_S) == 0:
            raise ValueError("validity_s must be positive")
        _uint("categories", categories, MAX_CATEGORIES)
        _check_city(home_city)
        _uint("per_use_cap_fen", per_use_cap_fen, MAX_CAP_FEN)
        tbs = _SRVC_TBS.pack(
            FORMAT_VERSION,
            self.kid,
            serial,
            pseudonym,
            int(scene),
            generated,
            validity_s,
            int(categories),
            home_city // 100,
            per_use_cap_fen.to_bytes(3, "big"),
        )
        signature = self._key.sign(SERVER_CODE_DOMAIN + tbs)
        return SERVER_CODE_PREFIX + b45encode(tbs + signature)


def encode(obj: Presentation | ServerCode) -> str:
    """QR text: prefix + Base45 of the binary form (QR alphanumeric characters only)."""
    if isinstance(obj, Presentation):
        return PRESENTATION_PREFIX + b45encode(obj.to_bytes())
    if isinstance(obj, ServerCode):
        return SERVER_CODE_PREFIX + b45encode(obj.to_bytes())
    raise TypeError("encode() takes a Presentation or a ServerCode")


def decode_raw(text: str) -> tuple[str, bytes]:
    """The kind (``"device"`` or ``"server"``) and binary form of QR text, checked for prefix,
    length and Base45 only. Raises :class:`CredentialError` ``"malformed"``."""
    if not isinstance(text, str):
        raise CredentialError("malformed", "not text")
    text = text.rstrip("\r\n")
    if text.startswith(PRESENTATION_PREFIX):
        prefix, expected, kind = PRESENTATION_PREFIX, PRESENTATION_TEXT_LEN, "device"
    elif text.startswith(SERVER_CODE_PREFIX):
        prefix, expected, kind = SERVER_CODE_PREFIX, SERVER_CODE_TEXT_LEN, "server"
    else:
        raise CredentialError("malformed", "unknown prefix")
    if len(text) != expected:
        raise CredentialError("malformed", "wrong length")
    try:
        return kind, b45decode(text[len(prefix) :])
    except ValueError:
        raise CredentialError("malformed", "bad Base45") from None


def decode(text: str) -> Presentation | ServerCode:
    """Parse QR text. Raises only :class:`CredentialError` with code ``"malformed"``.

    Trailing CR/LF (added by keyboard-wedge scanners) is ignored; nothing else is tolerated.
    Signatures are not checked here — that is the verifier's job.
    """
    kind, data = decode_raw(text)
    if kind == "device":
        return Presentation.from_bytes(data)
    return ServerCode.from_bytes(data)

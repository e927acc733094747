"""Shared builders for the credential tests: deterministic keys, certificates and codes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.credentials.codec import (
    Category,
    Certificate,
    Presentation,
    Scene,
    ServerCode,
    encode,
    make_presentation,
    make_server_code,
    sign_certificate,
)
from server.credentials.verifier import (
    MemoryReplayCache,
    RevocationList,
    TrustedKey,
    TrustList,
    Verifier,
)

NOW = 1_780_000_000  # 2026-05-28T20:26:40Z
DAY = 86_400
SKEW = 30
TTL = 60
PSEUDONYM = bytes.fromhex("a1b2c3d4e5f60718293a")
OTHER_PSEUDONYM = bytes.fromhex("00112233445566778899")
SERIAL = 0x0123_4567_89AB_CDEF


def key(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


ISSUER_1 = key("issuer-1")
ISSUER_2 = key("issuer-2")
DEVICE = key("device-1")
OTHER_DEVICE = key("device-2")


def trusted(
    kid: int = 1,
    private: Ed25519PrivateKey = ISSUER_1,
    *,
    not_before: int = NOW - 30 * DAY,
    not_after: int = NOW + 60 * DAY,
    revoked: bool = False,
) -> TrustedKey:
    return TrustedKey(
        kid=kid,
        public_key=private.public_key().public_bytes_raw(),
        not_before=not_before,
        not_after=not_after,
        revoked=revoked,
    )


def trust_list(*keys: TrustedKey) -> TrustList:
    return TrustList(keys or (trusted(1, ISSUER_1), trusted(2, ISSUER_2)), version=7)


def cert(
    *,
    kid: int = 1,
    issuer: Ed25519PrivateKey = ISSUER_1,
    device: Ed25519PrivateKey = DEVICE,
    serial: int = SERIAL,
    pseudonym: bytes = PSEUDONYM,
    categories: Category = Category.SENIOR_65_PLUS | Category.DISABLED,
    home_city: int = 440300,
    per_use_cap_fen: int = 20_000,
    not_before: int = NOW - DAY,
    not_after: int = NOW + 6 * DAY,
) -> Certificate:
    return sign_certificate(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        categories=categories,
        home_city=home_city,
        per_use_cap_fen=per_use_cap_fen,
        not_before=not_before,
        not_after=not_after,
        device_public_key=device.public_key(),
        issuer_private_key=issuer,
    )


def presentation(
    certificate: Certificate | None = None,
    *,
    device: Ed25519PrivateKey = DEVICE,
    scene: Scene = Scene.TRANSIT,
    generated_at: int = NOW - 5,
    counter: int = 42,
) -> Presentation:
    return make_presentation(
        certificate if certificate is not None else cert(device=device),
        device,
        scene,
        generated_at,
        counter,
    )


def pres_text(**kwargs) -> str:
    return encode(presentation(**kwargs))


def server_code(
    *,
    kid: int = 1,
    issuer: Ed25519PrivateKey = ISSUER_1,
    serial: int = 0x7000_0000_0000_0001,
    pseudonym: bytes = PSEUDONYM,
    scene: Scene = Scene.LIBRARY,
    generated_at: int = NOW - 5,
    validity_s: int = 120,
) -> ServerCode:
    return make_server_code(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        scene=scene,
        generated_at=generated_at,
        validity_s=validity_s,
        categories=Category.STUDENT,
        home_city=440100,
        per_use_cap_fen=1_000,
        issuer_private_key=issuer,
    )


def server_text(**kwargs) -> str:
    return encode(server_code(**kwargs))


def verifier(
    *,
    keys: Iterable[TrustedKey] = (),
    revoked_serials: Iterable[int] | dict[int, str] = (),
    revoked_pseudonyms: Iterable[bytes] | dict[bytes, str] = (),
    cache: MemoryReplayCache | None = None,
    cert_cache_size: int = 64,
) -> Verifier:
    return Verifier(
        trust_list(*keys),
        RevocationList(revoked_serials, revoked_pseudonyms, version=3),
        cache if cache is not None else MemoryReplayCache(max_entries=1000),
        clock_skew_s=SKEW,
        presentation_ttl_s=TTL,
        cert_cache_size=cert_cache_size,
    )

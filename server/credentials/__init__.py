"""E-card credentials: compact QR codec and offline verifier.

``base45``, ``codec`` and ``verifier`` use only the standard library and ``cryptography`` (no Flask,
no database): gates, bus validators and the kiosk run them offline. The wire format is documented
in ``docs/credential-format.md``. Server-side pieces (issuer keys in the database, certificate
issuance, terminal list downloads) live in other modules of this package and import these, never
the other way round.
"""

from __future__ import annotations

from .codec import (
    Category,
    Certificate,
    CredentialError,
    Presentation,
    Scene,
    ServerCode,
    decode,
    encode,
    make_presentation,
    make_server_code,
    sign_certificate,
)
from .verifier import (
    REFUSAL_CODES,
    Accepted,
    MemoryReplayCache,
    Refused,
    ReplayCache,
    RevocationList,
    TrustedKey,
    TrustList,
    Verifier,
)

__all__ = [
    "REFUSAL_CODES",
    "Accepted",
    "Category",
    "Certificate",
    "CredentialError",
    "MemoryReplayCache",
    "Presentation",
    "Refused",
    "ReplayCache",
    "RevocationList",
    "Scene",
    "ServerCode",
    "TrustList",
    "TrustedKey",
    "Verifier",
    "decode",
    "encode",
    "make_presentation",
    "make_server_code",
    "sign_certificate",
]

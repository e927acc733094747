"""Issuer keys, card pseudonyms, e-card channels, certificates, the revocation log, and uses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class IssuerKey(db.Model):
    """An Ed25519 issuer key, by ``kid`` (16 bits on the wire). The private half lives encrypted
    under the keys directory. Trusted from ``created_at`` to ``trusted_until``."""

    __tablename__ = "issuer_key"

    kid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16))  # active | retired | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trusted_until: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CardPseudonym(db.Model):
    """The card's name in credentials: 10 random bytes, never derived from the ID number."""

    __tablename__ = "card_pseudonym"

    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), primary_key=True)
    pseudonym: Mapped[bytes] = mapped_column(LargeBinary(10), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EcardChannel(db.Model):
    """An app on a phone that signed the e-card (电子社保卡签发渠道) with its own Ed25519 key."""

    __tablename__ = "ecard_channel"

    id: Mapped[IdPk]
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("person.id"), index=True)
    app_id: Mapped[str] = mapped_column(String(32))
    device_label: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    fallback_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    fallback_serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # One active channel per app per card: signing again from the same app replaces it.
        Index(
            "uq_ecard_channel_active_app",
            "card_id",
            "app_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )


class EcardCertificate(db.Model):
    __tablename__ = "ecard_certificate"

    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("ecard_channel.id"), index=True)
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    kid: Mapped[int] = mapped_column(Integer)
    categories: Mapped[int] = mapped_column(Integer)
    home_city: Mapped[str] = mapped_column(String(6))
    per_use_cap_fen: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(32))


class RevocationEvent(db.Model):
    """An append-only log; its highest id is the revocation list's version, and a delta since a
    version is the events after it. ``kind``: serial | pseudonym; ``op``: add | remove."""

    __tablename__ = "revocation_event"

    id: Mapped[IdPk]
    op: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(32))  # decimal serial or hex pseudonym
    reason: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_revocation_event_kind_value", "kind", "value", "id"),)


class CredentialUse(db.Model):
    """Every accepted presentation, server code or fallback code, once: the unique (serial,
    counter) pair is the replay guard shared by every online terminal."""

    __tablename__ = "credential_use"

    id: Mapped[IdPk]
    serial: Mapped[int] = mapped_column(BigInteger)
    counter: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # device | server | fallback
    card_id: Mapped[int | None] = mapped_column(BigId, index=True)
    terminal_id: Mapped[int | None] = mapped_column(BigId)
    actor_label: Mapped[str] = mapped_column(String(64))
    scene: Mapped[str] = mapped_column(String(16))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("serial", "counter", name="uq_credential_use_serial"),)

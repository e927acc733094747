"""Staff users, access tokens, department clients, and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class StaffUser(db.Model):
    __tablename__ = "staff_user"

    id: Mapped[IdPk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    city_code: Mapped[str | None] = mapped_column(ForeignKey("city.code"))
    department: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # refuses a code used twice
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigId)


class DepartmentClient(db.Model):
    """A department's system (finance, transport, …) calling the department API with a key."""

    __tablename__ = "department_client"

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(32))
    city_code: Mapped[str | None] = mapped_column(ForeignKey("city.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthToken(db.Model):
    """An opaque bearer token; only its SHA-256 is stored."""

    __tablename__ = "auth_token"

    id: Mapped[IdPk]
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # staff | cardholder | department
    subject_id: Mapped[int] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_auth_token_subject", "kind", "subject_id"),)


class AuditEvent(db.Model):
    """Append-only, hash-chained. ``seq`` has no gaps; ``hash`` covers every other column and the
    previous row's hash, so an edited, inserted or deleted row breaks the chain."""

    __tablename__ = "audit_event"

    id: Mapped[IdPk]
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_label: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    city_code: Mapped[str | None] = mapped_column(String(6))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON; never personal data
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)


class AuditHead(db.Model):
    """The chain's head. Appending locks this row: appends are serialised, ``seq`` is dense."""

    __tablename__ = "audit_head"

    chain: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


# --- cardholder sign-in by phone + SMS code ------------------------------------------------------


class SmsCode(db.Model):
    """The current one-time code of a phone for a purpose: one row per (phone, purpose), replaced
    when a new code is sent. Only a keyed hash of the code is kept; the phone only as its blind
    index. The row is locked while a code is checked, so a code signs in at most once."""

    __tablename__ = "sms_code"

    id: Mapped[IdPk]
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[str] = mapped_column(String(16))  # sign_in
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # HMAC under the blind-index key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_tries: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("phone_bidx", "purpose"),)


class SmsOutbox(db.Model):
    """Text messages written by the development sender instead of a gateway. The phone is
    encrypted; the text is kept as is (it is the code the person must receive)."""

    __tablename__ = "sms_outbox"

    id: Mapped[IdPk]
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


_BINDING_ACTIVE = text("revoked_at IS NULL")


class PhoneBinding(db.Model):
    """A mobile number bound to a person after a real-name check. At most one active binding per
    phone and per person (partial unique indexes); re-binding revokes the old row, kept for
    history."""

    __tablename__ = "phone_binding"

    id: Mapped[IdPk]
    phone_bidx: Mapped[bytes] = mapped_column(LargeBinary(32))
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("person.id"))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "uq_phone_binding_active_phone",
            "phone_bidx",
            unique=True,
            sqlite_where=_BINDING_ACTIVE,
            postgresql_where=_BINDING_ACTIVE,
        ),
        Index(
            "uq_phone_binding_active_person",
            "person_id",
            unique=True,
            sqlite_where=_BINDING_ACTIVE,
            postgresql_where=_BINDING_ACTIVE,
        ),
        Index("ix_phone_binding_person_id", "person_id"),
    )

"""Staff users, access tokens, department clients, and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
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

"""The terminal registry and the nonces of signed terminal requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class Terminal(db.Model):
    """A gate, validator, self-check machine, POS or kiosk. Its HMAC secret is stored only
    encrypted (AES-GCM, field ``terminal.secret``) and shown once, at registration or rotation."""

    __tablename__ = "terminal"

    id: Mapped[IdPk]
    code: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. GZM-L3-0001
    kind: Mapped[str] = mapped_column(String(32))  # rules.TerminalKind
    owner: Mapped[str] = mapped_column(String(128))  # operator or organisation
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    location: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # rules.TerminalStatus
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigId)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TerminalNonce(db.Model):
    """A nonce a terminal has used. The unique pair makes a replayed request fail even when the
    copies arrive at the same moment; rows older than the clock window are purged."""

    __tablename__ = "terminal_nonce"

    id: Mapped[IdPk]
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("terminal_id", "nonce"),)

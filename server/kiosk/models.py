"""Card challenges, kiosk activation sessions and help requests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class CardChallenge(db.Model):
    """A challenge the server gave one terminal for one card tap. The terminal holds an opaque
    handle; only its SHA-256 is stored. Single use: ``used_at`` is set when it is presented (even
    when the card's answer is then refused)."""

    __tablename__ = "card_challenge"

    id: Mapped[IdPk]
    handle_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActivationSession(db.Model):
    """A self-service activation at a kiosk: tap → identity (last 6 of the ID number) → PIN.
    Bound to the terminal that started it; the opaque id is stored only as its SHA-256."""

    __tablename__ = "activation_session"

    id: Mapped[IdPk]
    handle_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    identity_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # activated | locked


class HelpRequest(db.Model):
    """A "call staff" press at a terminal. ``ticket`` (A001…) counts per terminal and Shanghai day;
    ``note`` must carry no personal data."""

    __tablename__ = "help_request"

    id: Mapped[IdPk]
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"))
    ticket_day: Mapped[date] = mapped_column(Date)
    ticket_seq: Mapped[int] = mapped_column(Integer)
    ticket: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # rules.HelpStatus
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_user.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # by the terminal

    __table_args__ = (
        UniqueConstraint("terminal_id", "ticket_day", "ticket_seq"),
        Index("ix_help_request_city_status", "city_code", "status"),
    )

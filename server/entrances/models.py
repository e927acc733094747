"""Entrances, the terminals attached to them, and entry records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class Entrance(db.Model):
    """A gate point of a venue: ``GDMUSEUM-MAIN`` (museum), ``GZLIB-MAIN`` (library) …
    ``opening_hours`` is canonical JSON (see :func:`server.entrances.rules.hours_from_json`)."""

    __tablename__ = "entrance"

    id: Mapped[IdPk]
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # rules.EntranceKind
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    opening_hours: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # rules.EntranceStatus
    # Why a suspended entrance is closed (施工、检修…; no personal data), and since when.
    status_reason: Mapped[str | None] = mapped_column(String(200))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigId)


class EntranceTerminal(db.Model):
    """A terminal (kiosk, venue or library gate) standing at an entrance."""

    __tablename__ = "entrance_terminal"

    id: Mapped[IdPk]
    entrance_id: Mapped[int] = mapped_column(BigId, ForeignKey("entrance.id"))
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"), index=True)
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attached_by: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (UniqueConstraint("entrance_id", "terminal_id"),)


class EntryRecord(db.Model):
    """Every entry decision, allowed or denied (with its code). No personal data: the card by its
    internal id only."""

    __tablename__ = "entry_record"

    id: Mapped[IdPk]
    entrance_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("entrance.id"))
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"))
    medium: Mapped[str] = mapped_column(String(8))  # card | qr
    decision: Mapped[str] = mapped_column(String(8))  # allowed | denied
    code: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_entry_record_entrance_at", "entrance_id", "at"),)

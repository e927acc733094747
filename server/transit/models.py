"""Transit tables: where terminals stand, taps, trips, offline batches, debts.

The fare data (GTFS-Fares v2 tables and the project's extensions) follows below, under
"Fare data".
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db


class TerminalPlacement(db.Model):
    """Where a transit terminal stands: its network and, for gates, its station (stop)."""

    __tablename__ = "transit_terminal_placement"

    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(64))
    stop_id: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TapBatch(db.Model):
    """An offline terminal's upload; re-sending the same ``batch_id`` returns the same results."""

    __tablename__ = "transit_tap_batch"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tap_count: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    results: Mapped[str] = mapped_column(Text)  # JSON list, one result per tap, in order


class Tap(db.Model):
    """One tap at a gate, validator, taxi meter or bicycle dock, online or from a batch."""

    __tablename__ = "transit_tap"

    id: Mapped[IdPk]
    terminal_id: Mapped[int] = mapped_column(BigId, ForeignKey("terminal.id"))
    local_seq: Mapped[int | None] = mapped_column(BigInteger)  # offline terminals number taps
    batch_id: Mapped[str | None] = mapped_column(String(64))
    medium: Mapped[str] = mapped_column(String(8))  # qr | card
    credential_serial: Mapped[int | None] = mapped_column(BigInteger)
    credential_counter: Mapped[int | None] = mapped_column(BigInteger)
    card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # entry | exit | single | taxi | bike_out | bike_in
    network_id: Mapped[str] = mapped_column(String(64))
    stop_id: Mapped[str | None] = mapped_column(String(64))
    amount_fen: Mapped[int | None] = mapped_column(Integer)  # taxi meter
    tapped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(16))  # accepted | refused | duplicate | double_use
    code: Mapped[str | None] = mapped_column(String(64))  # refusal code, e.g. credential.revoked
    trip_id: Mapped[int | None] = mapped_column(BigId, index=True)

    __table_args__ = (
        UniqueConstraint("terminal_id", "local_seq", name="uq_transit_tap_terminal_seq"),
        Index("ix_transit_tap_credential", "credential_serial", "credential_counter"),
    )


class Trip(db.Model):
    """A priced ride: metro entry + exit, or one bus/ferry/taxi/bicycle tap (pair). The fare
    breakdown is stored as computed, so the holder sees why they paid what they paid."""

    __tablename__ = "transit_trip"

    id: Mapped[IdPk]
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"))
    network_id: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(12))
    city_code: Mapped[str] = mapped_column(String(6))  # where the ride happened
    home_city: Mapped[str] = mapped_column(String(6))  # the holder's city
    rider_categories: Mapped[str] = mapped_column(String(128))  # comma-separated names
    from_stop_id: Mapped[str | None] = mapped_column(String(64))
    to_stop_id: Mapped[str | None] = mapped_column(String(64))
    entry_tap_id: Mapped[int | None] = mapped_column(BigId)
    exit_tap_id: Mapped[int | None] = mapped_column(BigId)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_date: Mapped[date] = mapped_column(Date)  # Asia/Shanghai date of the start
    status: Mapped[str] = mapped_column(String(12))  # open | complete | incomplete
    incomplete: Mapped[str | None] = mapped_column(String(12))  # no_exit | no_entry
    base_fen: Mapped[int] = mapped_column(Integer, default=0)
    concession_fen: Mapped[int] = mapped_column(Integer, default=0)
    transfer_fen: Mapped[int] = mapped_column(Integer, default=0)
    volume_fen: Mapped[int] = mapped_column(Integer, default=0)
    cap_fen: Mapped[int] = mapped_column(Integer, default=0)
    charged_fen: Mapped[int] = mapped_column(Integer, default=0)
    leg_group_id: Mapped[str | None] = mapped_column(String(64))
    fare_product_id: Mapped[str | None] = mapped_column(String(64))
    rider_category_id: Mapped[str | None] = mapped_column(String(64))
    concession_policy_id: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(String(200))
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    payment_status: Mapped[str] = mapped_column(String(12))  # unpriced | pending | paid | debt
    journal_entry_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    priced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_transit_trip_card_started", "card_id", "started_at"),
        Index("ix_transit_trip_operator_date", "operator_id", "service_date"),
        Index("ix_transit_trip_open", "card_id", "status"),
    )


class Debt(db.Model):
    """A fare the bank could not collect; over a threshold the card goes on the deny list."""

    __tablename__ = "transit_debt"

    id: Mapped[IdPk]
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    trip_id: Mapped[int] = mapped_column(BigId, ForeignKey("transit_trip.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))  # bank error code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    repaid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    journal_entry_id: Mapped[int | None] = mapped_column(BigId)


# --- Fare data ---------------------------------------------------------------------------------

"""Transit tables: where terminals stand, taps, trips, offline batches, debts.

The fare data (GTFS-Fares v2 tables and the project's extensions) follows below, under
"Fare data".
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
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
    # entry | exit | single | taxi | bike_out | bike_in
    kind: Mapped[str] = mapped_column(String(12))
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
    # When the collection job last asked the bank for this fare (None: never). From then on the
    # fare is fixed (the bank may have debited it under the key trip:<id>): taps no longer re-price
    # the trip, and the job retries it with the same amount once SSC_TRANSIT_COLLECT_RETRY_S passed.
    collection_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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
    # A repayment asked of the bank and not answered yet (or not recorded yet): its idempotency
    # key, when it was asked, and the card whose bank account was asked. A retry asks again under
    # the same key, for the same debts, from the same account (payment.repay_debts).
    repay_key: Mapped[str | None] = mapped_column(String(64))
    repay_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repay_card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"))


class LateJoin(db.Model):
    """A trip waiting for its fare adjustment; the adjustment job removes the row when it has
    adjusted the trip. ``late_tap``: a trip charged its maximum fare that a tap uploaded late
    has joined (``service._Trips._join_charged``), written only then, so the job reads a short
    table instead of every incomplete trip. ``earlier_ride``: a later ride of the same card that
    such an adjustment may make cheaper (a transfer from the completed ride), listed by the job
    with the trip that caused it."""

    __tablename__ = "transit_late_join"

    trip_id: Mapped[int] = mapped_column(BigId, ForeignKey("transit_trip.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(
        String(16), default="late_tap", server_default="late_tap"
    )  # late_tap | earlier_ride
    caused_by_trip_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("transit_trip.id"))


class FareAdjustment(db.Model):
    """A charged trip's fare lowered after the fact (``payment`` had collected it, or made it a
    debt), and how the difference went back (``adjustment.py``); this row keeps what was charged
    before. ``late_tap``: a late tap completed a trip charged its maximum fare; the trip now
    holds the ride as the two taps make it. ``earlier_ride``: that completion made a later ride
    of the card cheaper (a transfer from it), re-priced among the rides before it."""

    __tablename__ = "transit_fare_adjustment"

    id: Mapped[IdPk]
    trip_id: Mapped[int] = mapped_column(BigId, ForeignKey("transit_trip.id"), unique=True)
    reason: Mapped[str] = mapped_column(
        String(16), default="late_tap", server_default="late_tap"
    )  # late_tap | earlier_ride
    # late_tap: the late tap; earlier_ride: none, and the trip whose completion caused it
    tap_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("transit_tap.id"))
    caused_by_trip_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("transit_trip.id"))
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    # no_exit | no_entry (late_tap); none for a complete ride (earlier_ride)
    original_incomplete: Mapped[str | None] = mapped_column(String(12))
    original_base_fen: Mapped[int] = mapped_column(Integer)
    original_concession_fen: Mapped[int] = mapped_column(Integer)
    original_transfer_fen: Mapped[int] = mapped_column(Integer)
    original_volume_fen: Mapped[int] = mapped_column(Integer)
    original_cap_fen: Mapped[int] = mapped_column(Integer)
    original_charged_fen: Mapped[int] = mapped_column(Integer)
    refund_fen: Mapped[int] = mapped_column(Integer)  # original charged - the ride's fare, >= 0
    # none (nothing to give back) | debt_reduced | pending (a refund to credit) | refunded
    status: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    journal_entry_id: Mapped[int | None] = mapped_column(BigId)
    # A refund asked of the bank and not answered (or not recorded) yet, as for repayments: its
    # key, when, and the card whose account is credited. A refusal clears them and keeps the
    # bank's code in refund_error; the next run asks again under a new key.
    refund_key: Mapped[str | None] = mapped_column(String(64))
    refund_attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"))
    refund_error: Mapped[str | None] = mapped_column(String(32))


# --- Fare data ---------------------------------------------------------------------------------
# GTFS-Fares v2 tables (string GTFS ids as primary keys, blank fields stored as NULL, amounts in
# integer fen) and the project's extensions; server/transit/data/README.md describes every file.
# ``fares.import_fares`` replaces all of them in one transaction; ``fare_import`` records each
# import and its id is the fare data version.


class TransitOperator(db.Model):
    """Extension file ``operators.csv``: who runs a network and gets its fares."""

    __tablename__ = "transit_operator"

    operator_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))
    mode: Mapped[str] = mapped_column(String(12))


class TransitNetwork(db.Model):
    """GTFS ``networks`` plus extension columns operator_id, city_code, mode."""

    __tablename__ = "transit_network"

    network_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    network_name: Mapped[str | None] = mapped_column(String(200))
    operator_id: Mapped[str] = mapped_column(String(64), ForeignKey("transit_operator.operator_id"))
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))
    mode: Mapped[str] = mapped_column(String(12))


class TransitStop(db.Model):
    """GTFS ``stops`` (stations, bus stops, piers, docks) plus extension column city_code."""

    __tablename__ = "transit_stop"

    stop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stop_name: Mapped[str] = mapped_column(String(200))
    stop_lat: Mapped[float | None] = mapped_column(Float)
    stop_lon: Mapped[float | None] = mapped_column(Float)
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))


class FareArea(db.Model):
    """GTFS ``areas``."""

    __tablename__ = "fare_area"

    area_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_name: Mapped[str | None] = mapped_column(String(200))


class FareStopArea(db.Model):
    """GTFS ``stop_areas``."""

    __tablename__ = "fare_stop_area"

    area_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fare_area.area_id"), primary_key=True
    )
    stop_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("transit_stop.stop_id"), primary_key=True
    )


class FareRiderCategory(db.Model):
    """GTFS ``rider_categories``; ids are the category names of ``credentials.rules``."""

    __tablename__ = "fare_rider_category"

    rider_category_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rider_category_name: Mapped[str] = mapped_column(String(200))
    is_default_fare_category: Mapped[bool] = mapped_column(Boolean, default=False)


class FareMedia(db.Model):
    """GTFS ``fare_media``."""

    __tablename__ = "fare_media"

    fare_media_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fare_media_name: Mapped[str | None] = mapped_column(String(200))
    fare_media_type: Mapped[int] = mapped_column(Integer)


class FareProduct(db.Model):
    """GTFS ``fare_products``: one row per product (the full fare; concessions are policies)."""

    __tablename__ = "fare_product"

    fare_product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fare_product_name: Mapped[str | None] = mapped_column(String(200))
    rider_category_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("fare_rider_category.rider_category_id")
    )
    fare_media_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("fare_media.fare_media_id")
    )
    amount_fen: Mapped[int] = mapped_column(Integer)  # negative only for transfer discounts
    currency: Mapped[str] = mapped_column(String(3))


class FareLegRule(db.Model):
    """GTFS ``fare_leg_rules`` (no timeframes). No GTFS id: a surrogate key, uniqueness of
    (network, from area, to area, product) is checked by the import."""

    __tablename__ = "fare_leg_rule"

    id: Mapped[IdPk]
    leg_group_id: Mapped[str | None] = mapped_column(String(64))
    network_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("transit_network.network_id"), index=True
    )
    from_area_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("fare_area.area_id"))
    to_area_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("fare_area.area_id"))
    fare_product_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fare_product.fare_product_id")
    )
    rule_priority: Mapped[int] = mapped_column(Integer, default=0)


class FareTransferRule(db.Model):
    """GTFS ``fare_transfer_rules``; ``duration_limit`` in seconds."""

    __tablename__ = "fare_transfer_rule"

    id: Mapped[IdPk]
    from_leg_group_id: Mapped[str | None] = mapped_column(String(64))
    to_leg_group_id: Mapped[str | None] = mapped_column(String(64))
    transfer_count: Mapped[int | None] = mapped_column(Integer)
    duration_limit: Mapped[int | None] = mapped_column(Integer)
    duration_limit_type: Mapped[int | None] = mapped_column(Integer)
    fare_transfer_type: Mapped[int] = mapped_column(Integer)
    fare_product_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("fare_product.fare_product_id")
    )


class FareConcessionPolicy(db.Model):
    """Extension ``concession_policies.csv``: a rider category's discount in a city and mode."""

    __tablename__ = "fare_concession_policy"

    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))
    mode: Mapped[str] = mapped_column(String(12))  # a mode or "*"
    rider_category_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fare_rider_category.rider_category_id")
    )
    discount: Mapped[str] = mapped_column(String(8))  # free | percent
    percent_off: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)  # Asia/Shanghai service dates, inclusive
    valid_to: Mapped[date | None] = mapped_column(Date)
    other_cities: Mapped[str] = mapped_column(String(12))  # none | guangdong


class FareCapRule(db.Model):
    """Extension ``fare_caps.csv``: never charge more than this per day or month."""

    __tablename__ = "fare_cap"

    cap_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))
    modes: Mapped[str] = mapped_column(String(100))  # "metro;bus"
    period: Mapped[str] = mapped_column(String(8))  # day | month
    amount_fen: Mapped[int] = mapped_column(Integer)


class FareVolumeDiscount(db.Model):
    """Extension ``volume_discounts.csv``: after N paid rides in a month, P% off."""

    __tablename__ = "fare_volume_discount"

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("city.code"))
    modes: Mapped[str] = mapped_column(String(100))
    after_rides: Mapped[int] = mapped_column(Integer)
    percent_off: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(8))  # month


class FareDurationFare(db.Model):
    """Extension ``duration_fares.csv``: bicycles, priced by the started time block."""

    __tablename__ = "fare_duration_fare"

    network_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("transit_network.network_id"), primary_key=True
    )
    free_minutes: Mapped[int] = mapped_column(Integer)
    block_minutes: Mapped[int] = mapped_column(Integer)
    block_fen: Mapped[int] = mapped_column(Integer)
    max_fen: Mapped[int | None] = mapped_column(Integer)


class FareIncompleteTripRule(db.Model):
    """Extension ``incomplete_trips.csv``: no exit, no entry, timeouts, same-station exits."""

    __tablename__ = "fare_incomplete_trip"

    network_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("transit_network.network_id"), primary_key=True
    )
    no_exit_fen: Mapped[int | None] = mapped_column(Integer)  # NULL: the network's maximum fare
    no_entry_fen: Mapped[int | None] = mapped_column(Integer)  # NULL: the network's maximum fare
    exit_timeout_minutes: Mapped[int | None] = mapped_column(Integer)
    same_station_minutes: Mapped[int | None] = mapped_column(Integer)


class FareImport(db.Model):
    """One ``flask transit import-fares`` run; the latest id is the fare data version."""

    __tablename__ = "fare_import"

    id: Mapped[IdPk]
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 over the file hashes
    file_hashes: Mapped[str] = mapped_column(Text)  # JSON {file: sha256}
    row_counts: Mapped[str] = mapped_column(Text)  # JSON {file: rows}

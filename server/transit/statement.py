"""What a cardholder sees of their rides: trips newest first, and the monthly statement.

Trips of every card the person has had count (a replaced card's rides too). A trip belongs to the
Asia/Shanghai month of its service date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.clock import local_date
from server.transit import payment
from server.transit.models import Debt, FareAdjustment, Tap, Trip
from server.transit.service import late_tap_of

BILLED = ("pending", "paid", "debt")


def trips_page(
    session: Session, person_id: int, *, limit: int, before_id: int | None = None
) -> list[Trip]:
    """The person's trips, newest first; page with ``before_id`` = the last id seen."""
    card_ids = payment.person_card_ids(session, person_id)
    stmt = select(Trip).where(Trip.card_id.in_(card_ids))
    if before_id is not None:
        stmt = stmt.where(Trip.id < before_id)
    return list(session.execute(stmt.order_by(Trip.id.desc()).limit(limit)).scalars())


def late_taps(session: Session, trips: list[Trip]) -> dict[int, list[Tap]]:
    """Per trip, the accepted taps that joined it after its maximum fare was collected or asked
    of the bank (an exit or entry uploaded late, :meth:`server.transit.service._Trips.apply`):
    neither its entry nor its exit tap. They were not charged; they are what a holder (or the
    service desk) needs to see why the ride cost the maximum."""
    incomplete = sorted(t.id for t in trips if t.incomplete is not None)
    if not incomplete:
        return {}
    found: dict[int, list[Tap]] = {}
    for tap in session.execute(
        select(Tap)
        .join(Trip, Trip.id == Tap.trip_id)
        .where(Trip.id.in_(incomplete), *late_tap_of(Tap.__table__, Trip.__table__))
        .order_by(Tap.tapped_at, Tap.id)
    ).scalars():
        found.setdefault(tap.trip_id, []).append(tap)  # type: ignore[arg-type]
    return found


def adjustments(session: Session, trips: list[Trip]) -> dict[int, FareAdjustment]:
    """The fare adjustment of each trip that has one (a late tap completed it after its maximum
    fare was charged, or that completion lowered its fare: :mod:`server.transit.adjustment`)."""
    ids = [t.id for t in trips]
    if not ids:
        return {}
    found = session.execute(select(FareAdjustment).where(FareAdjustment.trip_id.in_(ids)))
    return {a.trip_id: a for a in found.scalars()}


@dataclass
class ModeTotals:
    mode: str
    trips: int = 0
    base_fen: int = 0
    concession_fen: int = 0
    discount_fen: int = 0
    charged_fen: int = 0


@dataclass
class Statement:
    month: str
    trips: int = 0
    base_fen: int = 0
    concession_fen: int = 0  # concessions received (paid by the city)
    transfer_fen: int = 0
    volume_fen: int = 0
    cap_fen: int = 0
    discount_fen: int = 0  # transfer + volume + cap
    charged_fen: int = 0
    paid_fen: int = 0
    pending_fen: int = 0  # charged, not collected yet
    debt_fen: int = 0  # this month's fares in unpaid debt
    outstanding_debt_fen: int = 0  # every unpaid debt, now
    refund_due_fen: int = 0  # fare adjustments of this month's trips not refunded yet
    refunded_fen: int = 0  # fare adjustments of this month's trips refunded to the bank account
    by_mode: list[ModeTotals] = field(default_factory=list)


def month_bounds(month: str) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, first day of the next month)."""
    year, mon = (int(part) for part in month.split("-"))
    first = date(year, mon, 1)
    after = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return first, after


def monthly_statement(
    session: Session, person_id: int, month: str | None, now: datetime
) -> Statement:
    """Counts and totals by mode for an Asia/Shanghai month (this month when ``month`` is None)."""
    month = month or local_date(now).strftime("%Y-%m")
    first, after = month_bounds(month)
    card_ids = payment.person_card_ids(session, person_id)
    in_month = (Trip.service_date >= first, Trip.service_date < after)
    rows = session.execute(
        select(
            Trip.mode,
            Trip.payment_status,
            func.count(Trip.id),
            func.sum(Trip.base_fen),
            func.sum(Trip.concession_fen),
            func.sum(Trip.transfer_fen),
            func.sum(Trip.volume_fen),
            func.sum(Trip.cap_fen),
            func.sum(Trip.charged_fen),
        )
        .where(Trip.card_id.in_(card_ids), *in_month, Trip.payment_status.in_(BILLED))
        .group_by(Trip.mode, Trip.payment_status)
    ).all()
    debt_this_month = session.execute(
        select(func.coalesce(func.sum(Debt.amount_fen), 0))
        .join(Trip, Trip.id == Debt.trip_id)
        .where(Debt.card_id.in_(card_ids), Debt.repaid_at.is_(None), *in_month)
    ).scalar_one()
    refunds = dict(
        session.execute(
            select(FareAdjustment.status, func.sum(FareAdjustment.refund_fen))
            .join(Trip, Trip.id == FareAdjustment.trip_id)
            .where(Trip.card_id.in_(card_ids), *in_month)
            .group_by(FareAdjustment.status)
        ).all()
    )
    out = Statement(
        month=month,
        debt_fen=int(debt_this_month),
        outstanding_debt_fen=payment.unpaid_debt_fen(session, card_ids),
        refund_due_fen=int(refunds.get("pending") or 0),
        refunded_fen=int(refunds.get("refunded") or 0),
    )
    modes: dict[str, ModeTotals] = {}
    for mode, status, *numbers in rows:
        n, base, concession, transfer, volume, cap, charged = (int(v or 0) for v in numbers)
        discount = transfer + volume + cap
        by = modes.setdefault(mode, ModeTotals(mode=mode))
        by.trips += n
        by.base_fen += base
        by.concession_fen += concession
        by.discount_fen += discount
        by.charged_fen += charged
        out.trips += n
        out.base_fen += base
        out.concession_fen += concession
        out.transfer_fen += transfer
        out.volume_fen += volume
        out.cap_fen += cap
        out.discount_fen += discount
        out.charged_fen += charged
        if status == "paid":
            out.paid_fen += charged
        elif status == "pending":
            out.pending_fen += charged
    out.by_mode = [modes[m] for m in sorted(modes)]
    return out

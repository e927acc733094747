"""Fare adjustments: a late tap completes a trip already charged its maximum fare.

An exit uploaded after its entry's ``no_exit`` maximum fare was collected, asked of the bank or
made a debt (or an entry after a ``no_entry`` maximum) joins that trip uncharged
(``service._Trips._join_charged``): the trip's fare was fixed, because the bank may have debited
it under ``trip:<id>``. Once the money side has an answer — the trip is ``paid``, or a ``debt``
no repayment is asking the bank for — :func:`adjust_late_taps` prices the ride the two taps make
as it would have been priced had the tap come in time (``service.complete_charged_trip``) and:

- writes the completed ride on the trip (stops, times, the new breakdown and ``charged_fen``) and
  keeps what was charged before on a :class:`FareAdjustment` (``original_*``); the refund is the
  difference, never negative (a ride that costs the maximum anyway, e.g. past the exit timeout,
  refunds nothing: status ``none``);
- an unpaid debt shrinks by the refund (to nothing: it is settled) and no money moves; the debt
  listing is lifted when what the holder still owes is within the limit (``debt_reduced``);
- money already taken (collected, or the debt repaid) goes back to the bank account of the
  holder's current card (``pending`` → ``refunded``), in three steps as a collection: stamp a key,
  the time and the card and commit; ``credit`` with no transaction open; record one journal
  entry operator → bank clearing under the same key. An unanswered credit is asked again under the
  same key after ``SSC_TRANSIT_COLLECT_RETRY_S`` (the bank moves the money once); a refusal keeps
  the bank's code in ``refund_error`` and the next run asks again under a new key (the holder
  may have a new card by then).

Completing the trip may make a later ride of the card cheaper: a bus boarded after the exit gets
its transfer discount once the metro ride has an end. The job lists the card's later rides a
transfer could reach (``earlier_ride``) and prices each again among the rides that started before
it, as a tap in time would have been priced (:func:`reprice_trip`). A lower fare is kept, with a
:class:`FareAdjustment` of its own and the difference given back the same way. A higher one (say,
a daily cap that the maximum fare had reached sooner) is never asked of the holder, so the ride
keeps its fare. The completed trip is priced the same way, among the rides before it only.

Settlement and the holder's statement read the trips, so gross fares, concessions and net follow
the ride as it was; ``settle_day`` posts the concession difference when the day is settled again.

Every adjustment that changes what the holder owes or gets back is in the audit log
(``transit.fare_adjusted``): a debt written down leaves no journal entry.

Locks, in the order the other money paths take them: the trip's card, the holder's current card
(a repayment starts there), the trip's debt, then the trip; a refund step locks the trip's card,
the adjustment row and, choosing the account to credit, the holder's current card.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, union
from sqlalchemy.orm import Session

from server.errors import DomainError
from server.ledger.bank import BankTimeout
from server.registry.models import Card
from server.registry.service import decrypt_bank_account
from server.security import audit
from server.transit import payment
from server.transit import service as trips_service
from server.transit.models import Debt, FareAdjustment, LateJoin, Tap, Trip
from server.transit.payment import DEBT, PAID

log = logging.getLogger("server.transit.adjustment")

NONE, DEBT_REDUCED, REFUND_PENDING, REFUNDED = "none", "debt_reduced", "pending", "refunded"
LATE_TAP, EARLIER_RIDE = "late_tap", "earlier_ride"  # why a trip is adjusted
FARE_FIELDS = ("base_fen", "concession_fen", "transfer_fen", "volume_fen", "cap_fen", "charged_fen")
# where and when the ride was: completing it always writes these
PLACE_FIELDS = (
    "status",
    "incomplete",
    "started_at",
    "ended_at",
    "service_date",
    "from_stop_id",
    "to_stop_id",
    "entry_tap_id",
    "exit_tap_id",
)
# how the ride was priced, written with its fare (the trip's payment columns never change here)
PRICE_FIELDS = (
    *FARE_FIELDS,
    "rider_categories",
    "leg_group_id",
    "fare_product_id",
    "rider_category_id",
    "concession_policy_id",
    "notes",
    "transfer_count",
    "priced_at",
)


@dataclass(frozen=True)
class AdjustOutcome:
    trip_id: int
    status: str  # none | debt_reduced | pending | refunded | unchanged | waiting | skipped
    refund_fen: int = 0
    code: str | None = None  # why waiting, or the bank's code of a refusal or timeout


@dataclass
class AdjustSummary:
    outcomes: list[AdjustOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        counts = dict.fromkeys(
            (NONE, DEBT_REDUCED, REFUND_PENDING, REFUNDED, "unchanged", "waiting", "skipped"), 0
        )
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        counts["refunded_fen"] = sum(o.refund_fen for o in self.outcomes if o.status == REFUNDED)
        return counts


def adjust_late_taps(session: Session, now: datetime, limit: int = 500) -> AdjustSummary:
    """The adjustment job: up to ``limit`` listed trips (oldest first: charged trips a late tap
    joined, then the later rides their completion listed), then up to ``limit`` refunds due (new,
    refused before, or unanswered for ``SSC_TRANSIT_COLLECT_RETRY_S``). One short transaction per
    step; safe on several workers."""
    limit = max(1, int(limit))
    summary = AdjustSummary()
    taken: set[int] = set()
    while len(taken) < limit:  # a second round takes the later rides the first one listed
        listed = session.execute(
            select(LateJoin.trip_id, LateJoin.reason)
            .join(Trip, Trip.id == LateJoin.trip_id)
            .where(Trip.payment_status.in_((PAID, DEBT)))  # not while the bank is being asked
            .where(LateJoin.trip_id.not_in(taken))  # waiting ones: next run
            .order_by(LateJoin.trip_id)
            .limit(limit - len(taken))
        ).all()
        session.rollback()
        if not listed:
            break
        for trip_id, reason in listed:
            taken.add(trip_id)
            step = reprice_trip if reason == EARLIER_RIDE else adjust_trip
            summary.outcomes.append(_guarded(session, step, trip_id, now))
    due = list(
        session.execute(
            select(FareAdjustment.trip_id)
            .where(
                FareAdjustment.status == REFUND_PENDING,
                payment.due_again(FareAdjustment.refund_attempted_at, now),
            )
            .order_by(FareAdjustment.id)
            .limit(limit)
        ).scalars()
    )
    session.rollback()
    done = {o.trip_id for o in summary.outcomes}  # adjusted now: its refund was asked already
    for trip_id in due:
        if trip_id not in done:
            summary.outcomes.append(_guarded(session, refund, trip_id, now))
    return summary


def _guarded(session: Session, step, trip_id: int, now: datetime) -> AdjustOutcome:
    try:
        return step(session, trip_id, now)
    except DomainError as exc:  # e.g. a frozen operator account: taken up again next run
        session.rollback()
        log.warning("fare adjustment not done", extra={"trip_id": trip_id, "code": exc.code})
        return AdjustOutcome(trip_id, "waiting", code=exc.code)


def _lock_for_adjustment(
    session: Session, trip_id: int, finished: Callable[[Trip, bool], bool]
) -> tuple[Card, Debt | None, Trip] | AdjustOutcome:
    """Lock the trip's card, the holder's current card, the trip's debt and the trip, in the order
    the other money paths take them: (card, debt, trip), or the outcome of a trip not to touch now
    (rolled back; one ``finished(trip, adjusted before)`` says is done leaves the list)."""
    card = payment.lock_trip_card(session, trip_id)
    if card is None:
        session.rollback()
        raise DomainError("transit.trip_not_found", trip_id=trip_id)
    payment.lock_current_card(session, card.person_id)
    debt = session.execute(
        select(Debt)
        .where(Debt.trip_id == trip_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    trip = payment.lock_trip(session, trip_id)
    exists = session.execute(
        select(FareAdjustment.id).where(FareAdjustment.trip_id == trip_id)
    ).first()
    if trip is None or trip.payment_status not in (PAID, DEBT):
        session.rollback()
        return AdjustOutcome(trip_id, "skipped")
    if finished(trip, exists is not None):
        _done(session, trip_id)
        session.commit()
        return AdjustOutcome(trip_id, "skipped")
    if trip.payment_status == DEBT and (debt is None or debt.repaid_at is not None):
        session.rollback()  # not a state the payment paths leave: never refund on a guess
        log.error("trip in debt without an open debt", extra={"trip_id": trip_id})
        return AdjustOutcome(trip_id, "skipped")
    if debt is not None and debt.repaid_at is None and debt.repay_key is not None:
        session.rollback()  # the fare is what a repayment asked the bank for: wait for its answer
        return AdjustOutcome(trip_id, "waiting", code="transit.repayment_in_progress")
    return card, debt, trip


def adjust_trip(session: Session, trip_id: int, now: datetime) -> AdjustOutcome:
    """Complete one charged trip with its late tap, and give back the difference (commits)."""
    locked = _lock_for_adjustment(  # complete, or adjusted already
        session, trip_id, lambda trip, adjusted: trip.incomplete is None or adjusted
    )
    if isinstance(locked, AdjustOutcome):
        return locked
    card, debt, trip = locked
    late = session.execute(
        select(Tap)
        .where(Tap.trip_id == trip_id, Tap.result == "accepted")
        .where(*trips_service.late_tap_of(Tap.__table__, Trip.__table__))
        .where(Trip.id == trip_id)
        .order_by(Tap.id)
        .limit(1)
    ).scalar_one_or_none()
    if late is None:  # not a trip a tap joined late
        _done(session, trip_id)
        session.commit()
        return AdjustOutcome(trip_id, "skipped")

    before = {name: getattr(trip, name) for name in FARE_FIELDS}
    ride = trips_service.complete_charged_trip(session, trip, late, now)
    adjustment = FareAdjustment(
        trip_id=trip.id,
        reason=LATE_TAP,
        tap_id=late.id,
        card_id=trip.card_id,
        original_incomplete=trip.incomplete,
        **{f"original_{name}": value for name, value in before.items()},
        refund_fen=0,
        status=NONE,
        created_at=now,
    )
    for name in PLACE_FIELDS:
        setattr(trip, name, ride[name])
    priced = ride["payment_status"] != trips_service.UNPRICED
    if priced and ride["charged_fen"] <= before["charged_fen"]:
        for name in PRICE_FIELDS:
            setattr(trip, name, ride[name])
        adjustment.refund_fen = before["charged_fen"] - ride["charged_fen"]
    else:
        # The fare data cannot price the ride, or prices it above what was charged (never asked
        # of the holder after the fact): the trip keeps the fare it was charged.
        trip.notes = ",".join(filter(None, [trip.notes, "fare_kept"]))[:200]
    session.add(adjustment)
    _done(session, trip_id)
    session.flush()
    _list_later_rides(session, trip, now)
    return _give_back(session, card, debt, trip, adjustment, now)


def _list_later_rides(session: Session, trip: Trip, now: datetime) -> None:
    """The card's later rides a transfer from the completed ``trip`` could reach: each is priced
    again among the rides before it (:func:`reprice_trip`), unless it was adjusted or is listed
    already. The card is locked, so no tap lists one meanwhile."""
    later = trips_service.later_rides(session, trip)
    if not later:
        return
    listed_or_adjusted = union(
        select(LateJoin.trip_id).where(LateJoin.trip_id.in_(later)),
        select(FareAdjustment.trip_id).where(FareAdjustment.trip_id.in_(later)),
    )
    taken = set(session.execute(listed_or_adjusted).scalars())
    for trip_id in later:
        if trip_id not in taken:
            session.add(
                LateJoin(
                    trip_id=trip_id,
                    created_at=now,
                    reason=EARLIER_RIDE,
                    caused_by_trip_id=trip.id,
                )
            )


def reprice_trip(session: Session, trip_id: int, now: datetime) -> AdjustOutcome:
    """A later ride an earlier ride's completion may make cheaper (a transfer from it): priced
    again among the card's rides before it. A lower fare is kept and the difference given back
    as for a late tap; a higher one is never asked of the holder (commits)."""
    # adjusted already (a trip keeps its first adjustment), or taken by another worker
    locked = _lock_for_adjustment(
        session,
        trip_id,
        lambda trip, adjusted: adjusted or session.get(LateJoin, trip.id) is None,
    )
    if isinstance(locked, AdjustOutcome):
        return locked
    card, debt, trip = locked
    listed = session.get(LateJoin, trip_id)
    before = {name: getattr(trip, name) for name in FARE_FIELDS}
    ride = trips_service.reprice_later_ride(session, trip, now)
    cause = listed.caused_by_trip_id
    _done(session, trip_id)
    priced = ride["payment_status"] != trips_service.UNPRICED
    if not priced or ride["charged_fen"] >= before["charged_fen"]:
        session.commit()
        return AdjustOutcome(trip_id, "unchanged")
    for name in PRICE_FIELDS:
        setattr(trip, name, ride[name])
    adjustment = FareAdjustment(
        trip_id=trip.id,
        reason=EARLIER_RIDE,
        caused_by_trip_id=cause,
        card_id=trip.card_id,
        original_incomplete=trip.incomplete,
        **{f"original_{name}": value for name, value in before.items()},
        refund_fen=before["charged_fen"] - ride["charged_fen"],
        status=NONE,
        created_at=now,
    )
    session.add(adjustment)
    return _give_back(session, card, debt, trip, adjustment, now)


def _give_back(
    session: Session,
    card: Card,
    debt: Debt | None,
    trip: Trip,
    adjustment: FareAdjustment,
    now: datetime,
) -> AdjustOutcome:
    """The adjustment's refund: off the unpaid debt, or back to the bank account (commits)."""
    trip_id = trip.id
    if adjustment.refund_fen == 0:
        session.commit()
        return AdjustOutcome(trip_id, NONE)
    if debt is not None and debt.repaid_at is None:
        debt.amount_fen -= adjustment.refund_fen
        if debt.amount_fen == 0:  # the ride was free after all: nothing is owed
            debt.repaid_at = now
            trip.payment_status = PAID
        adjustment.status = DEBT_REDUCED
        adjustment.refunded_at = now
        session.flush()
        _audit(session, trip, adjustment, now)
        payment.lift_debt_listing(
            session,
            None,
            card.person_id,
            payment.person_card_ids(session, card.person_id),
            card.issuing_city,
            now,
        )
        session.commit()
        return AdjustOutcome(trip_id, DEBT_REDUCED, adjustment.refund_fen)
    adjustment.status = REFUND_PENDING  # the money was taken: credit it back
    _audit(session, trip, adjustment, now)
    session.commit()
    return refund(session, trip_id, now)


def _audit(session: Session, trip: Trip, adjustment: FareAdjustment, now: datetime) -> None:
    """What the holder owes or gets back changed without a tap of theirs being charged: a debt
    written down leaves no journal entry, so the audit log keeps every adjustment with money."""
    audit.record(
        session,
        None,
        "transit.fare_adjusted",
        object_type="trip",
        object_id=trip.id,
        city_code=trip.city_code,
        now=now,
        reason=adjustment.reason,
        tap_id=adjustment.tap_id,
        caused_by_trip_id=adjustment.caused_by_trip_id,
        original_fen=adjustment.original_charged_fen,
        fare_fen=trip.charged_fen,
        refund_fen=adjustment.refund_fen,
        outcome=adjustment.status,
    )


def _done(session: Session, trip_id: int) -> None:
    session.execute(delete(LateJoin).where(LateJoin.trip_id == trip_id))


def _lock_adjustment(session: Session, trip_id: int) -> FareAdjustment | None:
    payment.lock_trip_card(session, trip_id)
    return session.execute(
        select(FareAdjustment)
        .where(FareAdjustment.trip_id == trip_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def refund(session: Session, trip_id: int, now: datetime) -> AdjustOutcome:
    """Credit a pending refund to the holder's bank account: three steps (the module docstring).
    Commits."""
    # 1. Stamp the attempt: a key, the time, the card whose account gets the money.
    adjustment = _lock_adjustment(session, trip_id)
    if adjustment is None or adjustment.status != REFUND_PENDING:
        session.rollback()
        return AdjustOutcome(trip_id, "skipped")
    if payment.asked_recently(adjustment.refund_attempted_at, now):
        session.rollback()
        return AdjustOutcome(trip_id, "waiting", code="transit.refund_in_progress")
    if adjustment.refund_key is None:
        person_id = session.execute(
            select(Card.person_id).where(Card.id == adjustment.card_id)
        ).scalar_one()
        card_ids = payment.person_card_ids(session, person_id)
        current = payment.lock_current_card(session, person_id) or session.get(
            Card, adjustment.card_id
        )
        paying = payment.paying_card(session, current, card_ids)
        adjustment.refund_key = f"refund:{trip_id}:{uuid.uuid4().hex[:12]}"
        adjustment.refund_card_id = paying.id
    adjustment.refund_attempted_at = now
    key, amount = adjustment.refund_key, adjustment.refund_fen
    account = decrypt_bank_account(session.get(Card, adjustment.refund_card_id))
    session.commit()

    # 2. Ask the bank, holding no lock.
    try:
        result = payment.ask_bank("credit", account, amount, key)
    except BankTimeout:
        log.info("fare refund timed out", extra={"trip_id": trip_id})
        return AdjustOutcome(trip_id, REFUND_PENDING, amount, code="bank.timeout")

    # 3. Record the answer, unless another worker (after our attempt expired) already did.
    adjustment = _lock_adjustment(session, trip_id)
    if adjustment is None or adjustment.status != REFUND_PENDING or adjustment.refund_key != key:
        session.rollback()
        return AdjustOutcome(trip_id, "skipped")
    if not result.ok:
        code = result.error or "bank.invalid_account"
        adjustment.refund_key = adjustment.refund_attempted_at = adjustment.refund_card_id = None
        adjustment.refund_error = code
        session.commit()
        log.warning("fare refund refused", extra={"trip_id": trip_id, "code": code})
        return AdjustOutcome(trip_id, REFUND_PENDING, amount, code=code)
    entry = payment.post_trip_money(
        session, session.get(Trip, trip_id), amount, key, now, refund=True
    )
    adjustment.status = REFUNDED
    adjustment.refunded_at = now
    adjustment.journal_entry_id = entry.id
    adjustment.refund_error = None
    session.commit()
    return AdjustOutcome(trip_id, REFUNDED, amount)

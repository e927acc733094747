"""Paying for rides: ride now, pay later.

A priced trip waits with ``payment_status="pending"`` until the collection job debits its fare
from the bank account behind the card (the card's bank account number is decrypted in memory for
the call only, never logged or stored elsewhere). Outcomes:

- fare 0 (free ride, capped) → ``paid``, no money moves, no entry;
- the bank debits → one balanced journal entry, bank clearing → the operator's settlement
  account, under the idempotency key ``trip:<id>`` (the same key the bank sees) → ``paid``;
- ``bank.timeout`` → stays ``pending`` and is retried with the same amount and key once
  ``SSC_TRANSIT_COLLECT_RETRY_S`` has passed: the bank's idempotency guarantees one debit even if
  the first call went through;
- a refusal (account closed / frozen / insufficient funds / invalid) → a :class:`Debt`,
  ``payment_status="debt"``. When the holder's unpaid debt exceeds ``SSC_TRANSIT_DEBT_LIMIT_FEN``
  their current card's pseudonym goes on the revocation list with reason ``debt`` until the holder
  repays (:func:`repay_debts`).

A debt belongs to the person, not to the plastic: the limit is checked against the unpaid debt of
all the holder's cards, and the listing is on their current (usable) card. A debt of a replaced
card lists its successor, and a replacement card starts listed while its holder owes more than
the limit (the ``transit.debt`` hold, applied by ``credentials.on_card_replaced`` inside the
registry's replacement transaction). A fare is still collected from the bank account of the card
it was ridden on, even after a replacement gave the holder a new account: a retry after a timeout
must reach the same account under the same key to be charged once; a refusal there (e.g. the old
account was closed) becomes the holder's debt, repaid from their current card's account.

Ordering on PostgreSQL: a new debt row holds a key-share lock on its card (foreign key) and the
debt check then locks the holder's current card; a replacement, a found card and both steps of a
repayment that write lock that card row too. So a debt collected while the card is replaced or
found is seen by the other transaction, or sees its result: the listing lands on the right card,
never on none. A debt collected while a repayment waits for the bank is not part of it; recording
the repayment lifts the listing only if what the holder still owes is within the limit.

The card's own ledger account (kind ``card``) does not figure in fares: it mirrors money routed
*through* the card (subsidies paid in, stored value), while fares are collected straight from the
bank account, so a fare is one entry bank clearing → operator and the card account never moves.
The holder sees fares in their trips, not in the card account's movements.

Exactly once, and no lock held while the bank answers: a collection is three steps.
(1) A short transaction locks the card row, then the trip row (``SELECT … FOR UPDATE``; SQLite
takes the write lock at ``BEGIN``), stamps ``collection_attempted_at`` and commits. Taps lock the
card before they read a card's trips and keep it until they have written the ones they re-priced
(an exit uploaded late completing a ``no_exit`` trip), so a tap either re-prices the trip before
step 1 reads its fare or sees the stamp — and a stamped trip is never re-priced: its fare is the
amount the bank was asked for under ``trip:<id>`` (the bank refuses the same key with another
amount). (2) The bank call, with no transaction open: a slow bank delays neither the holder's
taps nor, on SQLite, every other writer. (3) A second short transaction locks the card and the
trip again and records the answer, unless another collector already did. An attempt that never
got an answer (a timeout, a collector stopped mid-call) is taken up again by
:func:`collect_pending` after ``SSC_TRANSIT_COLLECT_RETRY_S``, with the same amount and key; a
trip asked for more recently is left alone (``transit.collection_in_progress``). Both the bank
and the journal use the key ``trip:<id>``. Repayments of debts follow the same three steps
(:func:`repay_debts`).

A tap uploaded after its trip's maximum fare was fixed joins that trip uncharged; the fare
adjustment (:mod:`server.transit.adjustment`) later prices the ride as it was and gives back the
difference: off the debt, or refunded to the bank account in the same three steps.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.orm import Session

from server.credentials import service as credentials
from server.errors import DomainError
from server.ledger.bank import BankError, BankGateway, BankResult, BankTimeout
from server.ledger.models import Account, JournalEntry
from server.ledger.rules import AccountKind
from server.ledger.service import open_account, post_entry
from server.registry.models import Card
from server.registry.rules import USABLE_STATES
from server.registry.service import decrypt_bank_account, decrypt_bank_account_value
from server.security import audit
from server.security.rules import Actor
from server.transit.models import Debt, Trip

log = logging.getLogger("server.transit.payment")

PENDING, PAID, DEBT = "pending", "paid", "debt"
DEBT_REASON = "debt"  # the reason on the revocation list
FARE_ENTRY_KIND = "transit_fare"
REPAY_ENTRY_KIND = "transit_debt_repaid"
REFUND_ENTRY_KIND = "transit_fare_refund"


def bank() -> BankGateway:
    return current_app.extensions["ssc.bank"]


def debt_limit_fen() -> int:
    return int(current_app.config["SSC_TRANSIT_DEBT_LIMIT_FEN"])


# --- accounts opened on first use ----------------------------------------------------------------


def _advisory_lock(session: Session, name: str) -> None:
    """Serialise "find or open" of one account on PostgreSQL (no unique key covers it); SQLite
    transactions already hold the write lock from their start."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def find_or_open_account(
    session: Session,
    now: datetime,
    *,
    kind: AccountKind,
    name: str,
    owner_ref: str | None = None,
    department: str | None = None,
    city_code: str | None = None,
    no_floor: bool = False,
) -> Account:
    stmt = (
        select(Account)
        .where(
            Account.kind == kind.value,
            Account.owner_ref.is_(None) if owner_ref is None else Account.owner_ref == owner_ref,
            Account.department.is_(None)
            if department is None
            else Account.department == department,
            Account.city_code.is_(None) if city_code is None else Account.city_code == city_code,
        )
        .order_by(Account.id)
        .limit(1)
    )
    account = session.execute(stmt).scalar_one_or_none()
    if account is not None:
        return account
    _advisory_lock(session, f"ledger-account:{kind}:{owner_ref}:{department}:{city_code}")
    account = session.execute(stmt).scalar_one_or_none()
    if account is not None:
        return account
    extra = {"min_balance_fen": None} if no_floor else {}
    return open_account(
        session,
        kind=kind,
        name=name,
        now=now,
        owner_ref=owner_ref,
        department=department,
        city_code=city_code,
        **extra,
    )


def bank_clearing_account(session: Session, now: datetime) -> Account:
    """The one bank clearing account: money enters and leaves the books through it."""
    return find_or_open_account(
        session,
        now,
        kind=AccountKind.BANK_CLEARING,
        name="银行清算 Bank clearing",
        owner_ref="bank",
    )


def operator_account(session: Session, operator_id: str, now: datetime) -> Account:
    """One settlement account per transit operator (``owner_ref`` = the operator id)."""
    return find_or_open_account(
        session,
        now,
        kind=AccountKind.OPERATOR_SETTLEMENT,
        name=f"运营商 Operator {operator_id}"[:100],
        owner_ref=operator_id,
    )


# --- collecting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectOutcome:
    trip_id: int
    status: str  # paid | debt | pending | skipped (not pending when we looked)
    code: str | None = None  # bank code of a refusal or timeout
    journal_entry_id: int | None = None


@dataclass
class CollectSummary:
    paid: int = 0
    debt: int = 0
    pending: int = 0
    skipped: int = 0
    outcomes: list[CollectOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "paid": self.paid,
            "debt": self.debt,
            "pending": self.pending,
            "skipped": self.skipped,
        }


def lock_trip(session: Session, trip_id: int) -> Trip | None:
    return session.execute(
        select(Trip)
        .where(Trip.id == trip_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def ask_bank(
    operation: Literal["debit", "credit"], account_number: str | None, amount_fen: int, key: str
) -> BankResult:
    """One bank call (a fare or a repayment: debit; a refund: credit). Raises
    :class:`BankTimeout`; other failures come back as a refusal."""
    if account_number is None:
        return BankResult(ok=False, error="bank.invalid_account")
    try:
        return getattr(bank(), operation)(account_number, amount_fen, key)
    except BankTimeout:
        raise
    except BankError as exc:  # a gateway may raise instead of returning a refusal
        return BankResult(ok=False, error=exc.code)


def retry_after() -> timedelta:
    """How long after an unanswered bank call the fare is asked for again."""
    return timedelta(seconds=int(current_app.config["SSC_TRANSIT_COLLECT_RETRY_S"]))


def asked_recently(attempted: datetime | None, now: datetime) -> bool:
    """The bank was asked (a fare, a repayment, a refund) too recently to ask again: the call may
    still be on its way. The jobs select with the same bound in SQL (:func:`due_again`)."""
    return attempted is not None and now - attempted < retry_after()


def due_again(attempted: Any, now: datetime) -> Any:
    """SQL: the bank was never asked (``attempted`` null) or long enough ago to ask again — the
    jobs' side of :func:`asked_recently`."""
    return or_(attempted.is_(None), attempted <= now - retry_after())


def lock_trip_card(session: Session, trip_id: int) -> Card | None:
    """The card a trip was ridden on, locked (None: no such trip). The card comes before the trip
    in every money path's lock order (see the module docstring)."""
    return session.execute(
        select(Card)
        .where(Card.id == select(Trip.card_id).where(Trip.id == trip_id).scalar_subquery())
        .with_for_update()
    ).scalar_one_or_none()


def _lock_card(session: Session, card_id: int) -> None:
    session.execute(select(Card.id).where(Card.id == card_id).with_for_update())


@functools.cache
def _fix_statements() -> tuple[Any, Any]:
    """Step 1's two locking reads, built once: the trip's card (with its encrypted bank
    account), then the trip's payment columns."""
    trip = Trip.__table__
    card = (
        select(Card.id, Card.bank_account_enc)
        .where(
            Card.id
            == select(trip.c.card_id).where(trip.c.id == bindparam("trip")).scalar_subquery()
        )
        .with_for_update(of=Card)
    )
    fare = (
        select(
            trip.c.payment_status,
            trip.c.charged_fen,
            trip.c.collection_attempted_at,
            trip.c.journal_entry_id,
        )
        .where(trip.c.id == bindparam("trip"))
        .with_for_update()
    )
    return card, fare


def collect_trip(session: Session, trip_id: int, now: datetime) -> CollectOutcome:
    """Collect one trip's fare (see the module docstring): three steps, the bank call between two
    short transactions. Commits (or rolls back) itself."""
    # 1. Fix the fare: the card first (a tap holds it while it reads and re-prices its trips),
    # then the trip; mark the attempt and commit before calling the bank. Core statements: the
    # job runs this for every trip.
    lock_card, lock_fare = _fix_statements()
    card = session.execute(lock_card, {"trip": trip_id}).one_or_none()
    if card is None:
        session.rollback()
        raise DomainError("transit.trip_not_found", trip_id=trip_id)
    status, amount, attempted, entry_id = session.execute(lock_fare, {"trip": trip_id}).one()
    if status != PENDING:
        session.rollback()
        return CollectOutcome(trip_id, "skipped", journal_entry_id=entry_id)
    stamp = Trip.__table__.update().where(Trip.__table__.c.id == trip_id)
    if amount == 0:
        session.execute(stamp.values(payment_status=PAID))
        session.commit()
        return CollectOutcome(trip_id, PAID)
    if asked_recently(attempted, now):
        session.rollback()  # in flight elsewhere, or it just timed out
        return CollectOutcome(trip_id, PENDING, code="transit.collection_in_progress")
    session.execute(stamp.values(collection_attempted_at=now))
    key = f"trip:{trip_id}"
    account = decrypt_bank_account_value(card.bank_account_enc)
    card_id = card.id
    session.commit()

    # 2. Ask the bank, holding no lock.
    try:
        result = ask_bank("debit", account, amount, key)
    except BankTimeout:
        log.info("fare collection timed out", extra={"trip_id": trip_id})
        return CollectOutcome(trip_id, PENDING, code="bank.timeout")

    # 3. Record the answer, unless another collector (after our attempt expired) already did.
    # Card then trip again: a debt locks the holder's current card next, and a collector starting
    # on this trip meanwhile holds the card before it waits for the trip.
    _lock_card(session, card_id)
    trip = lock_trip(session, trip_id)
    if trip is None or trip.payment_status != PENDING:
        session.rollback()
        return CollectOutcome(
            trip_id, "skipped", journal_entry_id=trip.journal_entry_id if trip else None
        )
    if result.ok:
        entry = post_trip_money(session, trip, amount, key, now)
        trip.payment_status = PAID
        trip.journal_entry_id = entry.id
        session.commit()
        return CollectOutcome(trip_id, PAID, journal_entry_id=entry.id)

    code = result.error or "bank.invalid_account"
    session.add(
        Debt(
            card_id=trip.card_id,
            trip_id=trip.id,
            amount_fen=amount,
            reason=code,
            created_at=now,
        )
    )
    trip.payment_status = DEBT
    session.flush()
    enforce_debt_limit(session, session.get(Card, trip.card_id), now)
    session.commit()
    return CollectOutcome(trip_id, DEBT, code=code)


def post_trip_money(
    session: Session, trip: Trip, amount: int, key: str, now: datetime, *, refund: bool = False
) -> JournalEntry:
    """The journal entry for money the bank moved for a trip, under the bank's key: a fare, bank
    clearing → the operator; a refund (``adjustment``), the operator → bank clearing."""
    clearing = bank_clearing_account(session, now)
    operator = operator_account(session, trip.operator_id, now)
    moved = -amount if refund else amount
    what = "refund trip" if refund else "trip"
    entry, _ = post_entry(
        session,
        idempotency_key=key,
        lines=[(clearing.id, -moved), (operator.id, moved)],
        kind=REFUND_ENTRY_KIND if refund else FARE_ENTRY_KIND,
        memo=f"{what} {trip.id} {trip.network_id} {trip.service_date.isoformat()}"[:200],
        now=now,
        actor_label="transit.adjust" if refund else "transit.collect",
    )
    return entry


def collect_pending(session: Session, now: datetime, limit: int = 500) -> CollectSummary:
    """The collection job: up to ``limit`` pending trips, oldest first, one transaction each.

    Safe to run on several workers at once: a worker stamps a trip's attempt under its card and
    trip locks before calling the bank, so another worker leaves it alone until the attempt is
    SSC_TRANSIT_COLLECT_RETRY_S old, and one already collected is skipped."""
    ids = list(
        session.execute(
            select(Trip.id)
            .where(Trip.payment_status == PENDING, due_again(Trip.collection_attempted_at, now))
            .order_by(Trip.id)
            .limit(max(1, int(limit)))
        ).scalars()
    )
    session.rollback()
    summary = CollectSummary()
    for trip_id in ids:
        try:
            outcome = collect_trip(session, trip_id, now)
        except DomainError as exc:  # e.g. a frozen operator account: retried on the next run
            session.rollback()
            log.warning("fare not collected", extra={"trip_id": trip_id, "code": exc.code})
            outcome = CollectOutcome(trip_id, PENDING, code=exc.code)
        summary.outcomes.append(outcome)
        setattr(summary, outcome.status, getattr(summary, outcome.status) + 1)
    return summary


# --- debts and the deny list ---------------------------------------------------------------------


def unpaid_debt_fen(session: Session, card_ids: int | list[int]) -> int:
    ids = [card_ids] if isinstance(card_ids, int) else card_ids
    if not ids:
        return 0
    return int(
        session.execute(
            select(func.coalesce(func.sum(Debt.amount_fen), 0)).where(
                Debt.card_id.in_(ids), Debt.repaid_at.is_(None)
            )
        ).scalar_one()
    )


def person_debt_fen(session: Session, person_id: int) -> int:
    """The holder's unpaid transit debt over all their cards (replaced ones included)."""
    return int(
        session.execute(
            select(func.coalesce(func.sum(Debt.amount_fen), 0))
            .join(Card, Card.id == Debt.card_id)
            .where(Card.person_id == person_id, Debt.repaid_at.is_(None))
        ).scalar_one()
    )


def lock_current_card(session: Session, person_id: int) -> Card | None:
    """The holder's card in a usable state (at most one), locked and read afresh; None when there
    is none. A replacement committed while we waited for the lock takes the card out of the usable
    set; the second look finds its successor."""
    stmt = (
        select(Card)
        .where(Card.person_id == person_id, Card.state.in_(USABLE_STATES))
        .order_by(Card.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for _ in range(2):
        card = session.execute(stmt).scalars().first()
        if card is not None:
            return card
    return None


def debt_hold(session: Session, card_id: int) -> str | None:
    """The revocation-list hold for transit debt: ``"debt"`` while the unpaid debt of the card's
    holder (all their cards) is over the limit. Registered with the credentials service (see
    ``register_pseudonym_hold``): a found card stays listed, a replacement card starts listed.
    Its callers hold the card's row lock (see the module docstring)."""
    card = session.get(Card, card_id)
    if card is None:
        return None
    return DEBT_REASON if person_debt_fen(session, card.person_id) > debt_limit_fen() else None


credentials.register_pseudonym_hold("transit.debt", debt_hold)


def enforce_debt_limit(session: Session, card: Card, now: datetime) -> bool:
    """After a fare of ``card`` became a debt: list the holder's current card (reason ``debt``)
    when the holder's unpaid debt over all their cards exceeds the limit — ``card`` itself, or
    its replacement when it has been replaced. Returns True when a listing was added now.
    Does not commit."""
    current = lock_current_card(session, card.person_id)
    if current is None:
        return False  # cancelled, no successor: nothing left to refuse
    owed = person_debt_fen(session, card.person_id)
    if owed <= debt_limit_fen():
        return False
    added = credentials.deny_pseudonym(session, current.id, DEBT_REASON, now)
    if added:
        audit.record(
            session,
            None,
            "transit.card_denied",
            object_type="card",
            object_id=current.id,
            city_code=current.issuing_city,
            now=now,
            reason=DEBT_REASON,
            debt_fen=owed,
            limit_fen=debt_limit_fen(),
            debt_card_id=card.id,
        )
    return added


def lift_debt_listing(
    session: Session,
    actor: Actor | None,
    person_id: int,
    card_ids: Iterable[int],
    city_code: str,
    now: datetime,
) -> bool:
    """After a repayment or a fare adjustment lowered the holder's debt: take ``card_ids`` off
    the deny list (reason ``debt``) when what the holder still owes over all their cards is
    within the limit; a listing for another reason stays. True when a card came off the list.
    The caller holds the holder's current card's row lock (see the module docstring)."""
    if person_debt_fen(session, person_id) > debt_limit_fen():
        return False
    unlisted = False
    for card_id in sorted(set(card_ids)):
        if credentials.allow_pseudonym(session, card_id, DEBT_REASON, now):
            unlisted = True
            audit.record(
                session,
                actor,
                "transit.card_allowed",
                object_type="card",
                object_id=card_id,
                city_code=city_code,
                now=now,
                reason=DEBT_REASON,
            )
    return unlisted


def person_card_ids(session: Session, person_id: int) -> list[int]:
    return list(
        session.execute(select(Card.id).where(Card.person_id == person_id).order_by(Card.id))
        .scalars()
        .all()
    )


def open_debts(session: Session, card_ids: list[int], *, lock: bool = False) -> list[Debt]:
    if not card_ids:
        return []
    stmt = (
        select(Debt)
        .where(Debt.card_id.in_(card_ids), Debt.repaid_at.is_(None))
        .order_by(Debt.id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class DebtView:
    outstanding_fen: int
    limit_fen: int
    denied: bool  # the card's codes are refused for debt right now
    debts: list[Debt]
    # a repayment the bank has not answered yet: asking again now would answer
    # transit.repayment_in_progress, unless the bank's record says it went through
    repayment_pending_since: datetime | None = None


def debt_view(session: Session, person_id: int, now: datetime) -> DebtView:
    card_ids = person_card_ids(session, person_id)
    debts = open_debts(session, card_ids)
    denied = any(
        credentials.pseudonym_listing(session, card_id, now) == DEBT_REASON for card_id in card_ids
    )
    asked = [d.repay_attempted_at for d in debts if d.repay_attempted_at is not None]
    return DebtView(
        outstanding_fen=sum(d.amount_fen for d in debts),
        limit_fen=debt_limit_fen(),
        denied=denied,
        debts=debts,
        repayment_pending_since=min(asked) if asked else None,
    )


@dataclass(frozen=True)
class Repayment:
    repaid_fen: int
    debts: int
    journal_entry_id: int
    bank_reference: str | None
    unlisted: bool  # the debt listing was lifted


def paying_card(session: Session, card: Card, card_ids: list[int]) -> Card:
    """The current card, or while it has no bank account (a replacement at the factory) the
    holder's latest other card with one."""
    if card.bank_account_enc is not None:
        return card
    earlier = session.execute(
        select(Card)
        .where(Card.id.in_(card_ids), Card.id != card.id, Card.bank_account_enc.is_not(None))
        .order_by(Card.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return card if earlier is None else earlier


def repay_debts(session: Session, actor: Actor, person_id: int, now: datetime) -> Repayment:
    """Repay the unpaid debts of the holder's cards (replaced ones included) from the bank account
    of their current card — while a replacement is still at the card factory (no account yet),
    that of the holder's latest card that has one: the card whose fares ran into debt, whose
    account the bank keeps until the new card's is opened. Commits.

    Three steps, no lock held while the bank answers (the holder's taps lock their card):
    (1) lock the current card and the open debts, stamp them with a fresh key (``repay_key``),
    the time and the paying card, commit; (2) ask the bank for the total under that key;
    (3) lock card and debts again and record the answer. Paid: one journal entry (bank clearing →
    each operator), the debts and their trips repaid and paid, the debt listing lifted when what
    the holder still owes (a debt added meanwhile) is within the limit; a listing for another
    reason (lost) stays. Refused: the stamps are cleared and the bank's code raised; nothing else
    is written. No answer (``bank.timeout``): the stamps stay. Asked again within
    ``SSC_TRANSIT_COLLECT_RETRY_S`` the bank's record of the key decides (went through: recorded
    now; else ``transit.repayment_in_progress``); later, the same debts are asked for again under
    the same key from the same account — the bank moves the money once whatever happened to the
    first call. Debts added after an attempt wait for the next repayment."""
    attempt = _start_repayment(session, person_id, now)
    result = attempt.recorded
    if result is None:
        try:
            result = ask_bank("debit", attempt.account, attempt.amount_fen, attempt.key)
        except BankTimeout:
            log.info("transit repayment timed out", extra={"person_id": person_id})
            raise DomainError("bank.timeout") from None
    return _finish_repayment(session, actor, person_id, attempt.key, result, now)


@dataclass(frozen=True)
class _RepayAttempt:
    key: str
    amount_fen: int
    account: str | None = field(repr=False)  # decrypted for the bank call only
    recorded: BankResult | None = None  # the bank's record of an earlier call under the key


def _start_repayment(session: Session, person_id: int, now: datetime) -> _RepayAttempt:
    """Step 1 of :func:`repay_debts` (commits or rolls back)."""
    card = lock_current_card(session, person_id)
    if card is None:
        session.rollback()
        raise DomainError("ecard.no_card")
    card_ids = person_card_ids(session, person_id)
    debts = open_debts(session, card_ids, lock=True)
    if not debts:
        session.rollback()
        raise DomainError("transit.no_debt")
    waiting = [d for d in debts if d.repay_key is not None]
    if waiting:
        first = min(waiting, key=lambda d: (d.repay_attempted_at, d.id))
        key: str = first.repay_key  # type: ignore[assignment]
        chosen = [d for d in waiting if d.repay_key == key]
        if asked_recently(first.repay_attempted_at, now):
            session.rollback()
            recorded = bank().status(key)
            if recorded is None:  # still on its way, or never arrived: wait before asking again
                raise DomainError("transit.repayment_in_progress")
            return _RepayAttempt(key, 0, None, recorded)
        paying = session.get(Card, first.repay_card_id) or card
    else:
        key = f"repay:{uuid.uuid4().hex}"
        chosen = debts
        paying = paying_card(session, card, card_ids)
    for debt in chosen:
        debt.repay_key, debt.repay_attempted_at, debt.repay_card_id = key, now, paying.id
    attempt = _RepayAttempt(key, sum(d.amount_fen for d in chosen), decrypt_bank_account(paying))
    session.commit()
    return attempt


def _finish_repayment(
    session: Session, actor: Actor, person_id: int, key: str, result: BankResult, now: datetime
) -> Repayment:
    """Step 3 of :func:`repay_debts`: record the bank's answer for ``key`` (commits)."""
    card = lock_current_card(session, person_id)  # the card before the debts, as in step 1
    debts = list(
        session.execute(
            select(Debt)
            .where(Debt.repay_key == key, Debt.repaid_at.is_(None))
            .order_by(Debt.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )
    if not debts:  # recorded meanwhile by another request of the holder
        session.rollback()
        return _recorded_repayment(session, key, result)
    if not result.ok:
        for debt in debts:
            debt.repay_key = debt.repay_attempted_at = debt.repay_card_id = None
        session.commit()
        raise DomainError(result.error or "bank.invalid_account")
    total = sum(d.amount_fen for d in debts)
    trips = {
        t.id: t
        for t in session.execute(
            select(Trip).where(Trip.id.in_([d.trip_id for d in debts])).with_for_update()
        ).scalars()
    }
    by_operator: dict[str, int] = {}
    for debt in debts:
        operator_id = trips[debt.trip_id].operator_id
        by_operator[operator_id] = by_operator.get(operator_id, 0) + debt.amount_fen
    clearing = bank_clearing_account(session, now)
    lines = [(clearing.id, -total)]
    lines += [
        (operator_account(session, op, now).id, amount)
        for op, amount in sorted(by_operator.items())
    ]
    entry, _ = post_entry(
        session,
        idempotency_key=key,
        lines=lines,
        kind=REPAY_ENTRY_KIND,
        memo=f"transit debts repaid: {len(debts)}",
        now=now,
        actor_label=actor.label,
    )
    for debt in debts:
        debt.repaid_at = now
        debt.journal_entry_id = entry.id
        trip = trips[debt.trip_id]
        trip.payment_status = PAID
        trip.journal_entry_id = entry.id
    session.flush()
    subject = card or session.get(Card, debts[0].card_id)  # no usable card left: the debt's
    audit.record(
        session,
        actor,
        "transit.debt_repaid",
        object_type="card",
        object_id=subject.id,
        city_code=subject.issuing_city,
        now=now,
        debts=len(debts),
        amount_fen=total,
        journal_entry_id=entry.id,
    )
    # A debt that became due while the bank answered may still keep the holder over the limit.
    unlisted = lift_debt_listing(
        session,
        actor,
        person_id,
        {d.card_id for d in debts} | {subject.id},
        subject.issuing_city,
        now,
    )
    session.commit()
    return Repayment(
        repaid_fen=total,
        debts=len(debts),
        journal_entry_id=entry.id,
        bank_reference=result.reference,
        unlisted=unlisted,
    )


def _recorded_repayment(session: Session, key: str, result: BankResult) -> Repayment:
    """What another request already recorded for ``key`` (two requests of one holder finished
    the same attempt)."""
    if not result.ok:
        raise DomainError(result.error or "bank.invalid_account")
    entry_id = session.execute(
        select(JournalEntry.id).where(JournalEntry.idempotency_key == key)
    ).scalar_one()
    repaid = session.execute(
        select(func.count(), func.coalesce(func.sum(Debt.amount_fen), 0)).where(
            Debt.journal_entry_id == entry_id
        )
    ).one()
    session.rollback()
    return Repayment(
        repaid_fen=int(repaid[1]),
        debts=int(repaid[0]),
        journal_entry_id=entry_id,
        bank_reference=result.reference,
        unlisted=False,
    )

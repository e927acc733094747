"""Settlement with transit operators and between cities, per Asia/Shanghai service date.

Per operator (and the city the rides happened in) and day: trips, gross fares (sum of base
fares), the concession amount (what the city owes the operator for free and discounted rides),
transfer / volume / cap discounts, net charged to riders, collected from them, still outstanding
(pending or in debt), what the ledger has already reimbursed for concessions, and the refunds of
fare adjustments (a late tap completed a trip charged its maximum fare: the trip's figures are
the ride's, ``collected`` includes refunds not yet made, ``refund_due``, until they are); and
for staff, the list of those refunds (:func:`refunds_for`), scoped as the settlement is.

:func:`settle_day` posts the concession reimbursement once per operator and day: one entry from
each ride city's concession funding account (kind ``department_funding``, department
``transport``, ``owner_ref="transit_concession"``, the ride's city) to the operator's settlement
account, key ``settle:<operator>:<date>``. The funding account has no floor (``min_balance``
None): its negative balance is what the city owes for concessions until the transport department
funds it. Re-running is a no-op; trips that arrive late (offline batches) are settled by an
adjustment entry ``settle:<operator>:<date>:<n>`` for the difference only.

Cross-city clearing: concessions granted on rides in one city to holders from another
(``home_city`` ≠ ride city), per (ride city, home city) pair, so cities can settle between
themselves.

The CSV is UTF-8 with a BOM (Excel opens it as UTF-8), one bilingual header row, amounts in yuan
with two decimals computed from integer fen (never float), and a total row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from server.errors import DomainError
from server.ledger.models import Account, JournalEntry, JournalLine
from server.ledger.rules import AccountKind
from server.ledger.service import post_entry
from server.security.rules import Actor, Role
from server.transit.adjustment import DEBT_REDUCED, REFUND_PENDING, REFUNDED
from server.transit.models import FareAdjustment, Trip
from server.transit.payment import DEBT, PAID, PENDING, find_or_open_account, operator_account

CONCESSION_OWNER = "transit_concession"
TRANSPORT = "transport"
SETTLE_ENTRY_KIND = "transit_concession"
PRICED = (PENDING, PAID, DEBT)  # trips with a fare; unpriced (open) trips wait


def concession_account(session: Session, city_code: str, now: datetime) -> Account:
    """The city's transit concession funding account (no floor: negative = owed by the city)."""
    return find_or_open_account(
        session,
        now,
        kind=AccountKind.DEPARTMENT_FUNDING,
        name=f"交通优惠补贴 Transit concessions {city_code}",
        owner_ref=CONCESSION_OWNER,
        department=TRANSPORT,
        city_code=city_code,
        no_floor=True,
    )


def settle_key(operator_id: str, service_date: date) -> str:
    return f"settle:{operator_id}:{service_date.isoformat()}"


@dataclass
class OperatorDay:
    operator_id: str
    city_code: str
    trips: int = 0
    gross_fen: int = 0
    concession_fen: int = 0
    transfer_fen: int = 0
    volume_fen: int = 0
    cap_fen: int = 0
    net_fen: int = 0  # charged to riders
    collected_fen: int = 0  # held from riders: paid fares, with refunds not yet made
    outstanding_fen: int = 0  # pending collection or in debt
    reimbursed_fen: int = 0  # concession posted in the ledger so far
    refund_due_fen: int = 0  # late taps lowered paid fares: to give back (in collected_fen)
    refunded_fen: int = 0  # given back to riders' bank accounts

    def add(self, other: OperatorDay) -> None:
        for name in AMOUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


AMOUNT_FIELDS = (
    "trips",
    "gross_fen",
    "concession_fen",
    "transfer_fen",
    "volume_fen",
    "cap_fen",
    "net_fen",
    "collected_fen",
    "outstanding_fen",
    "reimbursed_fen",
    "refund_due_fen",
    "refunded_fen",
)


@dataclass
class ClearingPair:
    ride_city: str
    home_city: str
    trips: int
    concession_fen: int  # granted by the ride city to the home city's residents


@dataclass
class SettlementReport:
    service_date: date
    operators: list[OperatorDay] = field(default_factory=list)
    clearing: list[ClearingPair] = field(default_factory=list)
    totals: OperatorDay = field(default_factory=lambda: OperatorDay("", ""))

    def as_dict(self) -> dict:
        totals = asdict(self.totals)
        del totals["operator_id"], totals["city_code"]
        return {
            "service_date": self.service_date.isoformat(),
            "operators": [asdict(o) for o in self.operators],
            "clearing": [asdict(c) for c in self.clearing],
            "totals": totals,
        }


def _in_scope(city_code: str, cities: frozenset[str] | None) -> bool:
    return cities is None or city_code in cities


def _reimbursed(session: Session, operator_id: str, service_date: date) -> dict[str, int]:
    """Concession already posted for an operator and day, by ride city (from the journal)."""
    key = settle_key(operator_id, service_date)
    rows = session.execute(
        select(Account.city_code, func.sum(JournalLine.amount_fen))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .join(Account, Account.id == JournalLine.account_id)
        .where(
            (JournalEntry.idempotency_key == key)
            | JournalEntry.idempotency_key.startswith(key + ":", autoescape=True),
            Account.kind == AccountKind.DEPARTMENT_FUNDING.value,
            Account.owner_ref == CONCESSION_OWNER,
        )
        .group_by(Account.city_code)
    ).all()
    return {city: -int(total) for city, total in rows}


def _refunds(session: Session, service_date: date) -> dict[tuple[str, str], tuple[int, int]]:
    """(due, made) refunds of fare adjustments on the day's trips, by operator and ride city."""
    due = case((FareAdjustment.status == REFUND_PENDING, FareAdjustment.refund_fen), else_=0)
    made = case((FareAdjustment.status == REFUNDED, FareAdjustment.refund_fen), else_=0)
    rows = session.execute(
        select(Trip.operator_id, Trip.city_code, func.sum(due), func.sum(made))
        .join(FareAdjustment, FareAdjustment.trip_id == Trip.id)
        .where(Trip.service_date == service_date)
        .group_by(Trip.operator_id, Trip.city_code)
    ).all()
    return {(op, city): (int(d or 0), int(m or 0)) for op, city, d, m in rows}


def _reader_city(actor: Actor) -> str | None:
    """The ride city a staff reader of transit reports is limited to (None: the province);
    department officers only of transport."""
    if actor.role is Role.DEPARTMENT_OFFICER and actor.department != TRANSPORT:
        raise DomainError("auth.out_of_scope")
    return actor.city_code


def report_for(session: Session, actor: Actor, day: date) -> SettlementReport:
    """The settlement an actor may see: a city-scoped actor sees its own city's operators and
    the clearing pairs that involve its city; department officers only of transport."""
    city = _reader_city(actor)
    return settlement_report(session, day, cities=None if city is None else frozenset({city}))


def refunds_for(
    session: Session, actor: Actor, *, status: str | None, limit: int, before_id: int | None
) -> list[dict]:
    """Fare adjustments with money to give back or given back, newest first, for staff scoped as
    the settlement is: refunds the bank has not taken yet show its last refusal code, for the
    service desk. Rows keyed by the API's field names."""
    city = _reader_city(actor)
    adjustment = FareAdjustment
    stmt = (
        select(
            adjustment.id,
            adjustment.trip_id,
            adjustment.reason,
            adjustment.caused_by_trip_id,
            Trip.operator_id,
            Trip.city_code,
            Trip.service_date,
            adjustment.original_charged_fen,
            adjustment.refund_fen,
            adjustment.status,
            adjustment.refund_error,
            adjustment.refund_attempted_at,
            adjustment.created_at,
            adjustment.refunded_at,
        )
        .join(Trip, Trip.id == adjustment.trip_id)
        .where(adjustment.status.in_((REFUND_PENDING, REFUNDED, DEBT_REDUCED)))
        .order_by(adjustment.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(adjustment.status == status)
    if city is not None:
        stmt = stmt.where(Trip.city_code == city)
    if before_id is not None:
        stmt = stmt.where(adjustment.id < before_id)
    return [dict(row) for row in session.execute(stmt).mappings()]


def settlement_report(
    session: Session, service_date: date, *, cities: frozenset[str] | None = None
) -> SettlementReport:
    """The day's settlement, read only. ``cities``: only operators riding in these cities and
    clearing pairs touching them (None: the whole province)."""
    paid = case((Trip.payment_status == PAID, Trip.charged_fen), else_=0)
    owed = case((Trip.payment_status.in_((PENDING, DEBT)), Trip.charged_fen), else_=0)
    rows = session.execute(
        select(
            Trip.operator_id,
            Trip.city_code,
            func.count(Trip.id),
            func.sum(Trip.base_fen),
            func.sum(Trip.concession_fen),
            func.sum(Trip.transfer_fen),
            func.sum(Trip.volume_fen),
            func.sum(Trip.cap_fen),
            func.sum(Trip.charged_fen),
            func.sum(paid),
            func.sum(owed),
        )
        .where(Trip.service_date == service_date, Trip.payment_status.in_(PRICED))
        .group_by(Trip.operator_id, Trip.city_code)
        .order_by(Trip.operator_id, Trip.city_code)
    ).all()
    refunds = _refunds(session, service_date)
    report = SettlementReport(service_date=service_date)
    reimbursed: dict[str, dict[str, int]] = {}
    for row in rows:
        operator_id, city_code = row[0], row[1]
        if not _in_scope(city_code, cities):
            continue
        if operator_id not in reimbursed:
            reimbursed[operator_id] = _reimbursed(session, operator_id, service_date)
        day = OperatorDay(operator_id, city_code, *(int(v or 0) for v in row[2:]))
        day.reimbursed_fen = reimbursed[operator_id].get(city_code, 0)
        day.refund_due_fen, day.refunded_fen = refunds.get((operator_id, city_code), (0, 0))
        day.collected_fen += day.refund_due_fen  # taken from riders, not given back yet
        report.operators.append(day)
        report.totals.add(day)

    pairs = session.execute(
        select(Trip.city_code, Trip.home_city, func.count(Trip.id), func.sum(Trip.concession_fen))
        .where(
            Trip.service_date == service_date,
            Trip.payment_status.in_(PRICED),
            Trip.home_city != Trip.city_code,
        )
        .group_by(Trip.city_code, Trip.home_city)
        .order_by(Trip.city_code, Trip.home_city)
    ).all()
    report.clearing = [
        ClearingPair(ride, home, int(n), int(total or 0))
        for ride, home, n, total in pairs
        if cities is None or ride in cities or home in cities
    ]
    return report


@dataclass(frozen=True)
class SettleResult:
    report: SettlementReport
    posted: list[int]  # journal entry ids posted by this run (empty: nothing new to settle)


def settle_day(session: Session, service_date: date, now: datetime) -> SettleResult:
    """Post each operator's concession reimbursement for the day (only what is not yet posted)
    and return the report. Commits."""
    report = settlement_report(session, service_date)
    by_operator: dict[str, list[OperatorDay]] = {}
    for day in report.operators:
        by_operator.setdefault(day.operator_id, []).append(day)
    posted: list[int] = []
    for operator_id, days in sorted(by_operator.items()):
        due = {d.city_code: d.concession_fen - d.reimbursed_fen for d in days}
        due = {city: amount for city, amount in due.items() if amount != 0}
        if not due:
            continue
        operator = operator_account(session, operator_id, now)
        lines = [
            (concession_account(session, city, now).id, -amount) for city, amount in due.items()
        ]
        lines.append((operator.id, sum(due.values())))
        if sum(due.values()) == 0:  # corrections that cancel out across cities
            lines.pop()
        base = settle_key(operator_id, service_date)
        earlier = session.execute(
            select(func.count(JournalEntry.id)).where(
                (JournalEntry.idempotency_key == base)
                | JournalEntry.idempotency_key.startswith(base + ":", autoescape=True)
            )
        ).scalar_one()
        entry, created = post_entry(
            session,
            idempotency_key=base if earlier == 0 else f"{base}:{earlier + 1}",
            lines=lines,
            kind=SETTLE_ENTRY_KIND,
            memo=f"concessions {operator_id} {service_date.isoformat()}"[:200],
            now=now,
            actor_label="transit.settle",
        )
        if created:
            posted.append(entry.id)
            for day in days:
                day.reimbursed_fen += due.get(day.city_code, 0)
                report.totals.reimbursed_fen += due.get(day.city_code, 0)
    session.commit()
    return SettleResult(report=report, posted=posted)


# --- CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    ("operator_id", "运营商 Operator"),
    ("city_code", "乘车城市 Ride city"),
    ("trips", "行程数 Trips"),
    ("gross_fen", "票价总额(元) Gross (CNY)"),
    ("concession_fen", "优惠补贴(元) Concessions (CNY)"),
    ("transfer_fen", "换乘优惠(元) Transfer discounts (CNY)"),
    ("volume_fen", "累计优惠(元) Volume discounts (CNY)"),
    ("cap_fen", "封顶减免(元) Cap reductions (CNY)"),
    ("net_fen", "实收票款(元) Net charged (CNY)"),
    ("collected_fen", "已扣款(元) Collected (CNY)"),
    ("outstanding_fen", "未收款(元) Outstanding (CNY)"),
    ("reimbursed_fen", "已结算补贴(元) Concessions settled (CNY)"),
    ("refund_due_fen", "待退款(元) Refunds due (CNY)"),
    ("refunded_fen", "已退款(元) Refunded (CNY)"),
)


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals, by integer arithmetic: 12345 → "123.45"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def report_csv(report: SettlementReport) -> bytes:
    """The operators' rows and a total row, as UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["日期 Date", *(label for _, label in CSV_COLUMNS)])
    day = report.service_date.isoformat()

    def cells(row: OperatorDay, operator: str, city: str) -> list[str]:
        values = [operator, city, str(row.trips)]
        values += [yuan(getattr(row, name)) for name, _ in CSV_COLUMNS[3:]]
        return [day, *values]

    for row in report.operators:
        writer.writerow(cells(row, row.operator_id, row.city_code))
    writer.writerow(cells(report.totals, "合计 Total", ""))
    return ("\ufeff" + out.getvalue()).encode("utf-8")

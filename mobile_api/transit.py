"""My rides: trips with their fare breakdown, a monthly statement, transit debt and repaying it.

Trips of every card the holder has had are shown (a replaced card's rides too). Times are UTC
with an Asia/Shanghai copy in ``*_local``; months are Asia/Shanghai months (a trip belongs to the
month of its service date, the local date it started).
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint
from pydantic import Field

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import to_local_iso, utcnow
from server.extensions import db
from server.security.auth import current_actor, require
from server.security.rules import ActorKind
from server.transit import payment
from server.transit import statement as statement_service
from server.transit.models import FareAdjustment, Tap, Trip

bp = Blueprint("transit", __name__)
CARDHOLDER = (ActorKind.CARDHOLDER,)
MODE_NAMES = {
    "metro": "地铁 Metro",
    "bus": "公交 Bus",
    "brt": "快速公交 BRT",
    "tram": "有轨电车 Tram",
    "ferry": "轮渡 Ferry",
    "coach": "城际客车 Coach",
    "taxi": "出租车 Taxi",
    "bicycle": "公共自行车 Bicycle",
}
PAYMENT_NAMES = {
    "unpriced": "待计价 Not priced yet",
    "pending": "待扣款 Awaiting payment",
    "paid": "已支付 Paid",
    "debt": "欠款 Unpaid (debt)",
}


class BreakdownOut(OutSchema):
    base_fen: int
    concession_fen: int
    transfer_fen: int
    volume_fen: int
    cap_fen: int
    charged_fen: int


class LateTapOut(OutSchema):
    kind: str  # entry | exit
    stop_id: str | None
    tapped_at: datetime
    tapped_at_local: str


ADJUSTMENT_NAMES = {
    "none": "票价不变 Fare unchanged",
    "debt_reduced": "已冲减欠款 Taken off your debt",
    "pending": "退款处理中 Refund in progress",
    "refunded": "已退回银行账户 Refunded to your bank account",
}


ADJUSTMENT_REASONS = {
    "late_tap": "补录的进出站记录完成了行程 A late tap completed the ride",
    "earlier_ride": (
        "前一行程补录后享受换乘优惠 Transfer discount after an earlier ride was completed"
    ),
}


class AdjustmentOut(OutSchema):
    """The trip's fare was lowered after it was charged: its maximum fare before its other tap
    arrived (``late_tap``; the breakdown is now the ride's), or a ride before it was completed
    late and this one gets the transfer discount from it (``earlier_ride``). This is what was
    charged before and what came back."""

    reason: str  # late_tap | earlier_ride
    reason_name: str
    original_charged_fen: int
    refund_fen: int
    status: str  # none | debt_reduced | pending | refunded
    status_name: str
    refunded_at: datetime | None
    refunded_at_local: str | None


class TripOut(OutSchema):
    id: int
    network_id: str
    operator_id: str
    mode: str
    mode_name: str
    city_code: str
    from_stop_id: str | None
    to_stop_id: str | None
    started_at: datetime
    started_at_local: str
    ended_at: datetime | None
    ended_at_local: str | None
    service_date: date
    status: str
    incomplete: str | None
    rider_categories: list[str]
    transfer_count: int
    breakdown: BreakdownOut
    payment_status: str
    payment_status_name: str
    notes: list[str]
    # taps uploaded after the trip's maximum fare was collected: recorded, not charged again
    late_taps: list[LateTapOut]
    # the maximum fare charged before a late tap completed the ride, and the difference returned
    adjustment: AdjustmentOut | None


class TripsOut(OutSchema):
    trips: list[TripOut]
    next_before_id: int | None


class TripsQuery(Schema):
    limit: int = Field(default=20, ge=1, le=100)
    before_id: int | None = Field(default=None, ge=1)


def adjustment_out(adjustment: FareAdjustment | None) -> AdjustmentOut | None:
    if adjustment is None:
        return None
    return AdjustmentOut(
        reason=adjustment.reason,
        reason_name=ADJUSTMENT_REASONS.get(adjustment.reason, adjustment.reason),
        original_charged_fen=adjustment.original_charged_fen,
        refund_fen=adjustment.refund_fen,
        status=adjustment.status,
        status_name=ADJUSTMENT_NAMES.get(adjustment.status, adjustment.status),
        refunded_at=adjustment.refunded_at,
        refunded_at_local=to_local_iso(adjustment.refunded_at),
    )


def trip_out(
    trip: Trip, late: list[Tap] | None = None, adjustment: FareAdjustment | None = None
) -> TripOut:
    return TripOut(
        id=trip.id,
        network_id=trip.network_id,
        operator_id=trip.operator_id,
        mode=trip.mode,
        mode_name=MODE_NAMES.get(trip.mode, trip.mode),
        city_code=trip.city_code,
        from_stop_id=trip.from_stop_id,
        to_stop_id=trip.to_stop_id,
        started_at=trip.started_at,
        started_at_local=to_local_iso(trip.started_at) or "",
        ended_at=trip.ended_at,
        ended_at_local=to_local_iso(trip.ended_at),
        service_date=trip.service_date,
        status=trip.status,
        incomplete=trip.incomplete,
        rider_categories=[c for c in (trip.rider_categories or "").split(",") if c],
        transfer_count=trip.transfer_count or 0,
        breakdown=BreakdownOut(
            base_fen=trip.base_fen,
            concession_fen=trip.concession_fen,
            transfer_fen=trip.transfer_fen,
            volume_fen=trip.volume_fen,
            cap_fen=trip.cap_fen,
            charged_fen=trip.charged_fen,
        ),
        payment_status=trip.payment_status,
        payment_status_name=PAYMENT_NAMES.get(trip.payment_status, trip.payment_status),
        notes=[n for n in (trip.notes or "").split(",") if n],
        late_taps=[
            LateTapOut(
                kind=t.kind,
                stop_id=t.stop_id,
                tapped_at=t.tapped_at,
                tapped_at_local=to_local_iso(t.tapped_at) or "",
            )
            for t in late or ()
        ],
        adjustment=adjustment_out(adjustment),
    )


@bp.get("/trips")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="我的乘车记录（含票价明细） My trips with fare breakdowns",
    description="late_taps：已按最高票价扣费后才上传的进出站记录（不再重复扣费），系统随后按实际行程"
    "重新计价，差额冲减欠款或退回银行账户（adjustment）；其后可享换乘优惠的行程同样重新计价，"
    "只退不补。"
    " late_taps: an entry or exit uploaded after the trip's maximum fare was collected (not"
    " charged again); the ride is then priced as it was and the difference taken off the debt or"
    " refunded to the bank account (adjustment). A later ride that now gets a transfer discount"
    " is priced again the same way; a fare is only ever lowered after the fact.",
    query=TripsQuery,
    response=TripsOut,
)
def trips(query: TripsQuery):
    rows = statement_service.trips_page(
        db.session, current_actor().id, limit=query.limit, before_id=query.before_id
    )
    late = statement_service.late_taps(db.session, rows)
    adjusted = statement_service.adjustments(db.session, rows)
    return TripsOut(
        trips=[trip_out(t, late.get(t.id), adjusted.get(t.id)) for t in rows],
        next_before_id=rows[-1].id if len(rows) == query.limit else None,
    )


class StatementQuery(Schema):
    month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


class ModeTotalsOut(OutSchema):
    mode: str
    mode_name: str
    trips: int
    base_fen: int
    concession_fen: int
    discount_fen: int
    charged_fen: int


class StatementOut(OutSchema):
    month: str
    trips: int
    by_mode: list[ModeTotalsOut]
    base_fen: int
    concession_fen: int  # concessions received (paid by the city)
    transfer_fen: int
    volume_fen: int
    cap_fen: int
    discount_fen: int  # transfer + volume + cap
    charged_fen: int
    paid_fen: int
    pending_fen: int  # charged, not collected yet
    debt_fen: int  # this month's fares in unpaid debt
    outstanding_debt_fen: int  # every unpaid debt, now
    refund_due_fen: int  # late taps lowered fares already paid: being refunded
    refunded_fen: int  # refunded to the bank account


@bp.get("/trips/statement")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="乘车月结单 My monthly transit statement",
    description="按北京时间自然月统计；month 缺省为本月。"
    " By Asia/Shanghai month; this month by default.",
    query=StatementQuery,
    response=StatementOut,
)
def statement(query: StatementQuery):
    result = statement_service.monthly_statement(
        db.session, current_actor().id, query.month, utcnow()
    )
    by_mode = [
        ModeTotalsOut(mode_name=MODE_NAMES.get(m.mode, m.mode), **vars(m)) for m in result.by_mode
    ]
    return StatementOut(**{**vars(result), "by_mode": by_mode})


class DebtOut(OutSchema):
    trip_id: int
    amount_fen: int
    reason: str
    created_at: datetime


class DebtsOut(OutSchema):
    outstanding_fen: int
    limit_fen: int
    denied: bool  # my codes are refused at gates until I repay
    debts: list[DebtOut]
    # my repayment the bank has not answered yet (shown as 银行处理中 "with the bank")
    repayment_pending_since: datetime | None
    repayment_pending_since_local: str | None


@bp.get("/transit/debt")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="我的乘车欠款 My unpaid transit fares",
    description="repayment_pending_since：上次还款银行尚未答复的时间（银行处理中）。"
    " repayment_pending_since: when a repayment the bank has not answered yet was asked for.",
    response=DebtsOut,
)
def debt():
    view = payment.debt_view(db.session, current_actor().id, utcnow())
    return DebtsOut(
        outstanding_fen=view.outstanding_fen,
        limit_fen=view.limit_fen,
        denied=view.denied,
        repayment_pending_since=view.repayment_pending_since,
        repayment_pending_since_local=to_local_iso(view.repayment_pending_since),
        debts=[
            DebtOut(
                trip_id=d.trip_id, amount_fen=d.amount_fen, reason=d.reason, created_at=d.created_at
            )
            for d in view.debts
        ],
    )


class RepaymentOut(OutSchema):
    repaid_fen: int
    debts: int
    journal_entry_id: int
    bank_reference: str | None
    unlisted: bool  # my codes work again


@bp.post("/transit/repay")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="补缴乘车欠款（从社保卡银行账户扣款） Repay unpaid fares from my card's bank account",
    description="银行拒绝扣款时不做任何记录，返回银行错误码；银行超时未答复时，几分钟内再次提交会按银行的"
    "处理结果入账，或提示正在处理（transit.repayment_in_progress），之后以同一笔请求重新向银行扣款，"
    "不会重复扣款。补换的新卡还在制作中（尚无银行账户）时，从原卡的银行账户扣款。"
    " A bank refusal records nothing and returns the bank's code. After a bank timeout, asking"
    " again within minutes records what the bank did, or answers transit.repayment_in_progress;"
    " later the same request is put to the bank again (never charged twice). While a replacement"
    " card is still being made (no bank account yet), the previous card's account pays.",
    response=RepaymentOut,
    errors=(
        "ecard.no_card",
        "transit.no_debt",
        "transit.repayment_in_progress",
        "bank.timeout",
        "bank.account_closed",
        "bank.account_frozen",
        "bank.insufficient_funds",
        "bank.invalid_account",
        "bank.idempotency_conflict",
    ),
)
def repay():
    actor = current_actor()
    result = payment.repay_debts(db.session, actor, actor.id, utcnow())
    return RepaymentOut(
        repaid_fen=result.repaid_fen,
        debts=result.debts,
        journal_entry_id=result.journal_entry_id,
        bank_reference=result.bank_reference,
        unlisted=result.unlisted,
    )

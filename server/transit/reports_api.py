"""Staff reports for transit: the daily settlement with operators and between cities, and the
refunds of fare adjustments.

Who sees what (permission ``transit.settlement.read``): a city administrator sees the operators
riding in their city and the clearing pairs that involve it; an auditor sees the province; a
department officer of the transport department sees their city, or the province when they are
province-wide. Officers of other departments are out of scope (``auth.out_of_scope``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import Blueprint, Response
from pydantic import Field

from server.apidoc import OutSchema, Schema, endpoint
from server.extensions import db
from server.security.auth import current_actor, require
from server.transit import settlement

reports_bp = Blueprint("transit_reports", __name__)


class SettlementQuery(Schema):
    date: dt.date
    format: Literal["json", "csv"] = "json"


class OperatorDayOut(OutSchema):
    operator_id: str
    city_code: str
    trips: int
    gross_fen: int
    concession_fen: int
    transfer_fen: int
    volume_fen: int
    cap_fen: int
    net_fen: int
    collected_fen: int
    outstanding_fen: int
    reimbursed_fen: int
    refund_due_fen: int
    refunded_fen: int


class TotalsOut(OutSchema):
    trips: int
    gross_fen: int
    concession_fen: int
    transfer_fen: int
    volume_fen: int
    cap_fen: int
    net_fen: int
    collected_fen: int
    outstanding_fen: int
    reimbursed_fen: int
    refund_due_fen: int
    refunded_fen: int


class ClearingOut(OutSchema):
    ride_city: str
    home_city: str
    trips: int
    concession_fen: int


class SettlementOut(OutSchema):
    service_date: dt.date
    operators: list[OperatorDayOut]
    clearing: list[ClearingOut]
    totals: TotalsOut


@reports_bp.get("/transit/settlement")
@require("transit.settlement.read")
@endpoint(
    summary="交通结算日报（按运营商、跨市清分） Daily transit settlement by operator and city pair",
    description="金额单位为分；format=csv 下载 Excel 可打开的 CSV（元，两位小数）。"
    " Amounts in fen; format=csv downloads a CSV in yuan for Excel.",
    query=SettlementQuery,
    response=SettlementOut,
    errors=("auth.out_of_scope",),
)
def settlement_day(query: SettlementQuery):
    report = settlement.report_for(db.session, current_actor(), query.date)
    db.session.rollback()  # read only
    if query.format == "csv":
        name = f"transit-settlement-{query.date.isoformat()}.csv"
        return Response(
            settlement.report_csv(report),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Type": "text/csv; charset=utf-8",
            },
        )
    return SettlementOut.model_validate(report.as_dict())


class RefundsQuery(Schema):
    status: Literal["pending", "refunded", "debt_reduced"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    before_id: int | None = Field(default=None, ge=1)


class RefundOut(OutSchema):
    id: int
    trip_id: int
    reason: str  # late_tap | earlier_ride (a transfer from a ride completed late)
    caused_by_trip_id: int | None
    operator_id: str
    city_code: str
    service_date: dt.date
    original_charged_fen: int
    refund_fen: int
    status: str
    refund_error: str | None
    refund_attempted_at: dt.datetime | None
    created_at: dt.datetime
    refunded_at: dt.datetime | None


class RefundsOut(OutSchema):
    refunds: list[RefundOut]
    next_before_id: int | None


@reports_bp.get("/transit/refunds")
@require("transit.settlement.read")
@endpoint(
    summary="票价调整退款（补登进出站后按实际行程退差价） Fare adjustment refunds",
    description="status=pending：尚未退回银行账户的退款，refund_error 为银行最近一次拒绝的代码，"
    "系统每次运行 flask transit adjust 时重试。 status=pending lists refunds the bank has not"
    " taken yet, with the bank's last refusal code; each run of flask transit adjust retries.",
    query=RefundsQuery,
    response=RefundsOut,
    errors=("auth.out_of_scope",),
)
def refunds(query: RefundsQuery):
    rows = settlement.refunds_for(
        db.session,
        current_actor(),
        status=query.status,
        limit=query.limit,
        before_id=query.before_id,
    )
    db.session.rollback()  # read only
    return RefundsOut(
        refunds=[RefundOut.model_validate(r) for r in rows],
        next_before_id=rows[-1]["id"] if len(rows) == query.limit else None,
    )

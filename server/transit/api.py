"""Transit edges: placing terminals (``bp``, staff, under ``/staff/v1``) and taps (``terminal_bp``,
signed terminal requests, under ``/terminal/v1``). Parse, check, call one service, serialise."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import AwareDatetime, Field, model_validator

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import utcnow
from server.credentials.verifier import REFUSAL_CODES
from server.error_codes import CATALOGUE
from server.extensions import db
from server.security.auth import current_actor, require
from server.terminals.auth import (
    TERMINAL_ERRORS,
    clock_skew_s,
    current_terminal,
    require_terminal,
    take_deferred_nonce,
)
from server.transit import service

bp = Blueprint("transit", __name__)
terminal_bp = Blueprint("transit_terminal", __name__)

BATCH_BODY_LIMIT = 8 * 1024 * 1024  # 5,000 QR taps are about 2.2 MB of JSON
HEX8 = r"^[0-9a-fA-F]{16}$"
STOP_ID = Field(default=None, min_length=1, max_length=64)

CREDENTIAL_ERRORS = tuple(
    f"credential.{code}" for code in REFUSAL_CODES if f"credential.{code}" in CATALOGUE
)


# --- staff: where a terminal stands ---------------------------------------------------------------


class PlacementIn(Schema):
    network_id: str = Field(
        min_length=1, max_length=64, description="线网（票价数据中的 network_id） Network id"
    )
    stop_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="站点（闸机、自行车桩必填） Stop; required for gates and docks",
    )


class PlacementOut(OutSchema):
    terminal_id: int
    network_id: str
    stop_id: str | None
    placed_at: datetime


@bp.post("/terminals/<int:terminal_id>/placement")
@require("terminal.manage")
@endpoint(
    summary="登记交通终端的线网和站点 Place a transit terminal (network, stop)",
    body=PlacementIn,
    response=PlacementOut,
    errors=(
        "terminal.not_found",
        "terminal.scene_not_allowed",
        "transit.unknown_network",
        "transit.unknown_stop",
        "auth.out_of_scope",
    ),
)
def place_terminal(terminal_id: int, body: PlacementIn):
    placement = service.place_terminal(
        db.session,
        current_actor(),
        terminal_id,
        network_id=body.network_id,
        stop_id=body.stop_id,
        now=utcnow(),
    )
    return PlacementOut.model_validate(placement)


# --- terminals: taps ------------------------------------------------------------------------------

SIGNING = (
    "签名请求（见 server/terminals/rules.py）。"
    "Signed terminal request (X-Terminal-Id, X-Timestamp, X-Nonce, X-Signature)."
)
TapKind = Literal["entry", "exit", "single", "taxi", "bike_out", "bike_in"]


class CardIn(Schema):
    serial: str = Field(min_length=1, max_length=32, description="卡号 Card serial")
    challenge: str = Field(pattern=HEX8, description="终端随机挑战（8 字节十六进制）")
    counter: int = Field(ge=0, le=0xFFFF_FFFF, description="卡片交易计数器 Chip counter")
    mac: str = Field(pattern=HEX8, description="卡片应答 MAC（8 字节十六进制）")


class TapIn(Schema):
    kind: TapKind
    medium: Literal["qr", "card"]
    code: str | None = Field(default=None, min_length=1, max_length=512, description="二维码文本")
    card: CardIn | None = None
    stop_id: str | None = STOP_ID
    amount_fen: int | None = Field(
        default=None, ge=0, le=100_000_000, description="出租车计价金额（分） Taxi meter, fen"
    )
    tapped_at: AwareDatetime | None = Field(default=None, description="默认为当前时间 Default now")

    @model_validator(mode="after")
    def _medium_has_its_data(self) -> TapIn:
        if self.medium == "qr" and self.code is None:
            raise ValueError("a QR tap needs code")
        if self.medium == "card" and self.card is None:
            raise ValueError("a card tap needs card")
        return self


class BreakdownOut(OutSchema):
    base_fen: int
    concession_fen: int
    transfer_fen: int
    volume_fen: int
    cap_fen: int
    charged_fen: int
    fare_product_id: str | None
    rider_category_id: str | None
    concession_policy_id: str | None
    leg_group_id: str | None
    notes: list[str]


class TripOut(OutSchema):
    id: int
    status: str
    incomplete: str | None
    network_id: str
    mode: str
    from_stop_id: str | None
    to_stop_id: str | None
    started_at: datetime
    ended_at: datetime | None
    charged_fen: int
    payment_status: str
    breakdown: BreakdownOut


class TapOut(OutSchema):
    result: Literal["accepted"]
    tap_id: int
    trip: TripOut | None


TAP_ERRORS = (
    *TERMINAL_ERRORS,
    "terminal.scene_not_allowed",
    "transit.not_placed",
    "transit.wrong_station",
    "transit.kind_not_allowed",
    "transit.already_inside",
    "transit.amount_required",
    "transit.amount_over_cap",
    "transit.tap_in_future",
    "transit.unknown_network",
    "transit.no_card",
    *CREDENTIAL_ERRORS,
    "chip.unknown_card",
    "chip.bad_mac",
    "chip.counter_replayed",
    "card.not_active",
)


def _card(card: CardIn | None) -> service.CardAnswer | None:
    if card is None:
        return None
    return service.CardAnswer(
        serial=card.serial,
        challenge=bytes.fromhex(card.challenge),
        counter=card.counter,
        mac=bytes.fromhex(card.mac),
    )


@terminal_bp.post("/taps")
@require_terminal(defer_nonce=True)
@endpoint(
    summary="在线刷卡/扫码乘车 Online tap (QR code or card)",
    description=SIGNING
    + " 当场决定：受理并记录，或以错误码拒绝。Decided in the request: accepted and recorded, "
    "or refused with a code (nothing recorded).",
    body=TapIn,
    response=TapOut,
    errors=TAP_ERRORS,
)
def tap(body: TapIn):
    outcome = service.record_tap(
        db.session,
        current_terminal(),
        service.TapIn(
            kind=body.kind,
            medium=body.medium,
            code=body.code,
            card=_card(body.card),
            stop_id=body.stop_id,
            amount_fen=body.amount_fen,
            tapped_at=body.tapped_at,
        ),
        utcnow(),
        clock_skew_s=clock_skew_s(),
        nonce=take_deferred_nonce(),
    )
    out = TapOut.model_validate(
        {"result": "accepted", "tap_id": outcome.tap_id, "trip": service.trip_view(outcome.trip)}
    )
    # Serialised by pydantic itself: the busiest response, and the same JSON as jsonify's.
    return Response(out.model_dump_json(), mimetype="application/json")


class BatchCardIn(Schema):
    serial: str = Field(max_length=32)
    challenge: str = Field(max_length=64)
    counter: int = Field(ge=0, le=0xFFFF_FFFF)
    mac: str = Field(max_length=64)


class BatchTapIn(Schema):
    """Shape only: what a tap says is checked tap by tap, with a result (and code) each."""

    local_seq: int = Field(ge=0, le=2**62, description="终端本地序号 Terminal's local sequence")
    kind: str = Field(
        max_length=12, description="entry | exit | single | taxi | bike_out | bike_in"
    )
    medium: str = Field(max_length=8, description="qr | card")
    code: str | None = Field(default=None, max_length=512)
    card: BatchCardIn | None = None
    stop_id: str | None = Field(default=None, max_length=64)
    amount_fen: int | None = Field(default=None, ge=0, le=100_000_000)
    tapped_at: AwareDatetime


class BatchIn(Schema):
    batch_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="批次号（如 UUID），重传时不变 Batch id (e.g. a UUID), the same on re-upload",
    )
    taps: list[BatchTapIn] = Field(max_length=service.MAX_BATCH_TAPS)


class TapResultOut(OutSchema):
    local_seq: int | None
    result: Literal["accepted", "refused", "duplicate", "double_use"]
    code: str | None = None
    tap_id: int | None = None
    trip_id: int | None = None


class BatchOut(OutSchema):
    batch_id: str
    accepted: int
    refused: int
    duplicate: int
    double_use: int
    results: list[TapResultOut]


def larger_body(limit: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Allow this route a larger body than ``MAX_CONTENT_LENGTH`` (set before anything reads it)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            request.max_content_length = max(limit, request.max_content_length or 0)
            return view(*args, **kwargs)

        return wrapper

    return decorate


@terminal_bp.post("/tap-batches")
@larger_body(BATCH_BODY_LIMIT)
@require_terminal()
@endpoint(
    summary="上传离线刷卡批次（幂等） Upload an offline tap batch (idempotent)",
    description=SIGNING
    + " 每批最多 5,000 笔，请求体最大 8 MiB；按批次号和（终端，本地序号）幂等。Up to 5,000 taps, "
    "body up to 8 MiB; idempotent by batch id and by (terminal, local_seq). One result per tap: "
    "accepted | refused (with code) | duplicate | double_use.",
    body=BatchIn,
    response=BatchOut,
    errors=(*TERMINAL_ERRORS, "request.idempotency_conflict"),
)
def tap_batch(body: BatchIn):
    results = service.upload_batch(
        db.session,
        current_terminal(),
        body.batch_id,
        [t.model_dump() for t in body.taps],
        utcnow(),
        clock_skew_s=clock_skew_s(),
    )
    counts = {"accepted": 0, "refused": 0, "duplicate": 0, "double_use": 0}
    for result in results:
        counts[result["result"]] += 1
    return BatchOut.model_validate({"batch_id": body.batch_id, **counts, "results": results})

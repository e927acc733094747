"""Entrances for staff (``bp``, under ``/staff/v1``) and entry decisions for terminals
(``terminal_bp``, under ``/terminal/v1``, signed requests). Parse, check, call one service,
serialise."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import Field, model_validator

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import utcnow
from server.entrances import service
from server.entrances.models import Entrance
from server.extensions import db
from server.kiosk.api import CARD_TAP_ERRORS, CardTapIn
from server.security.auth import current_actor, require
from server.terminals.api import CREDENTIAL_ERRORS, SIGNING
from server.terminals.auth import TERMINAL_ERRORS, current_terminal, require_terminal
from server.terminals.rules import CODE_MAX_LEN, CODE_PATTERN

bp = Blueprint("entrances", __name__)
terminal_bp = Blueprint("entrance_terminal", __name__)

KindName = Literal["museum", "library", "scenic_spot"]
CITY_PATTERN = r"^44\d{4}$"
Span = Field(default=None, pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")


# --- staff ---------------------------------------------------------------------------------------


class WeeklyHours(Schema):
    mon: str | None = Span
    tue: str | None = Span
    wed: str | None = Span
    thu: str | None = Span
    fri: str | None = Span
    sat: str | None = Span
    sun: str | None = Span


class OpeningHoursIn(Schema):
    weekly: WeeklyHours = Field(
        description="每周开放时间（北京时间），空为闭馆 Weekly, Asia/Shanghai"
    )
    closed_dates: list[str] = Field(
        default_factory=list, max_length=366, description="闭馆日期 Closed dates (YYYY-MM-DD)"
    )


class EntranceIn(Schema):
    code: str = Field(
        min_length=3,
        max_length=CODE_MAX_LEN,
        pattern=CODE_PATTERN,
        description="入口编号 Entrance code, e.g. GDMUSEUM-MAIN",
    )
    kind: KindName
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=128)
    city_code: str = Field(pattern=CITY_PATTERN)
    opening_hours: OpeningHoursIn


class EntranceOut(OutSchema):
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    city_code: str
    opening_hours: dict
    status: str
    terminals: list[str]
    created_at: datetime


class EntrancesOut(OutSchema):
    items: list[EntranceOut]


def _out(entrance: Entrance, terminals: list[str]) -> EntranceOut:
    return EntranceOut(
        id=entrance.id,
        code=entrance.code,
        kind=entrance.kind,
        name_zh=entrance.name_zh,
        name_en=entrance.name_en,
        city_code=entrance.city_code,
        opening_hours=json.loads(entrance.opening_hours),
        status=entrance.status,
        terminals=terminals,
        created_at=entrance.created_at,
    )


def _one_out(entrance: Entrance) -> EntranceOut:
    return _out(entrance, service.terminal_codes(db.session, [entrance.id])[entrance.id])


@bp.post("/entrances")
@require("entrance.manage")
@endpoint(
    summary="登记场馆入口 Register an entrance (museum, library, scenic spot)",
    body=EntranceIn,
    response=EntranceOut,
    status=201,
    errors=("entrance.code_taken", "city.unknown", "auth.out_of_scope"),
)
def create_entrance(body: EntranceIn):
    data = body.model_dump()
    data["opening_hours"] = {
        "weekly": {k: v for k, v in data["opening_hours"]["weekly"].items() if v is not None},
        "closed_dates": data["opening_hours"]["closed_dates"],
    }
    entrance = service.create_entrance(db.session, current_actor(), now=utcnow(), **data)
    return _one_out(entrance), 201


class EntranceQuery(Schema):
    city_code: str | None = Field(default=None, pattern=CITY_PATTERN)
    kind: KindName | None = None


@bp.get("/entrances")
@require("entrance.read")
@endpoint(
    summary="场馆入口列表 Entrances in your scope", query=EntranceQuery, response=EntrancesOut
)
def list_entrances(query: EntranceQuery):
    rows = service.list_entrances(db.session, current_actor(), **query.model_dump())
    codes = service.terminal_codes(db.session, [e.id for e in rows])
    return EntrancesOut(items=[_out(e, codes[e.id]) for e in rows])


class AttachIn(Schema):
    terminal_code: str = Field(min_length=3, max_length=CODE_MAX_LEN, pattern=CODE_PATTERN)


@bp.post("/entrances/<int:entrance_id>/terminals")
@require("entrance.manage")
@endpoint(
    summary="把终端安装到入口 Attach a terminal to an entrance",
    body=AttachIn,
    response=EntranceOut,
    errors=("entrance.not_found", "terminal.not_found", "auth.out_of_scope"),
)
def attach_terminal(entrance_id: int, body: AttachIn):
    entrance = service.attach_terminal(
        db.session, current_actor(), entrance_id, body.terminal_code, utcnow()
    )
    return _one_out(entrance)


# --- terminals -----------------------------------------------------------------------------------


class EntryIn(Schema):
    entrance: str = Field(min_length=3, max_length=CODE_MAX_LEN, description="入口编号 Entrance")
    card: CardTapIn | None = Field(default=None, description="刷卡 A card tap")
    code: str | None = Field(
        default=None, min_length=1, max_length=512, description="二维码文本 QR text"
    )

    @model_validator(mode="after")
    def _one_medium(self) -> EntryIn:
        if (self.card is None) == (self.code is None):
            raise ValueError("give exactly one of card and code")
        return self


class EntranceRef(OutSchema):
    code: str
    name_zh: str
    name_en: str


class HolderOut(OutSchema):
    masked_name: str
    greeting_zh: str
    greeting_en: str


class EntryOut(OutSchema):
    entry_id: int
    decision: Literal["allowed"]
    entrance: EntranceRef
    holder: HolderOut
    at: datetime


@terminal_bp.post("/entries")
@require_terminal()
@endpoint(
    summary="刷卡或扫码进入场馆 Entry by card tap or QR code",
    description=SIGNING,
    body=EntryIn,
    response=EntryOut,
    status=201,
    errors=(
        *TERMINAL_ERRORS,
        "entry.unknown_entrance",
        "entry.terminal_not_at_entrance",
        "entry.closed",
        "entry.no_card",
        "terminal.scene_not_allowed",
        *CARD_TAP_ERRORS,
        *CREDENTIAL_ERRORS,
    ),
)
def enter(body: EntryIn):
    decision = service.decide_entry(
        db.session,
        current_terminal(),
        entrance_code=body.entrance,
        tap=body.card.to_tap() if body.card is not None else None,
        qr_text=body.code,
        now=utcnow(),
    )
    entrance = decision.entrance
    return EntryOut(
        entry_id=decision.entry_id,
        decision="allowed",
        entrance=EntranceRef(
            code=entrance.code, name_zh=entrance.name_zh, name_en=entrance.name_en
        ),
        holder=HolderOut(
            masked_name=decision.masked_name,
            greeting_zh=decision.greeting_zh,
            greeting_en=decision.greeting_en,
        ),
        at=decision.at,
    ), 201

"""Entrances for staff (``bp``, under ``/staff/v1``) and entry decisions for terminals
(``terminal_bp``, under ``/terminal/v1``, signed requests). Parse, check, call one service,
serialise."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Literal

from flask import Blueprint
from pydantic import ConfigDict, Field, model_validator

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import SHANGHAI, local_date, utcnow
from server.entrances import service
from server.entrances.models import Entrance
from server.entrances.rules import STATUS_REASON_MAX_CHARS
from server.extensions import db
from server.kiosk.api import CARD_TAP_ERRORS, CardTapIn
from server.security.auth import current_actor, require
from server.terminals.api import CREDENTIAL_ERRORS, SIGNING
from server.terminals.auth import TERMINAL_ERRORS, current_terminal, require_terminal
from server.terminals.models import Terminal
from server.terminals.rules import CODE_MAX_LEN, CODE_PATTERN

bp = Blueprint("entrances", __name__)
terminal_bp = Blueprint("entrance_terminal", __name__)

KindName = Literal["museum", "library", "scenic_spot"]
StatusName = Literal["open", "suspended"]
Day = date  # a field named ``date`` hides the type inside a model
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


class AttachedTerminalOut(OutSchema):
    id: int
    code: str
    kind: str


class EntranceOut(OutSchema):
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    city_code: str
    opening_hours: dict
    status: str
    status_reason: str | None
    status_changed_at: datetime | None
    terminals: list[str]
    attached_terminals: list[AttachedTerminalOut]
    created_at: datetime
    updated_at: datetime | None


class EntrancesOut(OutSchema):
    items: list[EntranceOut]


def _out(entrance: Entrance, terminals: list[Terminal]) -> EntranceOut:
    return EntranceOut(
        id=entrance.id,
        code=entrance.code,
        kind=entrance.kind,
        name_zh=entrance.name_zh,
        name_en=entrance.name_en,
        city_code=entrance.city_code,
        opening_hours=json.loads(entrance.opening_hours),
        status=entrance.status,
        status_reason=entrance.status_reason,
        status_changed_at=entrance.status_changed_at,
        terminals=[t.code for t in terminals],
        attached_terminals=[
            AttachedTerminalOut(id=t.id, code=t.code, kind=t.kind) for t in terminals
        ],
        created_at=entrance.created_at,
        updated_at=entrance.updated_at,
    )


def _one_out(entrance: Entrance) -> EntranceOut:
    return _out(entrance, service.attached_terminals(db.session, [entrance.id])[entrance.id])


def _hours_doc(hours: dict) -> dict:
    return {
        "weekly": {k: v for k, v in hours["weekly"].items() if v is not None},
        "closed_dates": hours["closed_dates"],
    }


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
    data["opening_hours"] = _hours_doc(data["opening_hours"])
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
    terminals = service.attached_terminals(db.session, [e.id for e in rows])
    return EntrancesOut(items=[_out(e, terminals[e.id]) for e in rows])


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


class EntrancePatch(Schema):
    name_zh: str | None = Field(default=None, min_length=1, max_length=64)
    name_en: str | None = Field(default=None, min_length=1, max_length=128)
    opening_hours: OpeningHoursIn | None = None
    status: StatusName | None = Field(
        default=None, description="open 在用；suspended 暂停开放（施工、检修等），须填原因"
    )
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=STATUS_REASON_MAX_CHARS,
        description="暂停原因，闸机上显示，勿填个人信息 Why it is closed; shown at the gate",
    )


@bp.patch("/entrances/<int:entrance_id>")
@require("entrance.manage")
@endpoint(
    summary="修改入口：名称、开放时间、暂停或恢复开放 Update an entrance: names, opening hours,"
    " suspend (closed for works) or reopen",
    description="暂停开放的入口刷卡时返回 entry.closed（entrance_status=suspended，reason）。"
    " A suspended entrance denies entries with entry.closed (entrance_status, reason).",
    body=EntrancePatch,
    response=EntranceOut,
    errors=("entrance.not_found", "auth.out_of_scope"),
)
def update_entrance(entrance_id: int, body: EntrancePatch):
    data = body.model_dump()  # nested defaults too (closed_dates)
    changes = {k: data[k] for k in body.model_fields_set if data[k] is not None}
    if "opening_hours" in changes:
        changes["opening_hours"] = _hours_doc(changes["opening_hours"])
    entrance = service.update_entrance(db.session, current_actor(), entrance_id, changes, utcnow())
    return _one_out(entrance)


@bp.delete("/entrances/<int:entrance_id>/terminals/<int:terminal_id>")
@require("entrance.manage")
@endpoint(
    summary="把终端从入口撤下 Detach a terminal from an entrance",
    response=EntranceOut,
    errors=("entrance.not_found", "entrance.terminal_not_attached", "auth.out_of_scope"),
)
def detach_terminal(entrance_id: int, terminal_id: int):
    entrance = service.detach_terminal(
        db.session, current_actor(), entrance_id, terminal_id, utcnow()
    )
    return _one_out(entrance)


class EntriesQuery(Schema):
    date: Day | None = Field(default=None, description="北京时间日期，默认今天 Shanghai day")
    decision: Literal["allowed", "denied"] | None = None
    page: int = Field(default=1, ge=1, le=10000)
    per_page: int = Field(default=50, ge=1, le=200)


class EntryLineOut(OutSchema):
    id: int
    at: datetime
    local_time: str = Field(description="北京时间 Asia/Shanghai ISO-8601")
    decision: str
    code: str | None
    medium: str
    terminal_code: str
    holder_masked_name: str | None = Field(
        description="持卡人姓名（脱敏），仅对可查询人员的工作人员 Masked, staff with person.read"
    )


class EntriesOut(OutSchema):
    entrance_code: str
    date: Day
    items: list[EntryLineOut]
    page: int
    has_more: bool


@bp.get("/entrances/<int:entrance_id>/entries")
@require("entrance.read")
@endpoint(
    summary="入口刷卡记录（按北京时间日期） Entry records of an entrance on one day",
    query=EntriesQuery,
    response=EntriesOut,
    errors=("entrance.not_found", "auth.out_of_scope"),
)
def list_entries(entrance_id: int, query: EntriesQuery):
    day = query.date or local_date(utcnow())
    entrance, lines, has_more = service.list_entries(
        db.session,
        current_actor(),
        entrance_id,
        day=day,
        decision=query.decision,
        page=query.page,
        per_page=query.per_page,
    )
    return EntriesOut(
        entrance_code=entrance.code,
        date=day,
        items=[
            EntryLineOut(
                id=line.id,
                at=line.at,
                local_time=line.at.astimezone(SHANGHAI).isoformat(),
                decision=line.decision,
                code=line.code,
                medium=line.medium,
                terminal_code=line.terminal_code,
                holder_masked_name=line.holder_masked_name,
            )
            for line in lines
        ],
        page=query.page,
        has_more=has_more,
    )


class SummaryQuery(Schema):
    from_: date = Field(alias="from", description="起始日期（北京时间，含） First day")
    to: date = Field(description="结束日期（含），最多 92 天 Last day, at most 92 days")


class DaySummaryOut(OutSchema):
    date: Day
    allowed: int
    denied: int
    denied_by_code: dict[str, int]


class SummaryOut(OutSchema):
    model_config = ConfigDict(from_attributes=True, serialize_by_alias=True)

    entrance_code: str
    from_: date = Field(serialization_alias="from")
    to: date
    days: list[DaySummaryOut]
    allowed: int
    denied: int
    denied_by_code: dict[str, int]


@bp.get("/entrances/<int:entrance_id>/entries/summary")
@require("entrance.read")
@endpoint(
    summary="入口每日通行统计（月报） Allowed and denied entries per day, denials by code",
    query=SummaryQuery,
    response=SummaryOut,
    errors=("entrance.not_found", "auth.out_of_scope"),
)
def entries_summary(entrance_id: int, query: SummaryQuery):
    summary = service.entries_summary(
        db.session, current_actor(), entrance_id, first=query.from_, last=query.to
    )
    return SummaryOut(
        entrance_code=summary.entrance.code,
        from_=query.from_,
        to=query.to,
        days=[
            DaySummaryOut(
                date=d.day, allowed=d.allowed, denied=d.denied, denied_by_code=d.denied_by_code
            )
            for d in summary.days
        ],
        allowed=summary.total.allowed,
        denied=summary.total.denied,
        denied_by_code=summary.total.denied_by_code,
    )


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

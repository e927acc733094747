"""Kiosk API: card challenges, self-service activation and help requests for terminals
(``terminal_bp``, under ``/terminal/v1``, signed requests), and help requests for staff (``bp``,
under ``/staff/v1``). Parse, check, call one service, serialise."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import Field, field_validator

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import utcnow
from server.extensions import db
from server.kiosk import service
from server.kiosk.models import HelpRequest
from server.kiosk.rules import note_problem
from server.registry.rules import CARD_SERIAL
from server.security.auth import current_actor, require
from server.security.pii import mask_name
from server.terminals.api import SIGNING
from server.terminals.auth import TERMINAL_ERRORS, current_terminal, require_terminal

bp = Blueprint("kiosk", __name__)
terminal_bp = Blueprint("kiosk_terminal", __name__)

HEX16 = r"^[0-9a-fA-F]{16}$"


# --- card taps -----------------------------------------------------------------------------------


class CardTapIn(Schema):
    """A card's answer to a server-issued challenge (INTERNAL AUTHENTICATE)."""

    challenge_id: str = Field(min_length=16, max_length=64, description="挑战编号 Challenge id")
    serial: str = Field(pattern=CARD_SERIAL.pattern, description="卡号 Card serial, e.g. A12345678")
    counter: int = Field(ge=0, le=0xFFFF_FFFF, description="卡片交易计数器 Card counter")
    mac: str = Field(pattern=HEX16, description="卡片应答 MAC, 16 hex")

    def to_tap(self) -> service.CardTap:
        return service.CardTap(
            challenge_id=self.challenge_id,
            serial=self.serial,
            counter=self.counter,
            mac=bytes.fromhex(self.mac),
        )


CARD_TAP_ERRORS = (
    "chip.challenge_unknown",
    "chip.challenge_expired",
    "chip.challenge_used",
    "chip.unknown_card",
    "chip.bad_mac",
    "chip.counter_replayed",
    "card.not_active",
)


class EmptyIn(Schema):
    pass


class ChallengeOut(OutSchema):
    challenge_id: str
    challenge: str = Field(description="8 字节随机数 8 random bytes, 16 hex")
    expires_at: datetime


@terminal_bp.post("/card-challenges")
@require_terminal()
@endpoint(
    summary="取卡片认证挑战（一次有效，绑定本终端） Get a card challenge (single use)",
    description=SIGNING,
    body=EmptyIn,
    response=ChallengeOut,
    status=201,
    errors=TERMINAL_ERRORS,
)
def card_challenge(body: EmptyIn):
    issued = service.issue_challenge(db.session, current_terminal(), utcnow())
    return ChallengeOut(
        challenge_id=issued.challenge_id,
        challenge=issued.challenge.hex(),
        expires_at=issued.expires_at,
    ), 201


# --- self-service activation ---------------------------------------------------------------------


class ActivationIn(Schema):
    card: CardTapIn


class ActivationOut(OutSchema):
    activation_id: str
    masked_name: str
    expires_at: datetime
    tries_left: int


@terminal_bp.post("/activations")
@require_terminal()
@endpoint(
    summary="自助激活：刷卡开始 Self-service activation: tap to start",
    description=SIGNING,
    body=ActivationIn,
    response=ActivationOut,
    status=201,
    errors=(
        *TERMINAL_ERRORS,
        "terminal.scene_not_allowed",
        *CARD_TAP_ERRORS,
        "activation.already_active",
        "card.pin_locked",
    ),
)
def start_activation(body: ActivationIn):
    started = service.start_activation(db.session, current_terminal(), body.card.to_tap(), utcnow())
    return ActivationOut(
        activation_id=started.activation_id,
        masked_name=mask_name(started.person.name),
        expires_at=started.expires_at,
        tries_left=started.tries_left,
    ), 201


ACTIVATION_ERRORS = ("activation.unknown", "activation.expired", "activation.finished")


class IdentityIn(Schema):
    id_last6: str = Field(
        pattern=r"^[0-9]{5}[0-9Xx]$", description="身份证号码后 6 位 Last 6 of the ID number"
    )


class IdentityOut(OutSchema):
    identity_ok: bool


@terminal_bp.post("/activations/<activation_id>/identity")
@require_terminal()
@endpoint(
    summary="自助激活：核对身份证号码后六位 Confirm identity (last 6 of the ID number)",
    description=SIGNING,
    body=IdentityIn,
    response=IdentityOut,
    errors=(
        *TERMINAL_ERRORS,
        *ACTIVATION_ERRORS,
        "activation.identity_mismatch",
        "activation.already_active",
        "card.not_active",
        "card.pin_locked",
    ),
)
def confirm_identity(activation_id: str, body: IdentityIn):
    service.confirm_identity(db.session, current_terminal(), activation_id, body.id_last6, utcnow())
    return IdentityOut(identity_ok=True)


PinField = Field(min_length=1, max_length=16, description="6 位数字密码 6-digit PIN")


class SetPinIn(Schema):
    pin: str = PinField
    pin_confirm: str = PinField


class ActivatedOut(OutSchema):
    state: str
    masked_name: str


@terminal_bp.post("/activations/<activation_id>/pin")
@require_terminal()
@endpoint(
    summary="自助激活：设置密码（输入两次） Set the PIN (typed twice) and activate",
    description=SIGNING,
    body=SetPinIn,
    response=ActivatedOut,
    errors=(
        *TERMINAL_ERRORS,
        *ACTIVATION_ERRORS,
        "activation.identity_required",
        "activation.pin_mismatch",
        "activation.already_active",
        "card.pin_weak",
        "card.not_active",
        "card.pin_locked",
    ),
)
def set_pin(activation_id: str, body: SetPinIn):
    card, person = service.set_pin(
        db.session, current_terminal(), activation_id, body.pin, body.pin_confirm, utcnow()
    )
    return ActivatedOut(state=card.state, masked_name=mask_name(person.name))


# --- help requests -------------------------------------------------------------------------------

TopicName = Literal["activation_locked", "lost_or_replace", "entry_denied", "other"]
StatusName = Literal["open", "claimed", "resolved", "cancelled"]


class HelpIn(Schema):
    topic: TopicName
    note: str | None = Field(
        default=None, max_length=200, description="补充说明，勿填个人信息 Note, no personal data"
    )

    @field_validator("note")
    @classmethod
    def _no_numbers(cls, value: str | None) -> str | None:
        problem = note_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class HelpTerminalOut(OutSchema):
    id: int
    ticket: str
    status: str
    claimed_by_name: str | None = None


def _help_terminal_out(request: HelpRequest) -> HelpTerminalOut:
    names = service.staff_names(db.session, {request.claimed_by} if request.claimed_by else set())
    return HelpTerminalOut(
        id=request.id,
        ticket=request.ticket,
        status=request.status,
        claimed_by_name=names.get(request.claimed_by) if request.claimed_by else None,
    )


@terminal_bp.post("/help-requests")
@require_terminal()
@endpoint(
    summary="呼叫工作人员 Call staff",
    description=SIGNING,
    body=HelpIn,
    response=HelpTerminalOut,
    status=201,
    errors=TERMINAL_ERRORS,
)
def create_help_request(body: HelpIn):
    request = service.create_help_request(
        db.session, current_terminal(), topic=body.topic, note=body.note, now=utcnow()
    )
    return _help_terminal_out(request), 201


@terminal_bp.get("/help-requests/<int:request_id>")
@require_terminal()
@endpoint(
    summary="求助进度 Help request status",
    description=SIGNING,
    response=HelpTerminalOut,
    errors=(*TERMINAL_ERRORS, "help.not_found"),
)
def get_help_request(request_id: int):
    return _help_terminal_out(
        service.help_request_for_terminal(db.session, current_terminal(), request_id)
    )


@terminal_bp.post("/help-requests/<int:request_id>/cancel")
@require_terminal()
@endpoint(
    summary="取消呼叫（尚无人接单时） Take back a call for staff (while nobody has claimed it)",
    description=SIGNING + " 重复取消返回已取消的求助。 Cancelling again answers the cancelled"
    " request.",
    response=HelpTerminalOut,
    errors=(*TERMINAL_ERRORS, "help.not_found", "help.already_claimed", "help.closed"),
)
def cancel_help_request(request_id: int):
    request = service.cancel_help_request(db.session, current_terminal(), request_id, utcnow())
    return _help_terminal_out(request)


class HelpOut(OutSchema):
    id: int
    ticket: str
    status: str
    topic: str
    note: str | None
    terminal_id: int
    city_code: str
    created_at: datetime
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    cancelled_at: datetime | None
    outcome: str | None


class HelpListOut(OutSchema):
    items: list[HelpOut]


def _help_out(request: HelpRequest, names: dict[int, str]) -> HelpOut:
    return HelpOut(
        id=request.id,
        ticket=request.ticket,
        status=request.status,
        topic=request.topic,
        note=request.note,
        terminal_id=request.terminal_id,
        city_code=request.city_code,
        created_at=request.created_at,
        claimed_by=request.claimed_by,
        claimed_by_name=names.get(request.claimed_by) if request.claimed_by else None,
        claimed_at=request.claimed_at,
        resolved_at=request.resolved_at,
        cancelled_at=request.cancelled_at,
        outcome=request.outcome,
    )


def _one_help_out(request: HelpRequest) -> HelpOut:
    ids = {request.claimed_by} if request.claimed_by else set()
    return _help_out(request, service.staff_names(db.session, ids))


class HelpQuery(Schema):
    status: StatusName | None = None
    after_id: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=500)


@bp.get("/help-requests")
@require("help.handle")
@endpoint(
    summary="终端求助列表（本市） Help requests from terminals in your city",
    query=HelpQuery,
    response=HelpListOut,
)
def list_help_requests(query: HelpQuery):
    rows = service.list_help_requests(db.session, current_actor(), **query.model_dump())
    names = service.staff_names(db.session, {r.claimed_by for r in rows if r.claimed_by})
    return HelpListOut(items=[_help_out(r, names) for r in rows])


@bp.post("/help-requests/<int:request_id>/claim")
@require("help.handle")
@endpoint(
    summary="接单 Claim a help request",
    response=HelpOut,
    errors=("help.not_found", "help.already_claimed", "help.closed", "auth.out_of_scope"),
)
def claim_help_request(request_id: int):
    request = service.claim_help_request(db.session, current_actor(), request_id, utcnow())
    return _one_help_out(request)


class ResolveIn(Schema):
    outcome: str = Field(min_length=1, max_length=200, description="处理结果 What was done")


@bp.post("/help-requests/<int:request_id>/resolve")
@require("help.handle")
@endpoint(
    summary="处理完毕 Resolve a help request",
    body=ResolveIn,
    response=HelpOut,
    errors=("help.not_found", "help.closed", "auth.out_of_scope"),
)
def resolve_help_request(request_id: int, body: ResolveIn):
    request = service.resolve_help_request(
        db.session, current_actor(), request_id, body.outcome, utcnow()
    )
    return _one_help_out(request)

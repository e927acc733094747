"""Staff API for persons and cards. Parse, check permission, call one service, serialise."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint
from pydantic import Field

from server.apidoc import Schema, endpoint
from server.clock import utcnow
from server.extensions import db
from server.registry import service
from server.registry.models import Card, Person
from server.registry.rules import (
    CardAction,
    CardState,
    SealReason,
    allowed_actions,
    card_state_name,
)
from server.security.auth import current_actor, require
from server.security.pii import mask_bank_account, mask_id_number, mask_phone

bp = Blueprint("registry", __name__)

IdNumber = Field(min_length=1, max_length=32, description="身份证/居住证/永居证号码 ID number")
Pin = Field(min_length=1, max_length=16, description="6 位数字密码 6-digit PIN")
CITY_PATTERN = r"^44\d{4}$"
CityCode = Field(pattern=CITY_PATTERN, description="地级市行政区划代码 City code, e.g. 440100")


# --- output models ---------------------------------------------------------------------------


class CardOut(Schema):
    id: int
    person_id: int
    serial: str | None
    generation: int
    issuing_city: str
    bank_code: str
    bank_account_masked: str | None
    state: str
    state_name: str
    seal_reason: str | None
    issued_on: date | None
    expires_on: date | None
    replaces_card_id: int | None
    pin_set: bool
    pin_locked: bool
    allowed_actions: list[str]


class PersonOut(Schema):
    id: int
    id_type: str
    id_number_masked: str
    name: str
    birth_date: date
    sex: Literal["M", "F"]
    phone_masked: str | None
    city_code: str
    died_on: date | None
    disability_level: int | None
    cards: list[CardOut]


def card_out(card: Card) -> CardOut:
    account = service.decrypt_bank_account(card)
    state = CardState(card.state)
    return CardOut(
        id=card.id,
        person_id=card.person_id,
        serial=card.serial,
        generation=card.generation,
        issuing_city=card.issuing_city,
        bank_code=card.bank_code,
        bank_account_masked=mask_bank_account(account) if account else None,
        state=str(state),
        state_name=card_state_name(state),
        seal_reason=card.seal_reason,
        issued_on=card.issued_on,
        expires_on=card.expires_on,
        replaces_card_id=card.replaces_card_id,
        pin_set=card.pin_hash is not None,
        pin_locked=card.pin_locked_at is not None,
        allowed_actions=[str(a) for a in allowed_actions(state)],
    )


def person_out(person: Person) -> PersonOut:
    phone = service.decrypt_phone(person)
    return PersonOut(
        id=person.id,
        id_type=person.id_type,
        id_number_masked=mask_id_number(service.decrypt_id_number(person)),
        name=person.name,
        birth_date=person.birth_date,
        sex=person.sex,  # type: ignore[arg-type]
        phone_masked=mask_phone(phone) if phone else None,
        city_code=person.city_code,
        died_on=person.died_on,
        disability_level=person.disability_level,
        cards=[card_out(c) for c in person.cards],
    )


# --- persons ---------------------------------------------------------------------------------


class PersonIn(Schema):
    id_number: str = IdNumber
    name: str = Field(min_length=1, max_length=64)
    city_code: str = CityCode
    phone: str | None = Field(default=None, max_length=20)
    disability_level: int | None = Field(default=None, ge=1, le=4)


@bp.post("/persons")
@require("person.register")
@endpoint(
    summary="登记人员 Register a person",
    body=PersonIn,
    response=PersonOut,
    status=201,
    errors=(
        "person.invalid_id_number",
        "person.already_registered",
        "person.invalid_phone",
        "city.unknown",
        "auth.out_of_scope",
    ),
)
def register_person(body: PersonIn):
    person = service.register_person(db.session, current_actor(), now=utcnow(), **body.model_dump())
    return person_out(person), 201


class PersonSearchIn(Schema):
    id_number: str = IdNumber


@bp.post("/persons/search")
@require("person.search")
@endpoint(
    summary="按证件号码查找人员（号码放在请求体，不进地址栏） Find a person by ID number",
    body=PersonSearchIn,
    response=PersonOut,
    errors=("person.invalid_id_number", "person.not_found", "auth.out_of_scope"),
)
def search_person(body: PersonSearchIn):
    return person_out(service.search_person(db.session, current_actor(), body.id_number, utcnow()))


@bp.get("/persons/<int:person_id>")
@require("person.read")
@endpoint(
    summary="人员详情（脱敏） Person (masked)",
    response=PersonOut,
    errors=("person.not_found", "auth.out_of_scope"),
)
def get_person(person_id: int):
    return person_out(service.get_person(db.session, current_actor(), person_id))


class PersonPatch(Schema):
    phone: str | None = Field(default=None, max_length=20)
    city_code: str | None = Field(default=None, pattern=CITY_PATTERN)
    disability_level: int | None = Field(default=None, ge=1, le=4)
    died_on: date | None = None


@bp.patch("/persons/<int:person_id>")
@require("person.update")
@endpoint(
    summary="修改人员信息；登记死亡会封存其卡 Update a person; a recorded death seals the cards",
    body=PersonPatch,
    response=PersonOut,
    errors=("person.not_found", "person.invalid_phone", "city.unknown", "auth.out_of_scope"),
)
def update_person(person_id: int, body: PersonPatch):
    changes = body.model_dump(exclude_unset=True)
    if "city_code" in changes and changes["city_code"] is None:
        changes.pop("city_code")
    person = service.update_person(db.session, current_actor(), person_id, changes, utcnow())
    return person_out(person)


class RevealIn(Schema):
    fields: list[Literal["id_number", "phone"]] = Field(min_length=1)


class RevealOut(Schema):
    id_number: str | None = None
    phone: str | None = None


@bp.post("/persons/<int:person_id>/reveal")
@require("person.reveal")
@endpoint(
    summary="查看完整证件号/手机号（留痕审计） Reveal unmasked ID or phone (audited)",
    body=RevealIn,
    response=RevealOut,
    errors=("person.not_found", "auth.out_of_scope"),
)
def reveal(person_id: int, body: RevealIn):
    return RevealOut(
        **service.reveal_person(db.session, current_actor(), person_id, body.fields, utcnow())
    )


class UnbindIn(Schema):
    reason: str = Field(min_length=1, max_length=100)


class UnbindOut(Schema):
    unbound: bool


@bp.post("/persons/<int:person_id>/phone-binding/revoke")
@require("person.update")
@endpoint(
    summary="解除手机号绑定（手机丢失或号码已转给他人） Unbind the phone (lost or recycled)",
    body=UnbindIn,
    response=UnbindOut,
    errors=("person.not_found", "auth.out_of_scope"),
)
def unbind_phone(person_id: int, body: UnbindIn):
    from server.security.cardholder import unbind_phone as unbind

    return UnbindOut(unbound=unbind(db.session, current_actor(), person_id, body.reason, utcnow()))


# --- cards -----------------------------------------------------------------------------------


class CardApplyIn(Schema):
    generation: Literal[2, 3] = 3
    issuing_city: str = CityCode
    bank_code: str = Field(min_length=2, max_length=16)


@bp.post("/persons/<int:person_id>/cards")
@require("card.apply")
@endpoint(
    summary="申领社保卡 Apply for a card",
    body=CardApplyIn,
    response=CardOut,
    status=201,
    errors=("person.not_found", "person.deceased", "card.one_person_one_card", "city.unknown"),
)
def apply_card(person_id: int, body: CardApplyIn):
    card = service.apply_card(
        db.session, current_actor(), person_id, now=utcnow(), **body.model_dump()
    )
    return card_out(card), 201


@bp.get("/cards/<int:card_id>")
@require("card.read")
@endpoint(summary="社保卡详情（脱敏） Card (masked)", response=CardOut, errors=("card.not_found",))
def get_card(card_id: int):
    return card_out(service.get_card(db.session, current_actor(), card_id))


class ProduceIn(Schema):
    serial: str = Field(pattern=r"^[A-Z]\d{8}$", description="卡号 Card serial, e.g. A12345678")
    bank_account_number: str = Field(pattern=r"^\d{16,19}$")


@bp.post("/cards/<int:card_id>/produce")
@require("card.produce")
@endpoint(
    summary="制卡完成（写入卡号和银行账号） Card produced",
    body=ProduceIn,
    response=CardOut,
    errors=(
        "card.not_found",
        "card.invalid_transition",
        "card.serial_taken",
        "bank.invalid_account",
    ),
)
def produce(card_id: int, body: ProduceIn):
    card = service.produce_card(
        db.session, current_actor(), card_id, now=utcnow(), **body.model_dump()
    )
    return card_out(card)


@bp.post("/cards/<int:card_id>/issue")
@require("card.issue")
@endpoint(
    summary="发卡 Issue the card to its holder",
    response=CardOut,
    errors=("card.not_found", "card.invalid_transition"),
)
def issue(card_id: int):
    return card_out(service.issue_card(db.session, current_actor(), card_id, utcnow()))


class IssueOnSiteIn(Schema):
    serial: str = Field(
        min_length=1, max_length=16, description="读卡器读到的空白卡卡号 Blank card serial"
    )


@bp.post("/cards/<int:card_id>/issue-on-site")
@require("card.issue_on_site")
@endpoint(
    summary="现场制发卡：开立银行账户，制卡并发卡 Issue on site: bank account, produce, issue",
    body=IssueOnSiteIn,
    response=CardOut,
    errors=(
        "card.not_found",
        "card.invalid_transition",
        "card.serial_taken",
        "auth.out_of_scope",
    ),
)
def issue_on_site(card_id: int, body: IssueOnSiteIn):
    from flask import current_app

    card = service.issue_card_on_site(
        db.session,
        current_actor(),
        card_id,
        serial=body.serial,
        bank=current_app.extensions["ssc.bank"],
        now=utcnow(),
    )
    return card_out(card)


class PinIn(Schema):
    pin: str = Pin


@bp.post("/cards/<int:card_id>/activate")
@require("card.activate")
@endpoint(
    summary="激活并设置密码 Activate with a new PIN",
    body=PinIn,
    response=CardOut,
    errors=("card.not_found", "card.invalid_transition", "card.pin_weak"),
)
def activate(card_id: int, body: PinIn):
    return card_out(service.activate_card(db.session, current_actor(), card_id, body.pin, utcnow()))


class PinCheckOut(Schema):
    ok: bool
    tries_left: int


@bp.post("/cards/<int:card_id>/pin/verify")
@require("card.pin_verify")
@endpoint(
    summary="校验密码 Verify the PIN",
    body=PinIn,
    response=PinCheckOut,
    errors=("card.not_found", "card.not_active", "card.pin_incorrect", "card.pin_locked"),
)
def verify_pin(card_id: int, body: PinIn):
    result = service.verify_pin(db.session, current_actor(), card_id, body.pin, utcnow())
    return PinCheckOut(ok=result.ok, tries_left=result.tries_left)


@bp.post("/cards/<int:card_id>/pin/reset")
@require("card.pin_reset")
@endpoint(
    summary="重置密码（解锁） Reset the PIN (unlocks)",
    body=PinIn,
    response=CardOut,
    errors=("card.not_found", "card.not_active", "card.pin_weak"),
)
def reset_pin(card_id: int, body: PinIn):
    return card_out(service.reset_pin(db.session, current_actor(), card_id, body.pin, utcnow()))


class ReasonIn(Schema):
    reason: str | None = Field(default=None, max_length=200)


class RequiredReasonIn(Schema):
    reason: str = Field(min_length=1, max_length=200)


def _state_route(path: str, action: CardAction, permission: str, summary: str, body_model):
    @require(permission)
    @endpoint(
        summary=summary,
        body=body_model,
        response=CardOut,
        errors=("card.not_found", "card.invalid_transition", "card.one_person_one_card"),
    )
    def view(card_id: int, body):
        card = service.change_state(
            db.session, current_actor(), card_id, action, utcnow(), body.reason
        )
        return card_out(card)

    view.__name__ = f"card_{action}"
    bp.add_url_rule(path, endpoint=f"card_{action}", view_func=view, methods=["POST"])


_state_route(
    "/cards/<int:card_id>/report-loss",
    CardAction.REPORT_LOSS,
    "card.report_loss",
    "挂失（临时） Report the card lost (suspends it)",
    ReasonIn,
)
_state_route(
    "/cards/<int:card_id>/report-found",
    CardAction.REPORT_FOUND,
    "card.report_found",
    "解除挂失 Report the card found",
    ReasonIn,
)
_state_route(
    "/cards/<int:card_id>/cancel",
    CardAction.CANCEL,
    "card.cancel",
    "注销 Cancel the card",
    RequiredReasonIn,
)


class ReplaceIn(Schema):
    reason: str = Field(min_length=1, max_length=200)
    serial: str | None = Field(default=None, pattern=r"^[A-Z]\d{8}$")
    bank_account_number: str | None = Field(default=None, pattern=r"^\d{16,19}$")


@bp.post("/cards/<int:card_id>/replace")
@require("card.replace")
@endpoint(
    summary="补换卡（旧卡作废，新卡申领；可即时制卡） Replace the card",
    body=ReplaceIn,
    response=CardOut,
    status=201,
    errors=(
        "card.not_found",
        "card.invalid_transition",
        "card.serial_taken",
        "bank.invalid_account",
    ),
)
def replace(card_id: int, body: ReplaceIn):
    card = service.replace_card(
        db.session, current_actor(), card_id, now=utcnow(), **body.model_dump()
    )
    return card_out(card), 201


class SealIn(Schema):
    reason: SealReason
    note: str | None = Field(default=None, max_length=160)


@bp.post("/cards/<int:card_id>/seal")
@require("card.seal")
@endpoint(
    summary="封存 Seal the card",
    body=SealIn,
    response=CardOut,
    errors=("card.not_found", "card.invalid_transition"),
)
def seal(card_id: int, body: SealIn):
    card = service.seal_card(db.session, current_actor(), card_id, body.reason, body.note, utcnow())
    return card_out(card)


class UnsealRequestOut(Schema):
    id: int
    card_id: int
    reason: str
    status: str
    requested_by: int
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None


def unseal_out(request) -> UnsealRequestOut:
    return UnsealRequestOut(
        id=request.id,
        card_id=request.card_id,
        reason=request.reason,
        status=request.status,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        decided_by=request.decided_by,
        decided_at=request.decided_at,
    )


@bp.post("/cards/<int:card_id>/unseal-requests")
@require("card.unseal_request")
@endpoint(
    summary="申请解除封存（需另一名管理员审批） Ask to unseal (needs approval)",
    body=RequiredReasonIn,
    response=UnsealRequestOut,
    status=201,
    errors=("card.not_found", "card.invalid_transition"),
)
def request_unseal(card_id: int, body: RequiredReasonIn):
    req = service.request_unseal(db.session, current_actor(), card_id, body.reason, utcnow())
    return unseal_out(req), 201


class DecisionIn(Schema):
    approve: bool


@bp.post("/unseal-requests/<int:request_id>/decision")
@require("card.unseal_approve")
@endpoint(
    summary="审批解除封存 Approve or reject an unseal request",
    body=DecisionIn,
    response=UnsealRequestOut,
    errors=(
        "request.not_found",
        "card.approval_required",
        "card.invalid_transition",
        "card.one_person_one_card",
    ),
)
def decide_unseal(request_id: int, body: DecisionIn):
    req = service.decide_unseal(db.session, current_actor(), request_id, body.approve, utcnow())
    return unseal_out(req)


class CardEventOut(Schema):
    action: str
    from_state: str | None
    to_state: str
    reason: str | None
    actor_kind: str
    actor_id: int | None
    at: datetime


class CardEventsOut(Schema):
    items: list[CardEventOut]


@bp.get("/cards/<int:card_id>/events")
@require("card.read")
@endpoint(
    summary="卡片状态变更记录 Card history", response=CardEventsOut, errors=("card.not_found",)
)
def events(card_id: int):
    rows = service.card_events(db.session, current_actor(), card_id)
    return CardEventsOut(
        items=[
            CardEventOut(
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                reason=e.reason,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                at=e.at,
            )
            for e in rows
        ]
    )


class CityOut(Schema):
    code: str
    name_zh: str
    name_en: str
    pilot: bool


class CitiesOut(Schema):
    items: list[CityOut]


@bp.get("/cities")
@require("self.read")
@endpoint(summary="广东省地级市 Guangdong's cities", response=CitiesOut)
def cities():
    return CitiesOut(
        items=[
            CityOut(code=c.code, name_zh=c.name_zh, name_en=c.name_en, pilot=c.pilot)
            for c in service.list_cities(db.session)
        ]
    )

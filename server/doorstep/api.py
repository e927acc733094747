"""Staff API for door-to-door issuance (上门办卡). Parse, check permission, call one service,
serialise. Times of planned visits are Asia/Shanghai ISO-8601; personal data is masked (an
audited reveal gives the visiting staff the numbers and the address)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import AwareDatetime, Field

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import local_date, to_local_iso, utcnow
from server.doorstep import service
from server.doorstep.models import DoorstepRequest
from server.doorstep.rules import (
    NOTE_MAX_CHARS,
    Channel,
    Outcome,
    RequestedBy,
    Status,
    allowed_actions,
    decode_reasons,
    mask_address,
    status_name,
)
from server.extensions import db
from server.registry.rules import age_on
from server.security.auth import current_actor, require
from server.security.pii import mask_id_number, mask_name, mask_phone

bp = Blueprint("doorstep", __name__)

CITY_PATTERN = r"^44\d{4}$"
DISTRICT = Field(
    min_length=1,
    max_length=32,
    pattern=r"^[^\d０-９]+$",
    description="区/县（明文显示，不含门牌号） District, shown unmasked",
)
ADDRESS = Field(
    min_length=1, max_length=120, description="街道、楼栋、门牌（加密保存） Street and number"
)
PHONE = Field(min_length=1, max_length=20)
REASON = Field(min_length=1, max_length=NOTE_MAX_CHARS, description="不要填写证件号、手机号")


# --- output ----------------------------------------------------------------------------------


class DoorstepItemOut(OutSchema):
    """One line of the staff work list (also shown on the kiosk's staff screen)."""

    id: int
    name_masked: str
    age: int
    reasons: list[str]
    city_code: str
    district: str
    address_masked: str
    status: str
    status_name: str
    planned_from: str | None
    planned_to: str | None
    assigned_to_id: int | None
    assigned_to_name: str | None


class DoorstepPageOut(OutSchema):
    items: list[DoorstepItemOut]
    page: int
    per_page: int
    next_page: int | None


class VisitOut(OutSchema):
    id: int
    visited_at: str
    staff_id: int
    staff_name: str | None
    outcome: str
    note: str | None


class DoorstepOut(DoorstepItemOut):
    channel: str
    requested_by_kind: str
    requester_name_masked: str | None
    requester_phone_masked: str | None
    id_number_masked: str
    contact_phone_masked: str
    person_id: int | None
    has_disability_certificate: bool
    illness_declared: bool
    illness_confirmed: bool
    card_id: int | None
    created_at: str
    completed_at: str | None
    cancelled_at: str | None
    cancel_reason: str | None
    visits: list[VisitOut]
    allowed_actions: list[str]


def _masked_phone(value: str | None) -> str | None:
    return mask_phone(value) if value else None


def item_out(request: DoorstepRequest, names: dict[int, str]) -> DoorstepItemOut:
    return DoorstepItemOut(**_item_fields(request, names))


def _item_fields(request: DoorstepRequest, names: dict[int, str]) -> dict:
    return {
        "id": request.id,
        "name_masked": mask_name(request.subject_name),
        "age": age_on(request.subject_birth_date, local_date(utcnow())),
        "reasons": [str(r) for r in decode_reasons(request.reasons)],
        "city_code": request.city_code,
        "district": request.district,
        "address_masked": mask_address(service.decrypt(request, "address") or ""),
        "status": request.status,
        "status_name": status_name(request.status),
        "planned_from": to_local_iso(request.planned_from),
        "planned_to": to_local_iso(request.planned_to),
        "assigned_to_id": request.assigned_to_id,
        "assigned_to_name": names.get(request.assigned_to_id) if request.assigned_to_id else None,
    }


def detail_out(request: DoorstepRequest) -> DoorstepOut:
    session = db.session
    visits = service.visits_of(session, request.id)
    names = service.staff_names(session, {request.assigned_to_id, *(v.staff_id for v in visits)})
    person = service.subject_person(session, request)
    requester = service.requester_display_name(session, request)
    return DoorstepOut(
        **_item_fields(request, names),
        channel=request.channel,
        requested_by_kind=request.requested_by_kind,
        requester_name_masked=mask_name(requester) if requester else None,
        requester_phone_masked=_masked_phone(service.decrypt(request, "requester_phone")),
        id_number_masked=mask_id_number(service.decrypt(request, "id_number") or ""),
        contact_phone_masked=mask_phone(service.decrypt(request, "contact_phone") or ""),
        person_id=person.id if person else None,
        has_disability_certificate=request.disability_certificate_enc is not None,
        illness_declared=request.illness_declared,
        illness_confirmed=request.illness_confirmed_at is not None,
        card_id=request.card_id,
        created_at=to_local_iso(request.created_at),
        completed_at=to_local_iso(request.completed_at),
        cancelled_at=to_local_iso(request.cancelled_at),
        cancel_reason=request.cancel_reason,
        visits=[
            VisitOut(
                id=v.id,
                visited_at=to_local_iso(v.visited_at),
                staff_id=v.staff_id,
                staff_name=names.get(v.staff_id),
                outcome=v.outcome,
                note=v.note,
            )
            for v in visits
        ],
        allowed_actions=[str(a) for a in allowed_actions(Status(request.status))],
    )


# --- create ----------------------------------------------------------------------------------


class DoorstepIn(Schema):
    requested_by_kind: RequestedBy
    requester_name: str | None = Field(default=None, max_length=64)
    requester_phone: str | None = Field(default=None, max_length=20)
    subject_id_number: str = Field(min_length=1, max_length=32)
    subject_name: str = Field(min_length=1, max_length=64)
    contact_phone: str = PHONE
    city_code: str = Field(pattern=CITY_PATTERN)
    district: str = DISTRICT
    address: str = ADDRESS
    disability_certificate: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$"
    )
    illness_declared: bool = False


@bp.post("/doorstep-requests")
@require("doorstep.request")
@endpoint(
    summary="代录上门办卡申请（电话或社区工作者转来） Record a door-to-door request",
    body=DoorstepIn,
    response=DoorstepOut,
    status=201,
    errors=(
        "doorstep.not_eligible",
        "doorstep.already_requested",
        "doorstep.name_mismatch",
        "person.invalid_id_number",
        "person.invalid_phone",
        "person.deceased",
        "city.unknown",
        "auth.out_of_scope",
    ),
)
def create(body: DoorstepIn):
    new = service.NewRequest(**body.model_dump())
    request = service.create_request(
        db.session, current_actor(), new, channel=Channel.STAFF, now=utcnow()
    )
    return detail_out(request), 201


# --- read ------------------------------------------------------------------------------------


class DoorstepQuery(Schema):
    status: Literal["open", "requested", "assigned", "visited", "completed", "cancelled"] | None = (
        None
    )
    assigned_to: str | None = Field(
        default=None, pattern=r"^(me|\d{1,18})$", description="me 或工作人员编号 me or a staff id"
    )
    city: str | None = Field(default=None, pattern=CITY_PATTERN)
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=20, ge=1, le=100)


@bp.get("/doorstep-requests")
@require("doorstep.read")
@endpoint(
    summary="上门办卡申请列表（按预约上门时间排序） Door-to-door requests, next visit first",
    query=DoorstepQuery,
    response=DoorstepPageOut,
    errors=("auth.out_of_scope",),
)
def list_requests(query: DoorstepQuery):
    actor = current_actor()
    assigned_to = None
    if query.assigned_to is not None:
        assigned_to = actor.id if query.assigned_to == "me" else int(query.assigned_to)
    rows, more = service.list_requests(
        db.session,
        actor,
        status=query.status,
        assigned_to=assigned_to,
        city_code=query.city,
        page=query.page,
        per_page=query.per_page,
    )
    names = service.staff_names(db.session, {r.assigned_to_id for r in rows})
    return DoorstepPageOut(
        items=[item_out(r, names) for r in rows],
        page=query.page,
        per_page=query.per_page,
        next_page=query.page + 1 if more else None,
    )


@bp.get("/doorstep-requests/<int:request_id>")
@require("doorstep.read")
@endpoint(
    summary="上门办卡申请详情（脱敏） A door-to-door request (masked)",
    response=DoorstepOut,
    errors=("doorstep.not_found", "auth.out_of_scope"),
)
def get_request(request_id: int):
    return detail_out(service.get_request(db.session, current_actor(), request_id))


class RevealIn(Schema):
    fields: list[
        Literal[
            "id_number", "contact_phone", "address", "requester_phone", "disability_certificate"
        ]
    ] = Field(min_length=1)


class RevealOut(OutSchema):
    id_number: str | None = None
    contact_phone: str | None = None
    address: str | None = None
    requester_phone: str | None = None
    disability_certificate: str | None = None


@bp.post("/doorstep-requests/<int:request_id>/reveal")
@require("doorstep.reveal")
@endpoint(
    summary="查看完整证件号、电话、地址（留痕审计） Reveal numbers and address (audited)",
    body=RevealIn,
    response=RevealOut,
    errors=("doorstep.not_found", "auth.out_of_scope"),
)
def reveal(request_id: int, body: RevealIn):
    fields = sorted(set(body.fields))
    return RevealOut(**service.reveal(db.session, current_actor(), request_id, fields, utcnow()))


# --- lifecycle -------------------------------------------------------------------------------


class AssignIn(Schema):
    staff_id: int = Field(ge=1, description="上门的网点工作人员 Branch staff user who visits")
    planned_from: AwareDatetime
    planned_to: AwareDatetime
    illness_confirmed: bool = False
    reassign: bool = Field(default=False, description="改派已派出的申请 Change an assignment")


@bp.post("/doorstep-requests/<int:request_id>/assign")
@require("doorstep.assign")
@endpoint(
    summary="派单并预约上门时间 Assign the visit with a planned window",
    body=AssignIn,
    response=DoorstepOut,
    errors=(
        "doorstep.not_found",
        "doorstep.already_assigned",
        "doorstep.invalid_transition",
        "doorstep.invalid_window",
        "doorstep.invalid_assignee",
        "doorstep.illness_unconfirmed",
        "auth.out_of_scope",
    ),
)
def assign(request_id: int, body: AssignIn):
    request = service.assign_request(
        db.session, current_actor(), request_id, now=utcnow(), **body.model_dump()
    )
    return detail_out(request)


class VisitIn(Schema):
    outcome: Outcome
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)
    next_from: AwareDatetime | None = None
    next_to: AwareDatetime | None = None
    visited_at: AwareDatetime | None = Field(
        default=None,
        description="上门时间（补登时填写），默认现在；不能晚于现在，不能早于申请"
        " When the visit took place (default now); not in the future, not before the request",
    )


@bp.post("/doorstep-requests/<int:request_id>/visits")
@require("doorstep.visit")
@endpoint(
    summary="登记上门结果 Record a visit and its outcome",
    body=VisitIn,
    response=DoorstepOut,
    status=201,
    errors=(
        "doorstep.not_found",
        "doorstep.invalid_transition",
        "doorstep.not_assignee",
        "doorstep.invalid_window",
        "doorstep.invalid_visit_time",
        "doorstep.note_rejected",
        "auth.out_of_scope",
    ),
)
def record_visit(request_id: int, body: VisitIn):
    request, _visit = service.record_visit(
        db.session, current_actor(), request_id, now=utcnow(), **body.model_dump()
    )
    return detail_out(request), 201


class CompleteIn(Schema):
    card_id: int = Field(ge=1, description="上门办理并已激活的社保卡 The card issued and activated")


@bp.post("/doorstep-requests/<int:request_id>/complete")
@require("doorstep.visit")
@endpoint(
    summary="办结（关联现场发放并激活的社保卡） Complete with the card issued on the spot",
    body=CompleteIn,
    response=DoorstepOut,
    errors=(
        "doorstep.not_found",
        "doorstep.invalid_transition",
        "doorstep.not_assignee",
        "doorstep.card_of_another_person",
        "doorstep.card_predates_request",
        "card.not_found",
        "card.not_active",
        "auth.out_of_scope",
    ),
)
def complete(request_id: int, body: CompleteIn):
    request = service.complete_request(
        db.session, current_actor(), request_id, body.card_id, utcnow()
    )
    return detail_out(request)


class CancelIn(Schema):
    reason: str = REASON


@bp.post("/doorstep-requests/<int:request_id>/cancel")
@require("doorstep.request")
@endpoint(
    summary="取消上门办卡申请 Cancel a door-to-door request",
    body=CancelIn,
    response=DoorstepOut,
    errors=(
        "doorstep.not_found",
        "doorstep.invalid_transition",
        "doorstep.note_rejected",
        "auth.out_of_scope",
    ),
)
def cancel(request_id: int, body: CancelIn):
    request = service.cancel_request(db.session, current_actor(), request_id, body.reason, utcnow())
    return detail_out(request)

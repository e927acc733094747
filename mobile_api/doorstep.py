"""Door-to-door card issuance (上门办卡) from the phone: ask for a visit for myself or for a family
member aged 80+, disabled or ill; see my requests; cancel one before the visit."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, current_app, g, request
from pydantic import Field

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import to_local_iso, utcnow
from server.doorstep import service
from server.doorstep.models import DoorstepRequest
from server.doorstep.rules import NOTE_MAX_CHARS, decode_reasons, mask_address, status_name
from server.extensions import db, limiter
from server.security.auth import current_actor, require
from server.security.pii import mask_name
from server.security.rules import ActorKind

bp = Blueprint("doorstep", __name__)
CARDHOLDER = (ActorKind.CARDHOLDER,)


def _request_limit() -> str:
    return current_app.config["SSC_RATELIMIT_DOORSTEP_REQUEST"]


def _cardholder_key() -> str:
    # Checked after @require: the signed-in cardholder, so a family member's ID number and name
    # cannot be tried again and again (doorstep.name_mismatch would confirm a match).
    actor = getattr(g, "actor", None)
    return f"cardholder:{actor.id}" if actor is not None else f"addr:{request.remote_addr}"


class MyDoorstepOut(OutSchema):
    id: int
    requested_by_kind: str
    name_masked: str
    reasons: list[str]
    city_code: str
    district: str
    address_masked: str
    status: str
    status_name: str
    planned_from: str | None
    planned_to: str | None
    created_at: str
    cancel_reason: str | None


class MyDoorstepListOut(OutSchema):
    items: list[MyDoorstepOut]


def my_out(request: DoorstepRequest) -> MyDoorstepOut:
    return MyDoorstepOut(
        id=request.id,
        requested_by_kind=request.requested_by_kind,
        name_masked=mask_name(request.subject_name),
        reasons=[str(r) for r in decode_reasons(request.reasons)],
        city_code=request.city_code,
        district=request.district,
        address_masked=mask_address(service.decrypt(request, "address") or ""),
        status=request.status,
        status_name=status_name(request.status),
        planned_from=to_local_iso(request.planned_from),
        planned_to=to_local_iso(request.planned_to),
        created_at=to_local_iso(request.created_at),
        cancel_reason=request.cancel_reason,
    )


class MyDoorstepIn(Schema):
    for_whom: Literal["self", "family"] = Field(description="本人 self 或家属 family")
    subject_id_number: str | None = Field(
        default=None, max_length=32, description="家属的证件号码（为家属申请时） Family member's ID"
    )
    subject_name: str | None = Field(default=None, max_length=64)
    contact_phone: str | None = Field(
        default=None, max_length=20, description="上门联系电话；为本人申请时默认用登记的手机号"
    )
    city_code: str | None = Field(default=None, pattern=r"^44\d{4}$")
    district: str = Field(min_length=1, max_length=32, pattern=r"^[^\d０-９]+$")
    address: str = Field(min_length=1, max_length=120)
    disability_certificate: str | None = Field(
        default=None, min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$"
    )
    illness_declared: bool = False


@bp.post("/doorstep-requests")
@require("cardholder.self", actors=CARDHOLDER)
@limiter.limit(_request_limit, key_func=_cardholder_key)
@endpoint(
    summary="申请上门办卡（本人或家属） Ask for door-to-door card issuance",
    description="每位持卡人每天最多申请若干次（SSC_RATELIMIT_DOORSTEP_REQUEST，默认 5 次/天），"
    "被拒的申请也计入。 Each cardholder may ask a few times a day (default 5), refusals"
    " included: 429 request.rate_limited.",
    body=MyDoorstepIn,
    response=MyDoorstepOut,
    status=201,
    errors=(
        "doorstep.not_eligible",
        "doorstep.already_requested",
        "doorstep.name_mismatch",
        "person.invalid_id_number",
        "person.invalid_phone",
        "person.deceased",
        "city.unknown",
        "request.rate_limited",
    ),
)
def create(body: MyDoorstepIn):
    fields = body.model_dump()
    for_self = fields.pop("for_whom") == "self"
    request = service.request_by_cardholder(
        db.session, current_actor(), for_self=for_self, now=utcnow(), **fields
    )
    return my_out(request), 201


@bp.get("/doorstep-requests")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(summary="我的上门办卡申请 My door-to-door requests", response=MyDoorstepListOut)
def my_requests():
    rows = service.list_my_requests(db.session, current_actor())
    return MyDoorstepListOut(items=[my_out(r) for r in rows])


class MyCancelIn(Schema):
    reason: str = Field(min_length=1, max_length=NOTE_MAX_CHARS)


@bp.post("/doorstep-requests/<int:request_id>/cancel")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="取消我的上门办卡申请（上门前） Cancel my request (before the visit)",
    body=MyCancelIn,
    response=MyDoorstepOut,
    errors=("doorstep.not_found", "doorstep.invalid_transition", "doorstep.note_rejected"),
)
def cancel(request_id: int, body: MyCancelIn):
    request = service.cancel_request(db.session, current_actor(), request_id, body.reason, utcnow())
    return my_out(request)

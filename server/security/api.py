"""Staff sign-in, staff accounts, the audit log, and department clients."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, current_app, g, request
from pydantic import Field

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import utcnow
from server.extensions import db, limiter
from server.security import audit, service
from server.security.auth import current_actor, require
from server.security.rules import ActorKind, Role

bp = Blueprint("staff_auth", __name__)
dept_bp = Blueprint("department", __name__)


def _signin_limit() -> str:
    return current_app.config["SSC_RATELIMIT_SIGNIN"]


def _username_key() -> str:
    data = request.get_json(silent=True)
    username = data.get("username") if isinstance(data, dict) else None
    return f"username:{str(username)[:64]}"


RoleName = Literal["branch_staff", "city_admin", "department_officer", "auditor", "system_admin"]


class SignInIn(Schema):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, pattern=r"^\d{6}$")


class StaffOut(OutSchema):
    id: int
    username: str
    display_name: str
    role: RoleName
    city_code: str | None
    department: str | None
    active: bool
    totp_enrolled: bool


def _staff_out(user) -> StaffOut:
    return StaffOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        city_code=user.city_code,
        department=user.department,
        active=user.active,
        totp_enrolled=user.totp_enrolled_at is not None,
    )


class SignInOut(Schema):
    token: str
    expires_in: int
    user: StaffOut


class EnrolIn(Schema):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class EnrolOut(Schema):
    secret: str
    provisioning_uri: str
    qr_png_base64: str


@bp.post("/auth/sign-in")
@limiter.limit(_signin_limit)
@limiter.limit(_signin_limit, key_func=_username_key)
@endpoint(
    summary="工作人员登录（密码 + 动态验证码） Staff sign-in (password + TOTP)",
    body=SignInIn,
    response=SignInOut,
    errors=(
        "auth.invalid_credentials",
        "auth.totp_required",
        "auth.totp_incorrect",
        "auth.totp_not_enrolled",
        "auth.account_locked",
        "auth.account_disabled",
        "request.rate_limited",
    ),
)
def sign_in(body: SignInIn):
    token, user = service.sign_in_staff(
        db.session,
        username=body.username,
        password=body.password,
        totp_code=body.totp,
        now=utcnow(),
    )
    ttl = current_app.config["SSC_STAFF_TOKEN_TTL_MINUTES"] * 60
    return SignInOut(token=token, expires_in=ttl, user=_staff_out(user))


@bp.post("/auth/totp/enrol")
@limiter.limit(_signin_limit)
@limiter.limit(_signin_limit, key_func=_username_key)
@endpoint(
    summary="首次登录绑定动态验证码 Enrol a TOTP authenticator (first sign-in)",
    body=EnrolIn,
    response=EnrolOut,
    errors=("auth.invalid_credentials", "auth.totp_already_enrolled", "auth.account_locked"),
)
def enrol_totp(body: EnrolIn):
    result = service.begin_totp_enrolment(
        db.session, username=body.username, password=body.password, now=utcnow()
    )
    return EnrolOut(**result.__dict__)


@bp.post("/auth/sign-out")
@require("self.read")
@endpoint(summary="退出登录 Sign out", status=204)
def sign_out():
    service.sign_out(db.session, current_actor(), g.token, utcnow())


@bp.get("/me")
@require("self.read")
@endpoint(summary="当前工作人员 Current staff user", response=StaffOut)
def me():
    from server.security.models import StaffUser

    return _staff_out(db.session.get(StaffUser, current_actor().id))


class StaffCreateIn(Schema):
    username: str = Field(pattern=r"^[a-z][a-z0-9_.-]{2,63}$")
    display_name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: RoleName
    city_code: str | None = Field(default=None, pattern=r"^44\d{4}$")
    department: str | None = None


class StaffListOut(Schema):
    items: list[StaffOut]


@bp.post("/users")
@require("staff.manage")
@endpoint(
    summary="新建工作人员账号 Create a staff user",
    body=StaffCreateIn,
    response=StaffOut,
    status=201,
    errors=("auth.username_taken", "auth.weak_password", "auth.out_of_scope"),
)
def create_user(body: StaffCreateIn):
    user = service.create_staff_user(
        db.session,
        current_actor(),
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        role=Role(body.role),
        city_code=body.city_code,
        department=body.department,
        now=utcnow(),
    )
    return _staff_out(user), 201


@bp.get("/users")
@require("staff.read")
@endpoint(summary="工作人员列表 List staff users", response=StaffListOut)
def list_users():
    return StaffListOut(
        items=[_staff_out(u) for u in service.list_staff(db.session, current_actor())]
    )


@bp.post("/users/<int:user_id>/totp/reset")
@require("staff.manage")
@endpoint(
    summary="重置工作人员动态验证码 Reset a staff user's TOTP",
    response=StaffOut,
    errors=("request.not_found", "auth.out_of_scope"),
)
def reset_totp(user_id: int):
    return _staff_out(service.reset_staff_totp(db.session, current_actor(), user_id, utcnow()))


class AuditQuery(Schema):
    after_seq: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)
    action: str | None = Field(default=None, max_length=64)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)


class AuditEventOut(OutSchema):
    seq: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    city_code: str | None
    request_id: str | None
    detail: str
    hash: str


class AuditListOut(Schema):
    items: list[AuditEventOut]


class AuditVerifyOut(Schema):
    ok: bool
    events: int
    problems: list[dict]


@bp.get("/audit/events")
@require("audit.read")
@endpoint(summary="审计日志 Audit events", query=AuditQuery, response=AuditListOut)
def audit_events(query: AuditQuery):
    rows = audit.list_events(db.session, current_actor(), **query.model_dump())
    return AuditListOut(items=[AuditEventOut.model_validate(r) for r in rows])


@bp.post("/audit/verify")
@require("audit.verify")
@endpoint(summary="校验审计日志哈希链 Verify the audit hash chain", response=AuditVerifyOut)
def audit_verify():
    report = audit.verify_chain(db.session)
    return AuditVerifyOut(ok=report.ok, events=report.events, problems=report.problems)


class DepartmentClientIn(Schema):
    name: str = Field(min_length=1, max_length=128)
    department: str
    city_code: str | None = Field(default=None, pattern=r"^44\d{4}$")


class DepartmentClientOut(Schema):
    id: int
    name: str
    department: str
    city_code: str | None
    api_key: str | None = None


@bp.post("/department-clients")
@require("department_client.manage")
@endpoint(
    summary="登记部门系统并发放接口密钥 Register a department system and issue its API key",
    body=DepartmentClientIn,
    response=DepartmentClientOut,
    status=201,
)
def create_department_client(body: DepartmentClientIn):
    client, key = service.create_department_client(
        db.session,
        current_actor(),
        name=body.name,
        department=body.department,
        city_code=body.city_code,
        now=utcnow(),
    )
    out = DepartmentClientOut(
        id=client.id,
        name=client.name,
        department=client.department,
        city_code=client.city_code,
        api_key=key,
    )
    return out, 201


@dept_bp.get("/whoami")
@require("department.self", actors=(ActorKind.DEPARTMENT,))
@endpoint(summary="当前部门系统 Current department client", response=DepartmentClientOut)
def department_whoami():
    from server.security.models import DepartmentClient

    client = db.session.get(DepartmentClient, current_actor().id)
    return DepartmentClientOut(
        id=client.id, name=client.name, department=client.department, city_code=client.city_code
    )

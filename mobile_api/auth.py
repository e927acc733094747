"""Cardholder sign-in by mobile number + SMS code, and sign-out.

``POST /auth/sms-code`` answers the same for every valid number (bound or not), so it cannot be
used to learn who has an account. Its ``sms.too_soon`` (429) carries ``retry_after`` (seconds) in
the body; the ``Retry-After`` header is Flask-Limiter's and reflects its own windows.

``POST /auth/sign-in`` refuses with:

- ``sms.code_incorrect`` (401, with ``tries_left``) for a wrong code;
- ``sms.code_expired`` (401) when no code was sent, it expired, or it was already used;
- ``sms.code_locked`` (423, like ``auth.account_locked`` and ``card.pin_locked``) once five
  tries have failed; a new code must be requested;
- ``auth.real_name_required`` (422) when the phone is not bound yet and the ID number or name is
  missing; ``auth.real_name_mismatch`` (403, with ``tries_left``) for an unknown ID number or a
  wrong name alike (it counts as a failed try); ``auth.no_usable_card`` (403).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request
from pydantic import Field

from server.apidoc import Schema, endpoint
from server.clock import utcnow
from server.extensions import db, limiter
from server.registry.service import decrypt_id_number
from server.security import cardholder
from server.security import service as security_service
from server.security.auth import current_actor, require
from server.security.pii import mask_id_number, mask_name
from server.security.rules import ActorKind

bp = Blueprint("auth", __name__)


def _sms_phone_limit() -> str:
    return current_app.config["SSC_RATELIMIT_SMS_PHONE"]


def _sms_address_limit() -> str:
    return current_app.config["SSC_RATELIMIT_SMS_ADDRESS"]


def _signin_limit() -> str:
    return current_app.config["SSC_RATELIMIT_SIGNIN"]


def _phone_key() -> str:
    data = request.get_json(silent=True)
    raw = data.get("phone") if isinstance(data, dict) else None
    return "phone:" + cardholder.phone_rate_key(str(raw or ""))


def _sent(response) -> bool:
    return response.status_code == 202


class SmsCodeIn(Schema):
    phone: str = Field(min_length=1, max_length=32, description="手机号码 Mainland mobile number")


class SmsCodeOut(Schema):
    sent: bool
    expires_in: int = Field(description="验证码有效秒数 Seconds the code stays valid")
    resend_after: int = Field(description="可重新获取的秒数 Seconds before another code")


class SignInIn(Schema):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(pattern=r"^\d{6}$", description="短信验证码 SMS code")
    id_number: str | None = Field(
        default=None, max_length=32, description="首次绑定时必填 Required to bind a new phone"
    )
    name: str | None = Field(
        default=None, max_length=64, description="首次绑定时必填 Required to bind a new phone"
    )


class CardholderOut(Schema):
    name_masked: str
    id_number_masked: str


class SignInOut(Schema):
    token: str
    expires_in: int
    bound: bool
    person: CardholderOut


@bp.post("/auth/sms-code")
@limiter.limit(_sms_address_limit)
@limiter.limit(_sms_phone_limit, key_func=_phone_key, deduct_when=_sent)
@endpoint(
    summary="获取登录短信验证码 Send a sign-in code by SMS",
    description="无论手机号是否已绑定，回答都相同。 The answer is the same whether or not the"
    " number is bound. 同一号码 60 秒内只发一次。 One code per number per 60 s.",
    body=SmsCodeIn,
    response=SmsCodeOut,
    status=202,
    errors=("person.invalid_phone", "sms.too_soon", "request.rate_limited"),
)
def request_sms_code(body: SmsCodeIn):
    sent = cardholder.request_sms_code(db.session, phone=body.phone, now=utcnow())
    return SmsCodeOut(sent=True, expires_in=sent.expires_in, resend_after=sent.resend_after)


@bp.post("/auth/sign-in")
@limiter.limit(_signin_limit)
@limiter.limit(_signin_limit, key_func=_phone_key)
@endpoint(
    summary="手机号 + 短信验证码登录（首次登录需实名绑定） Sign in with phone + SMS code"
    " (first sign-in binds the phone after a real-name check)",
    description="验证码错误 5 次后失效（423 sms.code_locked）。"
    " Five failed tries kill the code (423 sms.code_locked).",
    body=SignInIn,
    response=SignInOut,
    errors=(
        "person.invalid_phone",
        "person.invalid_id_number",
        "sms.code_incorrect",
        "sms.code_expired",
        "sms.code_locked",
        "auth.real_name_required",
        "auth.real_name_mismatch",
        "auth.no_usable_card",
        "request.rate_limited",
    ),
)
def sign_in(body: SignInIn):
    result = cardholder.sign_in_with_sms_code(
        db.session,
        phone=body.phone,
        code=body.code,
        id_number=body.id_number or None,
        name=body.name or None,
        now=utcnow(),
    )
    person = result.person
    return SignInOut(
        token=result.token,
        expires_in=result.expires_in,
        bound=True,
        person=CardholderOut(
            name_masked=mask_name(person.name),
            id_number_masked=mask_id_number(decrypt_id_number(person)),
        ),
    )


@bp.post("/auth/sign-out")
@require("cardholder.self", actors=(ActorKind.CARDHOLDER,))
@endpoint(summary="退出登录 Sign out", status=204)
def sign_out():
    security_service.sign_out(db.session, current_actor(), g.token, utcnow())

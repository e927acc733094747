"""Electronic social security card on the phone: sign it in an app, renew certificates, revoke a
channel, and server-signed codes for thin clients."""

from __future__ import annotations

import base64
import binascii
import io
from datetime import datetime
from typing import Literal

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response
from pydantic import Field

from server.apidoc import Schema, endpoint
from server.clock import utcnow
from server.credentials import rules, service
from server.credentials.api import ChannelOut, ChannelsOut, channel_out
from server.credentials.codec import Scene
from server.errors import DomainError
from server.extensions import db
from server.security.auth import current_actor, require
from server.security.rules import ActorKind

bp = Blueprint("ecard", __name__)

SceneName = Literal["transit", "library", "venue", "voucher", "kiosk", "pos", "generic"]
CARDHOLDER = (ActorKind.CARDHOLDER,)


class SignIn(Schema):
    public_key: str = Field(
        min_length=40, max_length=64, description="设备 Ed25519 公钥（32 字节，Base64） Device key"
    )
    app_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,31}$", description="签发渠道 App id")
    device_label: str = Field(min_length=1, max_length=64)


class CertificateOut(Schema):
    serial: str
    kid: int
    certificate: str  # base64 of the certificate bytes the phone embeds in presentations
    not_before: datetime
    not_after: datetime
    categories: list[str]
    home_city: str
    per_use_cap_fen: int
    server_time: datetime


class SignedOut(Schema):
    channel: ChannelOut
    fallback_secret: str
    certificate: CertificateOut


def certificate_out(issued: service.IssuedCertificate) -> CertificateOut:
    row = issued.row
    return CertificateOut(
        serial=str(row.serial),
        kid=row.kid,
        certificate=base64.b64encode(issued.encoded).decode(),
        not_before=row.not_before,
        not_after=row.not_after,
        categories=rules.category_names(row.categories),
        home_city=row.home_city,
        per_use_cap_fen=row.per_use_cap_fen,
        server_time=utcnow(),  # lets a phone with a wrong clock correct its offset
    )


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DomainError("ecard.invalid_public_key") from None
    if len(raw) != 32:
        raise DomainError("ecard.invalid_public_key")
    return raw


@bp.post("/ecard")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="签发电子社保卡（登记设备公钥，领取首张证书） Sign the e-card in this app",
    body=SignIn,
    response=SignedOut,
    status=201,
    errors=(
        "ecard.no_card",
        "card.not_active",
        "ecard.too_many_channels",
        "ecard.invalid_public_key",
    ),
)
def sign(body: SignIn):
    signed = service.sign_ecard(
        db.session,
        current_actor(),
        current_actor().id,
        public_key=_decode_key(body.public_key),
        app_id=body.app_id,
        device_label=body.device_label,
        now=utcnow(),
    )
    out = SignedOut(
        channel=channel_out(signed.channel),
        fallback_secret=signed.fallback_secret,
        certificate=certificate_out(signed.certificate),
    )
    return out, 201


@bp.get("/ecard/channels")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="我的签发渠道 My e-card channels", response=ChannelsOut, errors=("ecard.no_card",)
)
def channels():
    card = service.holder_card(db.session, current_actor().id)
    return ChannelsOut(items=[channel_out(c) for c in service.list_channels(db.session, card.id)])


@bp.post("/ecard/channels/<int:channel_id>/revoke")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="注销一个签发渠道（其证书立即失效） Revoke a channel",
    response=ChannelOut,
    errors=("ecard.channel_not_found", "ecard.channel_revoked"),
)
def revoke(channel_id: int):
    channel = service.revoke_channel(
        db.session, current_actor(), channel_id, "holder", utcnow(), person_id=current_actor().id
    )
    return channel_out(channel)


@bp.post("/ecard/channels/<int:channel_id>/certificate")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="更新证书（联网时） Renew the certificate",
    response=CertificateOut,
    errors=("ecard.channel_not_found", "ecard.channel_revoked", "card.not_active"),
)
def renew(channel_id: int):
    issued = service.renew_certificate(
        db.session, current_actor(), current_actor().id, channel_id, utcnow()
    )
    return certificate_out(issued)


class ServerCodeIn(Schema):
    scene: SceneName


class ServerCodeOut(Schema):
    code: str
    expires_at: datetime
    refresh_after: int
    server_time: datetime


class ServerCodeQuery(Schema):
    scene: SceneName


def _server_code(scene: str) -> service.ServerCodeOut:
    return service.issue_server_code(db.session, current_actor().id, Scene[scene.upper()], utcnow())


@bp.post("/codes/server")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="服务端签名的短时二维码（网页、自助机等） A server-signed short-lived code",
    body=ServerCodeIn,
    response=ServerCodeOut,
    errors=("ecard.no_card", "card.not_active"),
)
def server_code(body: ServerCodeIn):
    issued = _server_code(body.scene)
    return ServerCodeOut(
        code=issued.text,
        expires_at=issued.expires_at,
        refresh_after=issued.refresh_after,
        server_time=utcnow(),
    )


def qr_image(text: str, fmt: str) -> Response:
    """Render in one alphanumeric segment (optimize=0), the mode the format is sized for."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(text, optimize=0)
    qr.make(fit=True)
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
        return Response(buffer.getvalue(), mimetype="image/svg+xml")
    qr.make_image().save(buffer, format="PNG")
    return Response(buffer.getvalue(), mimetype="image/png")


@bp.get("/codes/server.<any(png, svg):fmt>")
@require("cardholder.self", actors=CARDHOLDER)
@endpoint(
    summary="服务端签名二维码图片（PNG 或 SVG） The server-signed code as an image",
    query=ServerCodeQuery,
    errors=("ecard.no_card", "card.not_active"),
)
def server_code_image(fmt: str, query: ServerCodeQuery):
    issued = _server_code(query.scene)
    response = qr_image(issued.text, fmt)
    response.headers["Refresh-After"] = str(issued.refresh_after)
    response.headers["Expires"] = issued.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response

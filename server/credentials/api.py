"""Staff side of the e-card: a card's channels, revoking one, and checking a fallback code."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint
from pydantic import Field

from server.apidoc import Schema, endpoint
from server.clock import utcnow
from server.credentials import service
from server.credentials.codec import Scene
from server.extensions import db
from server.registry import service as registry
from server.security.auth import current_actor, require

bp = Blueprint("credentials", __name__)


class ChannelOut(Schema):
    id: int
    app_id: str
    device_label: str
    status: str
    created_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class ChannelsOut(Schema):
    items: list[ChannelOut]


def channel_out(c) -> ChannelOut:
    return ChannelOut(
        id=c.id,
        app_id=c.app_id,
        device_label=c.device_label,
        status=c.status,
        created_at=c.created_at,
        revoked_at=c.revoked_at,
        revoke_reason=c.revoke_reason,
    )


@bp.get("/cards/<int:card_id>/ecard-channels")
@require("card.read")
@endpoint(
    summary="该卡的电子社保卡签发渠道 A card's e-card channels",
    response=ChannelsOut,
    errors=("card.not_found", "auth.out_of_scope"),
)
def card_channels(card_id: int):
    card = registry.get_card(db.session, current_actor(), card_id)
    return ChannelsOut(items=[channel_out(c) for c in service.list_channels(db.session, card.id)])


class RevokeIn(Schema):
    reason: str = Field(min_length=1, max_length=64)


@bp.post("/cards/<int:card_id>/ecard-channels/<int:channel_id>/revoke")
@require("ecard.revoke")
@endpoint(
    summary="注销签发渠道（如手机丢失） Revoke an e-card channel (e.g. phone lost)",
    body=RevokeIn,
    response=ChannelOut,
    errors=("card.not_found", "ecard.channel_not_found", "ecard.channel_revoked"),
)
def revoke_channel(card_id: int, channel_id: int, body: RevokeIn):
    card = registry.get_card(db.session, current_actor(), card_id)
    channel = service.revoke_channel(
        db.session, current_actor(), channel_id, body.reason, utcnow(), card_id=card.id
    )
    return channel_out(channel)


class FallbackIn(Schema):
    card_serial: str = Field(pattern=r"^[A-Z]\d{8}$", description="卡号 Card number")
    code: str = Field(pattern=r"^\d{8}$", description="二维码下方的 8 位数字 The 8-digit code")
    scene: Literal["transit", "library", "venue", "voucher", "kiosk", "pos", "generic"]


class VerifiedOut(Schema):
    accepted: bool
    kind: str
    serial: str
    counter: int
    categories: list[str]
    home_city: str
    per_use_cap_fen: int
    scene: str
    generated_at: str


@bp.post("/credentials/verify-fallback")
@require("credential.verify_fallback")
@endpoint(
    summary="人工核验 8 位数字码（扫码失败时） Check the 8-digit fallback code",
    body=FallbackIn,
    response=VerifiedOut,
    errors=("credential.fallback_incorrect", "credential.replayed"),
)
def verify_fallback(body: FallbackIn):
    actor = current_actor()
    result = service.verify_fallback(
        db.session,
        card_serial=body.card_serial,
        code=body.code,
        scene=Scene[body.scene.upper()],
        terminal_id=None,
        actor_label=actor.label,
        now=utcnow(),
    )
    return VerifiedOut(**result)

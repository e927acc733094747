"""Terminal registry for staff (``bp``, under ``/staff/v1``) and the terminal API (``terminal_bp``,
under ``/terminal/v1``, signed requests). Parse, check, call one service, serialise."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, request
from pydantic import Field

from server.apidoc import OutSchema, Schema, endpoint
from server.clock import utcnow
from server.credentials.verifier import REFUSAL_CODES
from server.error_codes import CATALOGUE
from server.extensions import db
from server.security.auth import current_actor, require
from server.terminals import service
from server.terminals.auth import TERMINAL_ERRORS, current_terminal, require_terminal
from server.terminals.models import Terminal
from server.terminals.rules import (
    CODE_MAX_LEN,
    CODE_PATTERN,
    KIND_NAMES,
    TerminalAction,
    TerminalKind,
    allowed_scenes,
)

bp = Blueprint("terminals", __name__)
terminal_bp = Blueprint("terminal", __name__)

KindName = Literal[
    "metro_gate",
    "bus_validator",
    "library_gate",
    "library_selfcheck",
    "venue_gate",
    "pos",
    "kiosk",
    "taxi_meter",
    "bike_dock",
]
SceneName = Literal["transit", "library", "venue", "voucher", "kiosk", "pos", "generic"]
CITY_PATTERN = r"^44\d{4}$"


# --- staff: the registry -------------------------------------------------------------------------


class TerminalOut(Schema):
    id: int
    code: str
    kind: str
    kind_name: str
    scenes: list[str]
    owner: str
    city_code: str
    location: str | None
    status: str
    created_at: datetime
    secret_rotated_at: datetime | None
    last_seen_at: datetime | None


class TerminalSecretOut(TerminalOut):
    secret: str = Field(description="HMAC 密钥，只显示这一次 HMAC secret, shown only this once")


class TerminalsOut(Schema):
    items: list[TerminalOut]


def _fields(terminal: Terminal) -> dict:
    kind = TerminalKind(terminal.kind)
    return {
        "id": terminal.id,
        "code": terminal.code,
        "kind": str(kind),
        "kind_name": " ".join(KIND_NAMES[kind]),
        "scenes": sorted(s.name.lower() for s in allowed_scenes(kind)),
        "owner": terminal.owner,
        "city_code": terminal.city_code,
        "location": terminal.location,
        "status": terminal.status,
        "created_at": terminal.created_at,
        "secret_rotated_at": terminal.secret_rotated_at,
        "last_seen_at": terminal.last_seen_at,
    }


def terminal_out(terminal: Terminal) -> TerminalOut:
    return TerminalOut(**_fields(terminal))


class TerminalIn(Schema):
    code: str = Field(
        min_length=3,
        max_length=CODE_MAX_LEN,
        pattern=CODE_PATTERN,
        description="终端编号 Terminal code, e.g. GZM-L3-0001",
    )
    kind: KindName
    city_code: str = Field(pattern=CITY_PATTERN, description="地级市代码 City code, e.g. 440100")
    owner: str = Field(min_length=1, max_length=128, description="运营单位 Operator")
    location: str | None = Field(default=None, max_length=128, description="安装位置 Location")


@bp.post("/terminals")
@require("terminal.manage")
@endpoint(
    summary="登记终端（密钥只显示一次） Register a terminal (secret shown once)",
    body=TerminalIn,
    response=TerminalSecretOut,
    status=201,
    errors=("city.unknown", "terminal.code_taken", "auth.out_of_scope"),
)
def register(body: TerminalIn):
    terminal, secret = service.register_terminal(
        db.session, current_actor(), now=utcnow(), **body.model_dump()
    )
    return TerminalSecretOut(**_fields(terminal), secret=secret), 201


class TerminalQuery(Schema):
    city_code: str | None = Field(default=None, pattern=CITY_PATTERN)
    status: Literal["active", "disabled", "retired"] | None = None
    kind: KindName | None = None
    after_id: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=500)


@bp.get("/terminals")
@require("terminal.read")
@endpoint(summary="终端列表 Terminals in your scope", query=TerminalQuery, response=TerminalsOut)
def list_terminals(query: TerminalQuery):
    rows = service.list_terminals(db.session, current_actor(), **query.model_dump())
    return TerminalsOut(items=[terminal_out(t) for t in rows])


def _status_route(path: str, action: TerminalAction, summary: str) -> None:
    @require("terminal.manage")
    @endpoint(
        summary=summary,
        response=TerminalOut,
        errors=("terminal.not_found", "terminal.invalid_transition", "auth.out_of_scope"),
    )
    def view(terminal_id: int):
        terminal = service.change_status(db.session, current_actor(), terminal_id, action, utcnow())
        return terminal_out(terminal)

    view.__name__ = f"{action}_terminal"
    bp.add_url_rule(path, endpoint=view.__name__, view_func=view, methods=["POST"])


_status_route(
    "/terminals/<int:terminal_id>/disable", TerminalAction.DISABLE, "停用终端 Disable a terminal"
)
_status_route(
    "/terminals/<int:terminal_id>/enable", TerminalAction.ENABLE, "启用终端 Enable a terminal"
)
_status_route(
    "/terminals/<int:terminal_id>/retire",
    TerminalAction.RETIRE,
    "报废终端（不可恢复） Retire a terminal (final)",
)


@bp.post("/terminals/<int:terminal_id>/rotate-secret")
@require("terminal.manage")
@endpoint(
    summary="更换终端密钥（新密钥只显示一次） Rotate the secret (shown once)",
    response=TerminalSecretOut,
    errors=("terminal.not_found", "terminal.invalid_transition", "auth.out_of_scope"),
)
def rotate_secret(terminal_id: int):
    terminal, secret = service.rotate_secret(db.session, current_actor(), terminal_id, utcnow())
    return TerminalSecretOut(**_fields(terminal), secret=secret)


# --- terminals: downloads and online verification ------------------------------------------------

SIGNING = (
    "签名请求：X-Terminal-Id, X-Timestamp, X-Nonce, X-Signature = hex HMAC-SHA256(secret, "
    "METHOD\\npath[?query]\\ntimestamp\\nnonce\\nsha256_hex(body)). "
    "Signed request (see server/terminals/rules.py)."
)


def _conditional(download: service.Download) -> Response:
    """200 with the document and a strong ETag, or 304 without a body when it matches."""
    if request.if_none_match.contains_weak(download.etag):
        response = Response(status=304)
    else:
        response = Response(download.body, mimetype="application/json")
    response.set_etag(download.etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


class TrustKeyOut(OutSchema):
    kid: int
    public_key: str
    not_before: int
    not_after: int


class TrustListOut(OutSchema):
    version: int
    generated_at: str
    keys: list[TrustKeyOut]


@terminal_bp.get("/trust-list")
@require_terminal()
@endpoint(
    summary="签发密钥信任列表（支持 ETag） Issuer trust list (ETag / If-None-Match)",
    description=SIGNING,
    response=TrustListOut,
    errors=TERMINAL_ERRORS,
)
def trust_list():
    return _conditional(service.trust_list_download(db.session, utcnow()))


class RevocationQuery(Schema):
    since: int | None = Field(default=None, ge=0, description="终端已有的版本 Version you hold")


class SerialEntry(OutSchema):
    serial: str
    reason: str


class PseudonymEntry(OutSchema):
    pseudonym: str
    reason: str


class CardEntry(OutSchema):
    card: str = Field(description="实体卡拒绝标签（SAM 由卡号计算，不含卡号） Card deny tag (SAM)")
    pseudonym: str = Field(description="对应的假名，原因同其条目 The pseudonym it belongs to")


class RevocationAdd(OutSchema):
    serials: list[SerialEntry]
    pseudonyms: list[PseudonymEntry]
    cards: list[CardEntry] = Field(default_factory=list)


class RevocationRemove(OutSchema):
    serials: list[str]
    pseudonyms: list[str]


class RevocationListOut(OutSchema):
    version: int
    since: int | None
    full: bool
    add: RevocationAdd
    remove: RevocationRemove


@terminal_bp.get("/revocation-list")
@require_terminal()
@endpoint(
    summary="吊销列表（增量或全量，支持 ETag） Revocation list, delta or full (ETag)",
    description=SIGNING,
    query=RevocationQuery,
    response=RevocationListOut,
    errors=TERMINAL_ERRORS,
)
def revocation_list(query: RevocationQuery):
    return _conditional(service.revocation_list_download(db.session, query.since, utcnow()))


# Refusals of verify_online, as far as the catalogue has them.
CREDENTIAL_ERRORS = tuple(
    f"credential.{code}" for code in REFUSAL_CODES if f"credential.{code}" in CATALOGUE
)


class VerifyIn(Schema):
    code: str = Field(min_length=1, max_length=512, description="二维码文本 QR text")
    scene: SceneName


class VerifyOut(OutSchema):
    accepted: bool
    kind: Literal["device", "server"]
    serial: str
    counter: int
    categories: list[str]
    home_city: str | None
    per_use_cap_fen: int
    scene: str
    generated_at: str


@terminal_bp.post("/verify")
@require_terminal()
@endpoint(
    summary="在线核验二维码并记录使用 Verify a QR code online and record the use",
    description=SIGNING,
    body=VerifyIn,
    response=VerifyOut,
    errors=(*TERMINAL_ERRORS, "terminal.scene_not_allowed", *CREDENTIAL_ERRORS),
)
def verify(body: VerifyIn):
    result = service.verify_code(
        db.session, current_terminal(), code=body.code, scene=body.scene, now=utcnow()
    )
    return VerifyOut.model_validate({k: result.get(k) for k in VerifyOut.model_fields})

"""Terminal kinds, the scenes each may serve, lifecycle, and request signing. Pure: no Flask, no
database, no clock reads (time is passed in). Terminals import this module too.

Request signing (every call to ``/terminal/v1``)::

    X-Terminal-Id: GZM-L3-0001
    X-Timestamp:   1763605800                     (unix seconds)
    X-Nonce:       16-64 chars of [A-Za-z0-9_-]   (never reused)
    X-Signature:   hex HMAC-SHA256(secret, METHOD \\n path[?query] \\n timestamp \\n nonce
                                           \\n sha256_hex(body))

``path[?query]`` is exactly what the terminal puts on the request line (ASCII paths; the query
string as sent, without re-ordering or re-encoding).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Final

from server.credentials.codec import Scene, to_unix


class TerminalKind(StrEnum):
    METRO_GATE = "metro_gate"  # 地铁闸机
    BUS_VALIDATOR = "bus_validator"  # 公交刷卡机
    LIBRARY_GATE = "library_gate"  # 图书馆门禁
    LIBRARY_SELFCHECK = "library_selfcheck"  # 图书馆自助借还机
    VENUE_GATE = "venue_gate"  # 博物馆、景区闸机
    POS = "pos"  # 商户收款机
    KIOSK = "kiosk"  # 自助服务一体机
    TAXI_METER = "taxi_meter"  # 出租车计价器
    BIKE_DOCK = "bike_dock"  # 公共自行车桩


KIND_NAMES: Final = {
    TerminalKind.METRO_GATE: ("地铁闸机", "Metro gate"),
    TerminalKind.BUS_VALIDATOR: ("公交刷卡机", "Bus validator"),
    TerminalKind.LIBRARY_GATE: ("图书馆门禁", "Library gate"),
    TerminalKind.LIBRARY_SELFCHECK: ("图书馆自助借还机", "Library self-check machine"),
    TerminalKind.VENUE_GATE: ("场馆景区闸机", "Museum / scenic-spot gate"),
    TerminalKind.POS: ("商户收款机", "Shop POS"),
    TerminalKind.KIOSK: ("自助服务一体机", "Self-service kiosk"),
    TerminalKind.TAXI_METER: ("出租车计价器", "Taxi meter"),
    TerminalKind.BIKE_DOCK: ("公共自行车桩", "Public bicycle dock"),
}

# The scenes a terminal of each kind may verify codes for. Kiosks stand at entrances of museums
# and libraries, so they serve those scenes as well as their own.
KIND_SCENES: Final[dict[TerminalKind, frozenset[Scene]]] = {
    TerminalKind.METRO_GATE: frozenset({Scene.TRANSIT}),
    TerminalKind.BUS_VALIDATOR: frozenset({Scene.TRANSIT}),
    TerminalKind.LIBRARY_GATE: frozenset({Scene.LIBRARY}),
    TerminalKind.LIBRARY_SELFCHECK: frozenset({Scene.LIBRARY}),
    TerminalKind.VENUE_GATE: frozenset({Scene.VENUE}),
    TerminalKind.POS: frozenset({Scene.VOUCHER, Scene.POS}),
    TerminalKind.KIOSK: frozenset({Scene.KIOSK, Scene.VENUE, Scene.LIBRARY}),
    TerminalKind.TAXI_METER: frozenset({Scene.TRANSIT}),
    TerminalKind.BIKE_DOCK: frozenset({Scene.TRANSIT}),
}

SCENE_BY_NAME: Final = {scene.name.lower(): scene for scene in Scene}


def scene_from_name(name: str) -> Scene:
    """``"transit"`` → ``Scene.TRANSIT``; ``KeyError`` for an unknown name."""
    return SCENE_BY_NAME[name]


def allowed_scenes(kind: str) -> frozenset[Scene]:
    return KIND_SCENES[TerminalKind(kind)]


def scene_allowed(kind: str, scene: Scene) -> bool:
    return scene in allowed_scenes(kind)


def serves_any(kind: str, scenes: Collection[Scene]) -> bool:
    return bool(allowed_scenes(kind) & frozenset(scenes))


# --- lifecycle ---------------------------------------------------------------------------------


class TerminalStatus(StrEnum):
    ACTIVE = "active"  # 在用
    DISABLED = "disabled"  # 停用（可恢复）
    RETIRED = "retired"  # 报废（不可恢复）


class TerminalAction(StrEnum):
    DISABLE = "disable"
    ENABLE = "enable"
    RETIRE = "retire"
    ROTATE_SECRET = "rotate_secret"


_TRANSITIONS: Final = {
    (TerminalStatus.ACTIVE, TerminalAction.DISABLE): TerminalStatus.DISABLED,
    (TerminalStatus.DISABLED, TerminalAction.DISABLE): TerminalStatus.DISABLED,
    (TerminalStatus.DISABLED, TerminalAction.ENABLE): TerminalStatus.ACTIVE,
    (TerminalStatus.ACTIVE, TerminalAction.ENABLE): TerminalStatus.ACTIVE,
    (TerminalStatus.ACTIVE, TerminalAction.RETIRE): TerminalStatus.RETIRED,
    (TerminalStatus.DISABLED, TerminalAction.RETIRE): TerminalStatus.RETIRED,
    (TerminalStatus.ACTIVE, TerminalAction.ROTATE_SECRET): TerminalStatus.ACTIVE,
    (TerminalStatus.DISABLED, TerminalAction.ROTATE_SECRET): TerminalStatus.DISABLED,
}


def next_status(current: str, action: TerminalAction) -> TerminalStatus | None:
    """The status after ``action``, or None when it is not allowed (a retired terminal is final).
    Disabling a disabled terminal (enabling an active one) is allowed and changes nothing."""
    return _TRANSITIONS.get((TerminalStatus(current), action))


# --- identifiers ---------------------------------------------------------------------------------

CODE_MAX_LEN: Final = 40
CODE_PATTERN: Final = r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$"  # e.g. GZM-L3-0001
NONCE_PATTERN: Final = r"^[A-Za-z0-9_-]{16,64}$"
_CODE = re.compile(CODE_PATTERN)
_NONCE = re.compile(NONCE_PATTERN)
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")


def valid_code(code: str) -> bool:
    return 3 <= len(code) <= CODE_MAX_LEN and bool(_CODE.match(code))


def new_secret() -> str:
    """A terminal's HMAC secret: 256 random bits, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


# --- request signing -----------------------------------------------------------------------------

HEADER_TERMINAL: Final = "X-Terminal-Id"
HEADER_TIMESTAMP: Final = "X-Timestamp"
HEADER_NONCE: Final = "X-Nonce"
HEADER_SIGNATURE: Final = "X-Signature"
SIGNED_HEADERS: Final = (HEADER_TERMINAL, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

DEFAULT_CLOCK_SKEW_S: Final = 300
LAST_SEEN_RESOLUTION_S: Final = 60


def sha256_hex(body: bytes | str | None) -> str:
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    return hashlib.sha256(body).hexdigest()


def string_to_sign(
    method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes | str | None
) -> str:
    target = path + ("?" + query if query else "")
    return "\n".join([method.upper(), target, timestamp, nonce, sha256_hex(body)])


def signature(
    secret: str,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body: bytes | str | None,
) -> str:
    message = string_to_sign(method, path, query, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_headers(
    code: str,
    secret: str,
    method: str,
    path: str,
    body: bytes | str | None,
    now: datetime | int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers for one request. ``path`` may carry the query string (``/x?since=3``),
    exactly as it will be sent. A fresh random nonce is made unless one is given."""
    target, _, query = path.partition("?")
    timestamp = str(to_unix(now))
    nonce = nonce if nonce is not None else new_nonce()
    return {
        HEADER_TERMINAL: code,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, method, target, query, timestamp, nonce, body),
    }


def header_problem(headers: dict[str, str | None]) -> str | None:
    """The first missing or malformed signing header, or None when all four are well formed."""
    for name in SIGNED_HEADERS:
        if not headers.get(name):
            return name
    if not _TIMESTAMP.match(headers[HEADER_TIMESTAMP] or ""):
        return HEADER_TIMESTAMP
    if not _NONCE.match(headers[HEADER_NONCE] or ""):
        return HEADER_NONCE
    if not _SIGNATURE.match(headers[HEADER_SIGNATURE] or ""):
        return HEADER_SIGNATURE
    return None


def signature_matches(
    secret: str,
    given: str,
    *,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body: bytes | str | None,
) -> bool:
    """Constant-time comparison of the given hex signature with the expected one."""
    expected = signature(secret, method, path, query, timestamp, nonce, body)
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def timestamp_fresh(timestamp: str, now: datetime | int, skew_s: int) -> bool:
    """|now − timestamp| ≤ skew (a request from the future is refused like an old one)."""
    return abs(to_unix(now) - int(timestamp)) <= skew_s


def nonce_retention_s(skew_s: int) -> int:
    """How long a used nonce must be remembered: a request signed at T is accepted while
    server time is in [T − skew, T + skew], and it is first seen no earlier than T − skew."""
    return 2 * skew_s


def should_touch_last_seen(last_seen: datetime | None, now: datetime) -> bool:
    """Record ``last_seen_at`` at most once a minute, not on every request."""
    return last_seen is None or (now - last_seen).total_seconds() >= LAST_SEEN_RESOLUTION_S

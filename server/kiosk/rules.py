"""Kiosk rules: opaque handles, the identity check, help request topics and tickets.

Pure: no Flask, no database, no clock reads (time is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Final

HANDLE_BYTES: Final = 32  # activation ids and challenge ids: 256 random bits, URL-safe text


def new_handle() -> str:
    """An opaque id given to a terminal (43 URL-safe characters); only its hash is stored."""
    return secrets.token_urlsafe(HANDLE_BYTES)


def handle_hash(handle: str) -> bytes:
    return hashlib.sha256(handle.encode("utf-8", "surrogatepass")).digest()


# --- self-service activation -------------------------------------------------------------------

ID_LAST6: Final = re.compile(r"^[0-9]{5}[0-9Xx]$")


def identity_matches(id_number: str, given_last6: str) -> bool:
    """The last 6 characters of the holder's ID number, ``X`` in any case, compared in constant
    time."""
    given = given_last6.strip().upper()
    return len(given) == 6 and hmac.compare_digest(id_number[-6:].upper(), given)


def activation_problem(
    *, expires_at: datetime, finished_at: datetime | None, now: datetime
) -> str | None:
    """Why an activation session can no longer be used, as an error code (None: usable)."""
    if finished_at is not None:
        return "activation.finished"
    if now >= expires_at:
        return "activation.expired"
    return None


def tries_left(max_tries: int, failed: int) -> int:
    return max(0, max_tries - failed)


# --- help requests -------------------------------------------------------------------------------


class HelpTopic(StrEnum):
    ACTIVATION_LOCKED = "activation_locked"  # 激活被锁定
    LOST_OR_REPLACE = "lost_or_replace"  # 挂失、补换卡
    ENTRY_DENIED = "entry_denied"  # 刷卡进入被拒
    OTHER = "other"  # 其他


class HelpStatus(StrEnum):
    OPEN = "open"  # 等待处理
    CLAIMED = "claimed"  # 工作人员已接单
    RESOLVED = "resolved"  # 已处理
    CANCELLED = "cancelled"  # 已取消


CLOSED_HELP_STATUSES: Final = frozenset({HelpStatus.RESOLVED, HelpStatus.CANCELLED})

TICKET_PREFIX: Final = "A"


def ticket_label(seq: int) -> str:
    """``1`` → ``A001``: the short number the kiosk shows and staff call out (per terminal, per
    day)."""
    return f"{TICKET_PREFIX}{seq:03d}"


# Six or more digits in a row (ID, phone, card or bank numbers), or an ID-number shape.
_NUMBERS = re.compile(r"\d{6,}|\d{17}[\dXx]")


def note_problem(note: str | None) -> str | None:
    """``personal_data`` when a help note looks like it carries an ID, phone or account number."""
    if note and _NUMBERS.search(re.sub(r"[\s-]", "", note)):
        return "personal_data"
    return None

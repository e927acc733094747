"""Entrance rules: kinds and their QR scenes, opening hours, greetings.

Pure: no Flask, no database, no clock reads (local times are passed in, in Asia/Shanghai).

Opening hours as stored and sent over the API::

    {"weekly": {"mon": null, "tue": "09:00-17:00", …, "sun": "09:00-17:00"},
     "closed_dates": ["2026-12-31"]}

A weekday that is missing or null is closed all day; ``"00:00-24:00"`` is open all day.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

from server.credentials.codec import Scene
from server.kiosk.rules import note_problem


class EntranceKind(StrEnum):
    MUSEUM = "museum"  # 博物馆
    LIBRARY = "library"  # 图书馆
    SCENIC_SPOT = "scenic_spot"  # 景区


class EntranceStatus(StrEnum):
    OPEN = "open"  # 在用
    SUSPENDED = "suspended"  # 暂停开放（施工、检修等），须说明原因


STATUS_REASON_MAX_CHARS: Final = 200
# Entry reports (per-day summary) cover at most this many days in one request.
SUMMARY_MAX_DAYS: Final = 92


def status_reason_problems(status: str, reason: str | None) -> list[str]:
    """Why a status change's reason is refused (empty: acceptable). Suspending an entrance needs a
    reason (it is shown at the gate); reopening may give one (kept in the audit log). Short, and
    without personal numbers."""
    problems = []
    if EntranceStatus(status) is EntranceStatus.SUSPENDED and not reason:
        problems.append("missing")
    if reason and len(reason) > STATUS_REASON_MAX_CHARS:
        problems.append("too_long")
    if reason and note_problem(reason) is not None:
        problems.append("personal_data")
    return problems


def local_day_bounds(day: date, tz) -> tuple[datetime, datetime]:
    """The UTC start (inclusive) and end (exclusive) of a calendar day in ``tz``."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def summary_range_problems(first: date, last: date) -> list[str]:
    """Why a report's day range is refused (empty: acceptable)."""
    if last < first:
        return ["to_before_from"]
    if (last - first).days + 1 > SUMMARY_MAX_DAYS:
        return ["too_long"]
    return []


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (empty when ``last`` is earlier)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# The QR scene a code must carry at each kind of entrance.
KIND_SCENE: Final = {
    EntranceKind.MUSEUM: Scene.VENUE,
    EntranceKind.SCENIC_SPOT: Scene.VENUE,
    EntranceKind.LIBRARY: Scene.LIBRARY,
}

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class InvalidHours(ValueError):
    """``field`` names what is wrong (``weekly.mon``, ``closed_dates`` …)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the open span in minutes since midnight, or None (closed)."""

    weekly: tuple[tuple[int, int] | None, ...]
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def span_on(self, day: date) -> tuple[int, int] | None:
        if day in self.closed_dates:
            return None
        return self.weekly[day.weekday()]


def _parse_span(text: str, where: str) -> tuple[int, int]:
    match = _SPAN.match(text)
    if not match:
        raise InvalidHours(where)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    opens, closes = h1 * 60 + m1, h2 * 60 + m2
    if closes > 24 * 60 or closes <= opens:
        raise InvalidHours(where)
    return opens, closes


def hours_from_json(data: dict[str, Any]) -> OpeningHours:
    """Parse (and validate) the opening hours document; :class:`InvalidHours` when malformed."""
    if not isinstance(data, dict) or set(data) - {"weekly", "closed_dates"}:
        raise InvalidHours("opening_hours")
    weekly_in = data.get("weekly") or {}
    if not isinstance(weekly_in, dict) or set(weekly_in) - set(WEEKDAYS):
        raise InvalidHours("weekly")
    weekly = []
    for name in WEEKDAYS:
        value = weekly_in.get(name)
        if value is None:
            weekly.append(None)
        elif isinstance(value, str):
            weekly.append(_parse_span(value, f"weekly.{name}"))
        else:
            raise InvalidHours(f"weekly.{name}")
    closed: set[date] = set()
    for value in data.get("closed_dates") or []:
        try:
            closed.add(date.fromisoformat(value))
        except (TypeError, ValueError):
            raise InvalidHours("closed_dates") from None
    return OpeningHours(weekly=tuple(weekly), closed_dates=frozenset(closed))


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_to_json(hours: OpeningHours) -> dict[str, Any]:
    return {
        "weekly": {
            name: None if span is None else f"{_fmt(span[0])}-{_fmt(span[1])}"
            for name, span in zip(WEEKDAYS, hours.weekly, strict=True)
        },
        "closed_dates": sorted(d.isoformat() for d in hours.closed_dates),
    }


def hours_text(hours: OpeningHours) -> str:
    """Canonical JSON for storage."""
    return json.dumps(hours_to_json(hours), sort_keys=True, separators=(",", ":"))


def is_open(hours: OpeningHours, local_dt: datetime) -> bool:
    """Whether the entrance is open at ``local_dt`` (a Shanghai wall-clock time)."""
    span = hours.span_on(local_dt.date())
    if span is None:
        return False
    minute = local_dt.hour * 60 + local_dt.minute
    return span[0] <= minute < span[1]


def next_opening(
    hours: OpeningHours, local_dt: datetime, horizon_days: int = 14
) -> datetime | None:
    """The next moment (local, same tzinfo as ``local_dt``) the entrance opens, within
    ``horizon_days``; None when it stays closed that long."""
    minute = local_dt.hour * 60 + local_dt.minute
    for offset in range(horizon_days + 1):
        day = local_dt.date() + timedelta(days=offset)
        span = hours.span_on(day)
        if span is None or (offset == 0 and minute >= span[0]):
            continue
        opens = datetime.combine(day, time(span[0] // 60, span[0] % 60), tzinfo=local_dt.tzinfo)
        return opens
    return None


# --- greetings -----------------------------------------------------------------------------------

# (from minute of the day, zh, en), in order; before the first is evening.
_GREETINGS: Final = (
    (5 * 60, "早上好", "Good morning"),
    (9 * 60, "上午好", "Good morning"),
    (11 * 60 + 30, "中午好", "Good day"),
    (13 * 60 + 30, "下午好", "Good afternoon"),
    (18 * 60, "晚上好", "Good evening"),
)

_WELCOME: Final = {
    EntranceKind.MUSEUM: ("欢迎参观。", "Welcome."),
    EntranceKind.LIBRARY: ("欢迎来到图书馆。", "Welcome to the library."),
    EntranceKind.SCENIC_SPOT: ("欢迎游览。", "Enjoy your visit."),
}


def time_of_day_greeting(local_dt: datetime) -> tuple[str, str]:
    """早上好 / 上午好 / 中午好 / 下午好 / 晚上好 by Shanghai wall-clock time, with English."""
    minute = local_dt.hour * 60 + local_dt.minute
    zh, en = "晚上好", "Good evening"
    for start, g_zh, g_en in _GREETINGS:
        if minute >= start:
            zh, en = g_zh, g_en
    return zh, en


def greeting(masked_name: str, kind: str, local_dt: datetime) -> tuple[str, str]:
    """``("王*芳，上午好！欢迎参观。", "Good morning, 王*芳. Welcome.")``."""
    zh, en = time_of_day_greeting(local_dt)
    welcome_zh, welcome_en = _WELCOME[EntranceKind(kind)]
    return f"{masked_name}，{zh}！{welcome_zh}", f"{en}, {masked_name}. {welcome_en}"

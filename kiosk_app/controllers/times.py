"""Times shown to people: Asia/Shanghai wall-clock, in friendly words, never ISO-8601.

    format_moment(iso, "zh") → "11月30日 09:30"
    format_moment(iso, "en") → "30 Nov 09:30"
    format_window(a, b, "zh") → "11月30日 09:30–11:30"
    format_window(a, b, "en") → "30 Nov 09:30–11:30"

The server sends aware ISO-8601 strings (``2026-11-30T09:30:00+08:00`` or ``…Z``); whatever
their offset, they are shown in Shanghai time. Plain Python: no Kivy, no clock reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    SHANGHAI: tzinfo = ZoneInfo("Asia/Shanghai")
except (ImportError, ZoneInfoNotFoundError):  # a kiosk without a tz database: no DST since 1991
    SHANGHAI = timezone(timedelta(hours=8), "CST")

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "–"  # en dash between the two ends of a window


def parse(value: str | datetime | None) -> datetime | None:
    """An ISO-8601 moment in Shanghai time; None when missing or unreadable. A moment without an
    offset is taken as UTC (how the server stores time)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI)


def _day(moment: datetime, lang: str) -> str:
    if lang == "en":
        return f"{moment.day} {MONTHS_EN[moment.month - 1]}"
    return f"{moment.month}月{moment.day}日"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def format_moment(value: str | datetime | None, lang: str = "zh") -> str:
    """``11月30日 09:30`` / ``30 Nov 09:30``; "" when missing or unreadable."""
    moment = parse(value)
    if moment is None:
        return ""
    return f"{_day(moment, lang)} {_clock(moment)}"


def format_window(
    start: str | datetime | None, end: str | datetime | None, lang: str = "zh"
) -> str:
    """``11月30日 09:30–11:30``; the end's date is repeated only when it falls on another day;
    one end missing: the other alone; both missing: ""."""
    first, last = parse(start), parse(end)
    if first is None:
        return format_moment(last, lang)
    if last is None:
        return format_moment(first, lang)
    if last.date() == first.date():
        return f"{_day(first, lang)} {_clock(first)}{DASH}{_clock(last)}"
    return f"{_day(first, lang)} {_clock(first)}{DASH}{_day(last, lang)} {_clock(last)}"

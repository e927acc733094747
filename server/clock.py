"""The only place product code reads the clock. Services take ``now``; edges call ``utcnow()``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai of an aware moment (fare days, month ends, ages)."""
    return moment.astimezone(SHANGHAI).date()


def to_local_iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(SHANGHAI).isoformat()

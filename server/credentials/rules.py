"""Credential rules: holder categories, certificate validity, channel limits, fallback codes.

Pure: no Flask, no database, no clock.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta

import pyotp

from server.clock import SHANGHAI
from server.credentials.codec import Category, Scene
from server.registry.rules import age_on
from server.security.rules import matching_totp_step

MAX_ACTIVE_CHANNELS = 3
FALLBACK_DIGITS = 8
FALLBACK_INTERVAL_S = 30
FALLBACK_WINDOW_STEPS = 1  # accept the previous and next step too (clock drift, typing time)

SCENES = {s.name.lower(): s for s in Scene}

# Ages at which a holder's categories change (Guangdong concessions: 60–64, 65+; minors < 18).
_AGE_BOUNDARIES = (18, 60, 65)


def categories_on(birth_date: date, disability_level: int | None, on: date) -> Category:
    """Holder categories on a local date, derived from the registry (never stored on the card)."""
    age = age_on(birth_date, on)
    flags = Category.NONE
    if age < 18:
        flags |= Category.MINOR
    if 60 <= age <= 64:
        flags |= Category.SENIOR_60_64
    if age >= 65:
        flags |= Category.SENIOR_65_PLUS
    if disability_level is not None:
        flags |= Category.DISABLED
    return flags


def category_names(flags: int) -> list[str]:
    """The names of ``flags`` in the flags' order (``senior_65_plus``)."""
    return list(_names(int(flags)))


def category_name_set(flags: int) -> frozenset[str]:
    """The names of ``flags`` as a set (every tap asks: a few distinct values, each computed
    once)."""
    return _name_set(int(flags))


@functools.cache
def _names(flags: int) -> tuple[str, ...]:
    return tuple(c.name.lower() for c in Category if c and c in Category(flags))


@functools.cache
def _name_set(flags: int) -> frozenset[str]:
    return frozenset(_names(flags))


def next_category_change(birth_date: date, on: date) -> datetime | None:
    """The moment (UTC) the holder's age-based categories next change: midnight in Guangzhou on the
    birthday that crosses 18, 60 or 65. A certificate must not outlive its categories."""
    age = age_on(birth_date, on)
    for boundary in _AGE_BOUNDARIES:
        if age < boundary:
            year = birth_date.year + boundary
            try:
                birthday = birth_date.replace(year=year)
            except ValueError:  # 29 February
                birthday = date(year, 3, 1)
            return datetime.combine(birthday, time(0), SHANGHAI).astimezone(UTC)
    return None


def certificate_window(
    now: datetime, validity: timedelta, birth_date: date, local_today: date
) -> tuple[datetime, datetime]:
    """``(not_before, not_after)``: starts a minute early for clock skew, ends after ``validity``
    or when the categories change, whichever is first; whole seconds."""
    not_before = (now - timedelta(minutes=1)).replace(microsecond=0)
    not_after = (now + validity).replace(microsecond=0)
    change = next_category_change(birth_date, local_today)
    if change is not None and change < not_after:
        not_after = change.replace(microsecond=0)
    return not_before, not_after


def fallback_totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=FALLBACK_DIGITS, interval=FALLBACK_INTERVAL_S)


def fallback_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step whose 8-digit code equals ``code`` (±1 step), or None."""
    return matching_totp_step(fallback_totp(secret), code, at, FALLBACK_WINDOW_STEPS)

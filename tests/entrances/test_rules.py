"""Opening hours and greetings (pure, Asia/Shanghai wall-clock times)."""

from __future__ import annotations

from datetime import datetime

import pytest

from server.clock import SHANGHAI
from server.entrances.rules import (
    InvalidHours,
    greeting,
    hours_from_json,
    hours_to_json,
    is_open,
    next_opening,
    time_of_day_greeting,
)

MUSEUM = hours_from_json(
    {
        "weekly": {d: "09:00-17:00" for d in ("tue", "wed", "thu", "fri", "sat", "sun")},
        "closed_dates": ["2026-11-22"],
    }
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_open_between_opening_and_closing_time():
    assert is_open(MUSEUM, at("2026-11-20 09:00"))  # a Friday
    assert is_open(MUSEUM, at("2026-11-20 16:59"))
    assert not is_open(MUSEUM, at("2026-11-20 08:59"))
    assert not is_open(MUSEUM, at("2026-11-20 17:00"))


def test_closed_on_a_closed_weekday_and_on_closed_dates():
    assert not is_open(MUSEUM, at("2026-11-23 10:00"))  # Monday
    assert not is_open(MUSEUM, at("2026-11-22 10:00"))  # Sunday, but a closed date


def test_the_next_opening_skips_closed_days():
    assert next_opening(MUSEUM, at("2026-11-21 18:00")) == at("2026-11-24 09:00")
    assert next_opening(MUSEUM, at("2026-11-20 07:00")) == at("2026-11-20 09:00")
    assert next_opening(hours_from_json({"weekly": {}}), at("2026-11-20 07:00")) is None


def test_all_day_runs_to_midnight():
    hours = hours_from_json({"weekly": {"mon": "00:00-24:00"}})
    assert is_open(hours, at("2026-11-23 23:59")) and is_open(hours, at("2026-11-23 00:00"))


@pytest.mark.parametrize(
    "data",
    [
        {"weekly": {"mon": "17:00-09:00"}},
        {"weekly": {"mon": "9:00-17:00"}},
        {"weekly": {"monday": "09:00-17:00"}},
        {"weekly": {"mon": 9}},
        {"weekly": {}, "closed_dates": ["not a date"]},
        {"weekly": {}, "extra": 1},
    ],
)
def test_malformed_hours_are_refused(data):
    with pytest.raises(InvalidHours):
        hours_from_json(data)


def test_hours_round_trip():
    assert hours_from_json(hours_to_json(MUSEUM)) == MUSEUM


@pytest.mark.parametrize(
    ("clock", "zh", "en"),
    [
        ("06:30", "早上好", "Good morning"),
        ("10:30", "上午好", "Good morning"),
        ("12:00", "中午好", "Good day"),
        ("15:00", "下午好", "Good afternoon"),
        ("19:00", "晚上好", "Good evening"),
        ("02:00", "晚上好", "Good evening"),
    ],
)
def test_the_greeting_follows_shanghai_time_of_day(clock, zh, en):
    assert time_of_day_greeting(at(f"2026-11-20 {clock}")) == (zh, en)


def test_a_greeting_names_the_holder_masked_and_welcomes_by_kind():
    assert greeting("王*芳", "museum", at("2026-11-20 10:30")) == (
        "王*芳，上午好！欢迎参观。",
        "Good morning, 王*芳. Welcome.",
    )
    assert (
        greeting("王*芳", "library", at("2026-11-20 15:00"))[0] == "王*芳，下午好！欢迎来到图书馆。"
    )

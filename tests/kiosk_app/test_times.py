"""Times shown to people: Asia/Shanghai, friendly words (kiosk_app/controllers/times.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kiosk_app.controllers.times import format_moment, format_window, parse


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        ("2026-11-30T09:30:00+08:00", "11月30日 09:30", "30 Nov 09:30"),
        ("2026-11-30T01:30:00Z", "11月30日 09:30", "30 Nov 09:30"),  # UTC → Shanghai
        ("2026-11-30T01:30:00+00:00", "11月30日 09:30", "30 Nov 09:30"),
        ("2026-11-30T01:30:00", "11月30日 09:30", "30 Nov 09:30"),  # no offset: UTC
        ("2026-12-31T20:05:00Z", "1月1日 04:05", "1 Jan 04:05"),  # the next day (and year)
        (datetime(2026, 5, 4, 23, 0, tzinfo=UTC), "5月5日 07:00", "5 May 07:00"),
    ],
)
def test_a_moment_reads_in_shanghai_time(value, zh, en):
    assert format_moment(value, "zh") == zh
    assert format_moment(value, "en") == en


@pytest.mark.parametrize("value", [None, "", "tomorrow", "2026-13-01T00:00:00Z"])
def test_a_missing_or_unreadable_moment_is_empty(value):
    assert parse(value) is None
    assert format_moment(value, "zh") == "" and format_moment(value, "en") == ""


def test_a_window_on_one_day_names_the_day_once():
    start, end = "2026-11-30T09:30:00+08:00", "2026-11-30T03:30:00Z"
    assert format_window(start, end, "zh") == "11月30日 09:30–11:30"
    assert format_window(start, end, "en") == "30 Nov 09:30–11:30"


def test_a_window_over_midnight_names_both_days():
    start, end = "2026-11-30T22:00:00+08:00", "2026-12-01T00:30:00+08:00"
    assert format_window(start, end, "zh") == "11月30日 22:00–12月1日 00:30"
    assert format_window(start, end, "en") == "30 Nov 22:00–1 Dec 00:30"


def test_a_window_with_one_end_shows_that_end():
    assert format_window("2026-11-30T09:30:00+08:00", None, "zh") == "11月30日 09:30"
    assert format_window(None, "2026-11-30T11:30:00+08:00", "en") == "30 Nov 11:30"
    assert format_window(None, None, "zh") == ""

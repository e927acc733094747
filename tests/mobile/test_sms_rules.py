"""Pure rules of the SMS sign-in: code state, resend wait, name comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.security.rules import (
    SmsCodeState,
    names_match,
    resend_wait_seconds,
    sms_code_state,
)

T0 = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


def state(**kwargs) -> SmsCodeState:
    base = {
        "exists": True,
        "expires_at": T0 + timedelta(minutes=5),
        "used_at": None,
        "failed_tries": 0,
        "now": T0,
    }
    return sms_code_state(**{**base, **kwargs})


def test_a_fresh_code_is_live():
    assert state() is SmsCodeState.LIVE


def test_a_code_is_expired_from_its_expiry_instant():
    assert state(now=T0 + timedelta(minutes=5) - timedelta(microseconds=1)) is SmsCodeState.LIVE
    assert state(now=T0 + timedelta(minutes=5)) is SmsCodeState.EXPIRED


def test_used_locked_and_missing_codes_are_not_live():
    assert state(used_at=T0) is SmsCodeState.USED
    assert state(failed_tries=5) is SmsCodeState.LOCKED
    assert state(failed_tries=4) is SmsCodeState.LIVE
    assert state(exists=False, expires_at=None) is SmsCodeState.MISSING


def test_resend_wait_counts_down_to_zero():
    assert resend_wait_seconds(None, T0, 60) == 0
    assert resend_wait_seconds(T0, T0, 60) == 60
    assert resend_wait_seconds(T0, T0 + timedelta(seconds=59.5), 60) == 1
    assert resend_wait_seconds(T0, T0 + timedelta(seconds=60), 60) == 0


def test_names_match_ignores_spaces_width_and_the_kind_of_middle_dot():
    assert names_match("张三", "张三")
    assert names_match(" 张 三 ", "张三")
    assert names_match("买买提•艾力", "买买提·艾力")
    assert names_match("John  SMITH", "john smith")
    assert not names_match("张四", "张三")
    assert not names_match("", "张三")

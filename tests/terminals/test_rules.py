"""Pure rules: scenes per kind, lifecycle, request signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.credentials.codec import Scene
from server.terminals import rules
from server.terminals.rules import TerminalAction, TerminalKind, TerminalStatus

NOW = 1_780_000_000
SECRET = "s3cret-for-tests"


def test_every_kind_has_scenes_and_names():
    assert set(rules.KIND_SCENES) == set(TerminalKind) == set(rules.KIND_NAMES)
    assert rules.allowed_scenes("metro_gate") == {Scene.TRANSIT}
    assert rules.allowed_scenes("bus_validator") == {Scene.TRANSIT}
    assert rules.allowed_scenes("library_selfcheck") == {Scene.LIBRARY}
    assert rules.allowed_scenes("pos") == {Scene.VOUCHER, Scene.POS}
    assert rules.allowed_scenes("kiosk") == {Scene.KIOSK, Scene.VENUE, Scene.LIBRARY}
    assert not any(Scene.GENERIC in scenes for scenes in rules.KIND_SCENES.values())
    assert rules.serves_any("kiosk", {Scene.TRANSIT, Scene.VENUE})
    assert not rules.serves_any("venue_gate", {Scene.TRANSIT})


def test_lifecycle():
    assert rules.next_status("active", TerminalAction.DISABLE) is TerminalStatus.DISABLED
    assert rules.next_status("disabled", TerminalAction.ENABLE) is TerminalStatus.ACTIVE
    assert rules.next_status("disabled", TerminalAction.DISABLE) is TerminalStatus.DISABLED
    assert rules.next_status("disabled", TerminalAction.RETIRE) is TerminalStatus.RETIRED
    for action in TerminalAction:
        assert rules.next_status("retired", action) is None


@pytest.mark.parametrize(
    ("code", "ok"),
    [("GZM-L3-0001", True), ("K1", False), ("gzm-l3", False), ("A--B", False), ("A" * 41, False)],
)
def test_terminal_codes(code, ok):
    assert rules.valid_code(code) is ok


def test_sign_headers_is_the_documented_hmac():
    import hashlib
    import hmac

    body = b'{"code":"x","scene":"transit"}'
    headers = rules.sign_headers(
        "GZM-L3-0001", SECRET, "post", "/terminal/v1/verify", body, NOW, nonce="n" * 16
    )
    message = "\n".join(
        ["POST", "/terminal/v1/verify", str(NOW), "n" * 16, hashlib.sha256(body).hexdigest()]
    )
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert headers == {
        "X-Terminal-Id": "GZM-L3-0001",
        "X-Timestamp": str(NOW),
        "X-Nonce": "n" * 16,
        "X-Signature": expected,
    }


def test_query_string_and_body_are_signed():
    headers = rules.sign_headers("T-1", SECRET, "GET", "/x?since=3", b"", NOW, nonce="a" * 20)

    def matches(path, query, body=b"", method="GET", secret=SECRET):
        return rules.signature_matches(
            secret,
            headers["X-Signature"],
            method=method,
            path=path,
            query=query,
            timestamp=headers["X-Timestamp"],
            nonce=headers["X-Nonce"],
            body=body,
        )

    assert matches("/x", "since=3")
    assert matches("/x", "since=3", body=None)  # no body hashes like an empty one
    assert not matches("/x", "since=4")
    assert not matches("/x", "")
    assert not matches("/x", "since=3", body=b"{}")
    assert not matches("/x", "since=3", method="POST")
    assert not matches("/x", "since=3", secret=SECRET + "x")


def test_fresh_nonces_differ_and_fit_the_pattern():
    a = rules.sign_headers("T-1", SECRET, "GET", "/x", None, NOW)
    b = rules.sign_headers("T-1", SECRET, "GET", "/x", None, NOW)
    assert a["X-Nonce"] != b["X-Nonce"]
    assert rules.header_problem(a) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"X-Terminal-Id": None}, "X-Terminal-Id"),
        ({"X-Signature": ""}, "X-Signature"),
        ({"X-Timestamp": "-5"}, "X-Timestamp"),
        ({"X-Timestamp": "1.5"}, "X-Timestamp"),
        ({"X-Nonce": "short"}, "X-Nonce"),
        ({"X-Nonce": "x" * 65}, "X-Nonce"),
        ({"X-Nonce": "has space in it 123"}, "X-Nonce"),
        ({"X-Signature": "zz" * 32}, "X-Signature"),
    ],
)
def test_header_problems(change, problem):
    headers = rules.sign_headers("T-1", SECRET, "GET", "/x", None, NOW)
    headers.update(change)
    assert rules.header_problem(headers) == problem


def test_timestamp_window_is_symmetric():
    assert rules.timestamp_fresh(str(NOW - 300), NOW, 300)
    assert rules.timestamp_fresh(str(NOW + 300), NOW, 300)
    assert not rules.timestamp_fresh(str(NOW - 301), NOW, 300)
    assert not rules.timestamp_fresh(str(NOW + 301), NOW, 300)
    assert rules.nonce_retention_s(300) == 600


def test_last_seen_is_written_at_most_once_a_minute():
    now = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
    assert rules.should_touch_last_seen(None, now)
    assert not rules.should_touch_last_seen(now - timedelta(seconds=59), now)
    assert rules.should_touch_last_seen(now - timedelta(seconds=60), now)

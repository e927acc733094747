"""Signed terminal requests: what passes, every refusal, and that refusals record nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.clock import utcnow
from server.extensions import db
from server.security.models import AuditEvent
from server.terminals.models import Terminal, TerminalNonce
from tests.terminals.conftest import TerminalHandle, nonce_count, signed

TRUST = "/terminal/v1/trust-list"
VERIFY = "/terminal/v1/verify"


@pytest.fixture(autouse=True)
def _stand_ins(fake_credentials):
    return fake_credentials


def terminal_row(app, terminal_id: int) -> Terminal:
    with app.app_context():
        row = db.session.get(Terminal, terminal_id)
        db.session.expunge(row)
        db.session.remove()
    return row


def audit_count(app) -> int:
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        db.session.remove()
    return count


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code


def test_a_good_request_passes_and_records_its_nonce(app, client, gate):
    response = signed(client, gate, "GET", TRUST)
    assert response.status_code == 200
    assert nonce_count(app) == 1
    assert terminal_row(app, gate.id).last_seen_at is not None


@pytest.mark.parametrize("header", ["X-Terminal-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_missing_headers(app, client, gate, header):
    response = signed(client, gate, "GET", TRUST, headers={header: ""})
    assert_refused(response, 401, "terminal.unauthenticated")


def test_no_signature_at_all_and_bearer_tokens_are_unauthenticated(client, city_admin):
    assert_refused(client.get(TRUST), 401, "terminal.unauthenticated")
    assert_refused(client.get(TRUST, headers=city_admin.headers), 401, "terminal.unauthenticated")


def test_malformed_nonce(client, gate):
    assert_refused(
        signed(client, gate, "GET", TRUST, nonce="tooshort"), 401, "terminal.unauthenticated"
    )


def test_unknown_terminal(client, gate):
    stranger = TerminalHandle(0, "NOPE-0001", "metro_gate", "440100", gate.secret)
    assert_refused(signed(client, stranger, "GET", TRUST), 401, "terminal.unknown")
    weird = TerminalHandle(0, "not a code at all", "metro_gate", "440100", gate.secret)
    assert_refused(signed(client, weird, "GET", TRUST), 401, "terminal.unknown")


@pytest.mark.parametrize("status", ["disabled", "retired"])
def test_disabled_and_retired_terminals(client, make_terminal, status):
    terminal = make_terminal(status=status)
    assert_refused(signed(client, terminal, "GET", TRUST), 403, "terminal.disabled")
    # Without the secret nobody learns the status.
    assert_refused(
        signed(client, terminal, "GET", TRUST, secret="guess"), 401, "terminal.bad_signature"
    )


def test_bad_signature(client, gate):
    assert_refused(
        signed(client, gate, "GET", TRUST, secret="wrong"), 401, "terminal.bad_signature"
    )
    headers = {"X-Signature": "0" * 64}
    assert_refused(
        signed(client, gate, "GET", TRUST, headers=headers), 401, "terminal.bad_signature"
    )


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_stale_and_future_timestamps(client, gate, offset):
    at = int(time.time()) + offset
    assert_refused(signed(client, gate, "GET", TRUST, at=at), 401, "terminal.stale_timestamp")


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamps_inside_the_window_pass(client, gate, offset):
    assert signed(client, gate, "GET", TRUST, at=int(time.time()) + offset).status_code == 200


def test_the_window_is_configurable(app, client, gate):
    app.config["SSC_TERMINAL_CLOCK_SKEW_S"] = 30
    response = signed(client, gate, "GET", TRUST, at=int(time.time()) - 60)
    assert_refused(response, 401, "terminal.stale_timestamp")


def test_a_reused_nonce_is_refused_for_that_terminal_only(app, client, make_terminal):
    first, second = make_terminal(), make_terminal()
    nonce = "replay-me-0123456789"
    assert signed(client, first, "GET", TRUST, nonce=nonce).status_code == 200
    again = signed(client, first, "GET", TRUST, nonce=nonce)
    assert_refused(again, 401, "terminal.nonce_reused")
    assert signed(client, second, "GET", TRUST, nonce=nonce).status_code == 200
    assert nonce_count(app) == 2


def test_an_exact_replay_is_refused(client, gate):
    from server.terminals.rules import sign_headers

    headers = sign_headers(gate.code, gate.secret, "GET", TRUST, b"", utcnow())
    assert client.get(TRUST, headers=headers).status_code == 200
    assert_refused(client.get(TRUST, headers=headers), 401, "terminal.nonce_reused")


def test_tampering_breaks_the_signature(client, gate):
    from server.terminals.rules import sign_headers

    body = b'{"code": "SC1:AAAA", "scene": "transit"}'
    headers = sign_headers(gate.code, gate.secret, "POST", VERIFY, body, utcnow())
    tampered = body.replace(b"transit", b"library")
    response = client.post(VERIFY, data=tampered, content_type="application/json", headers=headers)
    assert_refused(response, 401, "terminal.bad_signature")

    headers = sign_headers(
        gate.code, gate.secret, "GET", "/terminal/v1/revocation-list?since=1", b"", utcnow()
    )
    response = client.get("/terminal/v1/revocation-list?since=2", headers=headers)
    assert_refused(response, 401, "terminal.bad_signature")

    headers = sign_headers(gate.code, gate.secret, "GET", TRUST, b"", utcnow())
    response = client.get("/terminal/v1/revocation-list", headers=headers)
    assert_refused(response, 401, "terminal.bad_signature")


def test_refused_requests_record_nothing(app, client, make_terminal):
    good = make_terminal()
    disabled = make_terminal(status="disabled")
    events_before = audit_count(app)
    now = int(time.time())
    refusals = [
        signed(client, good, "GET", TRUST, secret="wrong"),
        signed(client, good, "GET", TRUST, at=now - 1000),
        signed(client, good, "GET", TRUST, headers={"X-Nonce": ""}),
        signed(client, disabled, "GET", TRUST),
        # refused by the view after authentication: the nonce rolls back with it
        signed(client, good, "POST", VERIFY, json_body={"code": "x", "scene": "library"}),
    ]
    assert all(r.status_code in (401, 403) for r in refusals)
    assert nonce_count(app) == 0
    assert audit_count(app) == events_before
    assert terminal_row(app, good.id).last_seen_at is None
    assert terminal_row(app, disabled.id).last_seen_at is None


def test_last_seen_is_written_at_most_once_a_minute(app, client, gate):
    recent = utcnow() - timedelta(seconds=30)
    with app.app_context():
        db.session.get(Terminal, gate.id).last_seen_at = recent
        db.session.commit()
        db.session.remove()
    assert signed(client, gate, "GET", TRUST).status_code == 200
    assert abs((terminal_row(app, gate.id).last_seen_at - recent).total_seconds()) < 0.001

    old = utcnow() - timedelta(seconds=120)
    with app.app_context():
        db.session.get(Terminal, gate.id).last_seen_at = old
        db.session.commit()
        db.session.remove()
    assert signed(client, gate, "GET", TRUST).status_code == 200
    assert (utcnow() - terminal_row(app, gate.id).last_seen_at).total_seconds() < 10


def test_purge_nonces_forgets_only_old_ones(app, runner, gate):
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                TerminalNonce(
                    terminal_id=gate.id,
                    nonce="old-nonce-00000001",
                    created_at=now - timedelta(seconds=601),
                ),
                TerminalNonce(
                    terminal_id=gate.id,
                    nonce="new-nonce-00000001",
                    created_at=now - timedelta(seconds=60),
                ),
            ]
        )
        db.session.commit()
        db.session.remove()
    result = runner.invoke(args=["terminals", "purge-nonces"])
    assert result.exit_code == 0, result.output
    assert '"purged": 1' in result.output
    assert nonce_count(app) == 1

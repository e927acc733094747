"""Signed requests with the per-process terminal cache on (``SSC_TERMINAL_CACHE_S`` > 0, as in
production): a change made elsewhere is seen within the TTL, one made here at once."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from server.extensions import db
from server.security.pii import cipher
from server.terminals.models import Terminal
from server.terminals.service import SECRET_FIELD
from tests.terminals.conftest import nonce_count, signed

TRUST = "/terminal/v1/trust-list"
TTL = 0.3


@pytest.fixture(autouse=True)
def _cache_on(app, fake_credentials):
    app.config["SSC_TERMINAL_CACHE_S"] = TTL
    return fake_credentials


def change_row(app, terminal_id: int, **values) -> None:
    """Change the row behind the service's back, as another process would."""
    with app.app_context():
        db.session.execute(update(Terminal).where(Terminal.id == terminal_id).values(**values))
        db.session.commit()
        db.session.remove()


def code_of(response) -> str | None:
    return (response.get_json() or {}).get("code")


def test_a_terminal_disabled_elsewhere_is_refused_once_the_ttl_has_passed(app, client, gate):
    assert signed(client, gate, "GET", TRUST).status_code == 200  # cached now
    change_row(app, gate.id, status="disabled")
    time.sleep(TTL + 0.05)
    refused = signed(client, gate, "GET", TRUST)
    assert (refused.status_code, code_of(refused)) == (403, "terminal.disabled")


def test_a_terminal_disabled_in_this_process_is_refused_at_once(app, client, gate, city_admin):
    assert signed(client, gate, "GET", TRUST).status_code == 200
    base = f"/staff/v1/terminals/{gate.id}"
    assert client.post(f"{base}/disable", headers=city_admin.headers).status_code == 200
    refused = signed(client, gate, "GET", TRUST)
    assert (refused.status_code, code_of(refused)) == (403, "terminal.disabled")
    assert client.post(f"{base}/enable", headers=city_admin.headers).status_code == 200
    assert signed(client, gate, "GET", TRUST).status_code == 200


def rotate_elsewhere(app, terminal_id: int, secret: str) -> None:
    with app.app_context():
        change_row(app, terminal_id, secret_enc=cipher().encrypt(SECRET_FIELD, secret))


def test_a_secret_rotated_elsewhere_works_at_once(app, client, gate):
    assert signed(client, gate, "GET", TRUST).status_code == 200  # the old secret is cached
    rotate_elsewhere(app, gate.id, "new-secret-0123456789")
    fresh = signed(client, gate, "GET", TRUST, secret="new-secret-0123456789")
    assert fresh.status_code == 200, fresh.get_json()


def test_the_old_secret_stops_working_once_the_ttl_has_passed(app, client, gate):
    assert signed(client, gate, "GET", TRUST).status_code == 200
    rotate_elsewhere(app, gate.id, "new-secret-0123456789")
    time.sleep(TTL + 0.05)
    old = signed(client, gate, "GET", TRUST)
    assert (old.status_code, code_of(old)) == (401, "terminal.bad_signature")


def test_a_rotation_in_this_process_stops_the_old_secret_at_once(client, gate, city_admin):
    assert signed(client, gate, "GET", TRUST).status_code == 200
    rotated = client.post(
        f"/staff/v1/terminals/{gate.id}/rotate-secret", headers=city_admin.headers
    )
    assert rotated.status_code == 200, rotated.get_json()
    old = signed(client, gate, "GET", TRUST)
    assert (old.status_code, code_of(old)) == (401, "terminal.bad_signature")


def test_replays_and_bad_signatures_are_still_refused(app, client, gate):
    nonce = "cached-nonce-0123456789"
    assert signed(client, gate, "GET", TRUST, nonce=nonce).status_code == 200
    again = signed(client, gate, "GET", TRUST, nonce=nonce)
    assert (again.status_code, code_of(again)) == (401, "terminal.nonce_reused")
    wrong = signed(client, gate, "GET", TRUST, secret="wrong")
    assert (wrong.status_code, code_of(wrong)) == (401, "terminal.bad_signature")
    assert nonce_count(app) == 1


def test_a_cached_terminal_still_records_last_seen(app, client, gate):
    assert signed(client, gate, "GET", TRUST).status_code == 200
    with app.app_context():
        seen = db.session.get(Terminal, gate.id).last_seen_at
        db.session.remove()
    assert seen is not None


def test_a_cached_record_shares_one_terminal_object_until_it_is_replaced():
    """Requests share the record's transient Terminal; a record replaced with a newer last-seen
    time builds its own (never the old object with the old value)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from server.terminals.service import _TerminalRecord

    seen = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    record = _TerminalRecord(
        id=7, code="GZB-0007", kind="bus_validator", owner="广州公交", city_code="440100",
        location=None, status="active", secret="s", created_at=seen, created_by=None,
        secret_rotated_at=None, last_seen_at=seen,
    )  # fmt: skip
    first = record.as_terminal()
    assert record.as_terminal() is first
    assert (first.id, first.code, first.last_seen_at) == (7, "GZB-0007", seen)
    later = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    touched = replace(record, last_seen_at=later).as_terminal()
    assert touched is not first and touched.last_seen_at == later
    assert first.last_seen_at == seen

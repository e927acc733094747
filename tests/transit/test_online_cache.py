"""Online taps with the per-process caches on (``SSC_TERMINAL_CACHE_S`` > 0, as in production):
terminal records, placements and the fare data version are reused for at most the TTL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from server.extensions import db
from server.terminals.models import Terminal
from server.transit.models import TerminalPlacement
from tests.transit.conftest import terminal_post

TAPS = "/taps"
TTL = 0.3


@pytest.fixture(autouse=True)
def _cache_on(app):
    app.config["SSC_TERMINAL_CACHE_S"] = TTL
    app.config["SSC_VERIFIER_REFRESH_S"] = TTL


def qr(passenger, kind: str, **extra) -> dict:
    return {"kind": kind, "medium": "qr", "code": passenger.code(), **extra}


def code_of(response) -> str | None:
    return (response.get_json() or {}).get("code")


def test_taps_are_recorded_and_priced_as_without_the_cache(
    app, client, make_transit_terminal, passenger
):
    entry_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    exit_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    entry = terminal_post(client, entry_gate, TAPS, qr(passenger, "entry"))
    assert entry.status_code == 200, entry.get_json()
    exit_ = terminal_post(client, exit_gate, TAPS, qr(passenger, "exit"))
    assert exit_.status_code == 200, exit_.get_json()
    trip = exit_.get_json()["trip"]
    assert (trip["id"], trip["status"], trip["charged_fen"]) == (
        entry.get_json()["trip"]["id"],
        "complete",
        400,
    )
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    taps = [terminal_post(client, bus, TAPS, qr(passenger, "single")) for _ in range(3)]
    assert [t.status_code for t in taps] == [200, 200, 200]
    assert taps[0].get_json()["trip"]["breakdown"]["transfer_fen"] > 0  # metro → bus
    replay = {"kind": "single", "medium": "qr", "code": passenger.code()}
    assert terminal_post(client, bus, TAPS, replay).status_code == 200
    again = terminal_post(client, bus, TAPS, replay)
    assert (again.status_code, code_of(again)) == (409, "credential.replayed")


def test_a_terminal_disabled_elsewhere_is_refused_once_the_ttl_has_passed(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    assert terminal_post(client, bus, TAPS, qr(passenger, "single")).status_code == 200
    with app.app_context():
        db.session.execute(update(Terminal).where(Terminal.id == bus.id).values(status="retired"))
        db.session.commit()
        db.session.remove()
    time.sleep(TTL + 0.05)
    refused = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (refused.status_code, code_of(refused)) == (403, "terminal.disabled")


def move_elsewhere(app, terminal_id: int, stop_id: str) -> None:
    """Move the gate to another station behind this process's back, as another process would."""
    with app.app_context():
        db.session.execute(
            update(TerminalPlacement)
            .where(TerminalPlacement.terminal_id == terminal_id)
            .values(stop_id=stop_id)
        )
        db.session.commit()
        db.session.remove()


def test_a_placement_changed_elsewhere_is_used_once_the_ttl_has_passed(
    app, client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    first = terminal_post(client, gate, TAPS, qr(passenger, "entry"))
    assert first.get_json()["trip"]["from_stop_id"] == "gzm-xilang"
    move_elsewhere(app, gate.id, "gzm-gongyuanqian")
    time.sleep(TTL + 0.05)
    exit_ = terminal_post(client, gate, TAPS, qr(passenger, "exit"))
    assert exit_.status_code == 200, exit_.get_json()
    assert exit_.get_json()["trip"]["to_stop_id"] == "gzm-gongyuanqian"


def test_a_placement_changed_in_this_process_is_used_at_once(
    app, client, make_transit_terminal, passenger, make_staff
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    assert terminal_post(client, gate, TAPS, qr(passenger, "entry")).status_code == 200
    admin = make_staff("city_admin", "440100")
    moved = client.post(
        f"/staff/v1/terminals/{gate.id}/placement",
        json={"network_id": "gz-metro", "stop_id": "gzm-gongyuanqian"},
        headers=admin.headers,
    )
    assert moved.status_code == 200, moved.get_json()
    exit_ = terminal_post(client, gate, TAPS, qr(passenger, "exit"))
    assert exit_.get_json()["trip"]["to_stop_id"] == "gzm-gongyuanqian"


# --- what an online tap re-checks in its own transaction (no waiting for the TTL) ---------------


def test_a_terminal_disabled_elsewhere_is_refused_at_its_next_tap(
    app, client, make_transit_terminal, passenger
):
    """The tap's transaction reads the terminal's status again (on PostgreSQL in its first
    statement), so a cached record never lets a disabled terminal tap: refused at once."""
    from tests.terminals.conftest import nonce_count

    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    assert terminal_post(client, bus, TAPS, qr(passenger, "single")).status_code == 200
    nonces = nonce_count(app)
    with app.app_context():
        db.session.execute(update(Terminal).where(Terminal.id == bus.id).values(status="disabled"))
        db.session.commit()
        db.session.remove()
    refused = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (refused.status_code, code_of(refused)) == (403, "terminal.disabled")
    assert nonce_count(app) == nonces  # nothing recorded for the refused tap
    with app.app_context():
        db.session.execute(update(Terminal).where(Terminal.id == bus.id).values(status="active"))
        db.session.commit()
        db.session.remove()
    assert terminal_post(client, bus, TAPS, qr(passenger, "single")).status_code == 200


def test_an_old_secret_is_refused_at_the_next_tap_after_a_rotation_elsewhere(
    app, client, make_transit_terminal, passenger, now
):
    from server.security.pii import cipher
    from server.terminals.service import SECRET_FIELD
    from tests.terminals.conftest import signed

    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    assert terminal_post(client, bus, TAPS, qr(passenger, "single")).status_code == 200
    new_secret = "rotated-secret-0123456789abcdef"
    with app.app_context():
        db.session.execute(
            update(Terminal)
            .where(Terminal.id == bus.id)
            .values(secret_enc=cipher().encrypt(SECRET_FIELD, new_secret), secret_rotated_at=now)
        )
        db.session.commit()
        db.session.remove()
    old = terminal_post(client, bus, TAPS, qr(passenger, "single"))  # signed with the old secret
    assert (old.status_code, code_of(old)) == (401, "terminal.bad_signature")
    fresh = signed(
        client, bus, "POST", "/terminal/v1" + TAPS, json_body=qr(passenger, "single"),
        secret=new_secret,
    )  # fmt: skip
    assert fresh.status_code == 200, fresh.get_json()


@pytest.mark.postgres_only
def test_a_placement_changed_elsewhere_is_used_at_the_next_qr_tap(
    app, client, make_transit_terminal, passenger
):
    """On PostgreSQL a QR tap's first statement reads the placement again: a tap that finds it
    changed starts again at the new place (SQLite and card taps wait for the TTL, above)."""
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    first = terminal_post(client, gate, TAPS, qr(passenger, "entry"))
    assert first.get_json()["trip"]["from_stop_id"] == "gzm-xilang"
    move_elsewhere(app, gate.id, "gzm-gongyuanqian")
    exit_ = terminal_post(client, gate, TAPS, qr(passenger, "exit"))
    assert exit_.status_code == 200, exit_.get_json()
    assert exit_.get_json()["trip"]["to_stop_id"] == "gzm-gongyuanqian"
    assert exit_.get_json()["trip"]["id"] == first.get_json()["trip"]["id"]


def test_a_code_of_a_card_the_server_does_not_know_is_refused(
    app, client, make_transit_terminal, make_passenger
):
    """The card is found by the code's pseudonym (on PostgreSQL inside the first statement when
    this process has not seen it): none, ``transit.no_card``, nothing recorded."""
    from sqlalchemy import delete, func, select

    from server.credentials.models import CardPseudonym, CredentialUse

    stranger = make_passenger()
    with app.app_context():
        db.session.execute(delete(CardPseudonym).where(CardPseudonym.card_id == stranger.card_id))
        db.session.commit()
        db.session.remove()
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    refused = terminal_post(client, bus, TAPS, qr(stranger, "single"))
    assert (refused.status_code, code_of(refused)) == (409, "transit.no_card")
    with app.app_context():
        uses = db.session.execute(select(func.count()).select_from(CredentialUse)).scalar_one()
        db.session.remove()
    assert uses == 0

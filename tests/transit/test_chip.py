"""Card chip authentication: diversified keys, MACs over the terminal's challenge, the counter that
must grow, and online card taps."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from server.extensions import db
from server.registry import chip
from server.registry.models import Card
from server.transit.models import Tap
from tests.transit.conftest import count_rows, terminal_post, trips_of

MASTER = bytes(range(32))
CHALLENGE = bytes.fromhex("0102030405060708")


def test_a_card_key_is_diversified_from_the_master_key_by_serial():
    key = chip.diversify(MASTER, "A20000001")
    assert key == hmac.new(MASTER, b"SSC-CARD-KEY/v1A20000001", hashlib.sha256).digest()
    assert key != chip.diversify(MASTER, "A20000002")
    assert key != chip.diversify(bytes(32), "A20000001")


def test_the_mac_covers_the_challenge_and_the_counter():
    key = chip.diversify(MASTER, "A20000001")
    mac = chip.card_mac(key, CHALLENGE, 7)
    expected = hmac.new(key, b"SSC-CARD-AUTH/v1" + CHALLENGE + (7).to_bytes(4, "big"), "sha256")
    assert mac == expected.digest()[:8]
    assert len(mac) == 8
    assert mac != chip.card_mac(key, CHALLENGE, 8)
    assert mac != chip.card_mac(key, bytes(8), 7)
    assert chip.mac_matches(MASTER, "A20000001", CHALLENGE, 7, mac)
    assert not chip.mac_matches(MASTER, "A20000002", CHALLENGE, 7, mac)
    assert not chip.mac_matches(MASTER, "A20000001", CHALLENGE[:7], 7, mac)


def test_a_challenge_must_be_eight_bytes():
    with pytest.raises(ValueError):
        chip.card_mac(bytes(32), b"short", 1)


def test_an_emulated_card_counts_up_on_every_answer():
    card = chip.ChipCard.issued(MASTER, "A20000001")
    first, second = card.tap(CHALLENGE), card.tap(CHALLENGE)
    assert (first["counter"], second["counter"]) == (1, 2)
    assert first["mac"] != second["mac"]
    assert len(bytes.fromhex(first["challenge"])) == 8


def test_the_master_key_is_generated_once_in_the_keys_directory(app, keys_dir):
    path = os.path.join(keys_dir, "card_master.key")
    assert os.path.exists(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert len(app.extensions["ssc.keyring"].card_master) == 32


# --- the service -------------------------------------------------------------------------------


def authenticate(app, **answer):
    with app.app_context():
        try:
            card = chip.authenticate_card_tap(db.session, now=None, **answer)
            db.session.commit()
            return card.id
        finally:
            db.session.remove()


def answer_of(passenger, challenge=CHALLENGE):
    tap = passenger.chip.tap(challenge)
    return {
        "serial": tap["serial"],
        "challenge": challenge,
        "counter": tap["counter"],
        "mac": bytes.fromhex(tap["mac"]),
    }


def test_a_good_answer_authenticates_the_card_and_stores_its_counter(app, passenger):
    assert authenticate(app, **answer_of(passenger)) == passenger.card_id
    with app.app_context():
        assert db.session.get(Card, passenger.card_id).chip_counter == 1
        db.session.remove()


def test_a_counter_that_does_not_grow_is_a_clone(app, passenger):
    answer = answer_of(passenger)
    authenticate(app, **answer)
    with pytest.raises(Exception) as caught:
        authenticate(app, **answer)
    assert caught.value.code == "chip.counter_replayed"


# --- card taps over the terminal API -------------------------------------------------------------


def card_tap(passenger, kind="single", **extra):
    return {"kind": kind, "medium": "card", "card": passenger.chip.tap(os.urandom(8)), **extra}


def test_a_card_tap_with_a_good_mac_rides(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    response = terminal_post(client, bus, "/taps", card_tap(passenger))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["trip"]["charged_fen"] == 200
    [trip] = trips_of(app, passenger.card_id)
    assert trip.id == response.get_json()["trip"]["id"]


def test_a_card_tap_with_a_bad_mac_is_refused(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = card_tap(passenger)
    body["card"]["mac"] = "00" * 8
    response = terminal_post(client, bus, "/taps", body)
    assert (response.status_code, response.get_json()["code"]) == (403, "chip.bad_mac")
    assert count_rows(app, Tap) == 0


def test_a_replayed_card_answer_is_a_clone(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = card_tap(passenger)
    assert terminal_post(client, bus, "/taps", body).status_code == 200
    clone = terminal_post(client, bus, "/taps", body)
    assert (clone.status_code, clone.get_json()["code"]) == (409, "chip.counter_replayed")
    assert len(trips_of(app, passenger.card_id)) == 1


def test_a_cloned_card_behind_the_real_one_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    clone = chip.ChipCard(passenger.chip.serial, passenger.chip.key, passenger.chip.counter)
    assert terminal_post(client, bus, "/taps", card_tap(passenger)).status_code == 200
    assert terminal_post(client, bus, "/taps", card_tap(passenger)).status_code == 200
    copied = {"kind": "single", "medium": "card", "card": clone.tap(os.urandom(8))}
    response = terminal_post(client, bus, "/taps", copied)
    assert response.get_json()["code"] == "chip.counter_replayed"


def test_an_unknown_card_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    stranger = chip.ChipCard.issued(passenger.chip.key, "Z99999999")
    body = {"kind": "single", "medium": "card", "card": stranger.tap()}
    response = terminal_post(client, bus, "/taps", body)
    assert (response.status_code, response.get_json()["code"]) == (404, "chip.unknown_card")


def test_a_card_reported_lost_is_not_active(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=passenger.holder.headers)
    assert lost.status_code == 200, lost.get_json()
    response = terminal_post(client, bus, "/taps", card_tap(passenger))
    assert (response.status_code, response.get_json()["code"]) == (409, "card.not_active")


def test_a_card_pays_a_taxi_up_to_the_small_amount_cap(
    app, client, make_transit_terminal, passenger
):
    taxi = make_transit_terminal("taxi_meter", "gz-taxi", None)
    cap = app.config["SSC_ECARD_PER_USE_CAP_FEN"]
    ok = terminal_post(client, taxi, "/taps", card_tap(passenger, "taxi", amount_fen=cap))
    assert ok.get_json()["trip"]["charged_fen"] == cap
    over = terminal_post(client, taxi, "/taps", card_tap(passenger, "taxi", amount_fen=cap + 1))
    assert over.get_json()["code"] == "transit.amount_over_cap"


def test_a_malformed_card_answer_is_a_validation_error(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = card_tap(passenger)
    body["card"]["challenge"] = "abc"
    response = terminal_post(client, bus, "/taps", body)
    assert (response.status_code, response.get_json()["code"]) == (422, "request.validation_failed")

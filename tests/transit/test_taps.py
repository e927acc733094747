"""Online taps: ``POST /terminal/v1/taps`` decides in the request, records, and prices trips."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from server.clock import utcnow
from server.credentials.codec import Scene
from server.credentials.models import CredentialUse
from server.extensions import db
from server.terminals.models import Terminal
from server.transit.models import Tap, Trip
from tests.terminals.conftest import signed as signed_request
from tests.transit.conftest import count_rows, terminal_post, trips_of

TAPS = "/taps"


def qr(passenger, kind: str, **extra) -> dict:
    return {"kind": kind, "medium": "qr", "code": passenger.code(), **extra}


def test_a_metro_entry_and_exit_make_one_priced_trip(app, client, make_transit_terminal, passenger):
    entry_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    exit_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")

    entry = terminal_post(client, entry_gate, TAPS, qr(passenger, "entry"))
    assert entry.status_code == 200, entry.get_json()
    body = entry.get_json()
    assert body["result"] == "accepted"
    assert body["trip"]["status"] == "open"
    assert body["trip"]["from_stop_id"] == "gzm-xilang"

    exit_ = terminal_post(client, exit_gate, TAPS, qr(passenger, "exit"))
    assert exit_.status_code == 200, exit_.get_json()
    trip = exit_.get_json()["trip"]
    assert trip["id"] == body["trip"]["id"]
    assert trip["status"] == "complete"
    assert trip["to_stop_id"] == "gzm-gongyuanqian"
    assert trip["breakdown"]["base_fen"] == 400
    assert trip["charged_fen"] == 400
    assert trip["payment_status"] == "pending"
    [row] = trips_of(app, passenger.card_id)
    assert (row.entry_tap_id, row.exit_tap_id) == (body["tap_id"], exit_.get_json()["tap_id"])
    assert row.rider_categories == ""


def test_an_exit_at_the_entry_station_within_minutes_is_the_minimum_fare(
    client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    assert terminal_post(client, gate, TAPS, qr(passenger, "entry")).status_code == 200
    trip = terminal_post(client, gate, TAPS, qr(passenger, "exit")).get_json()["trip"]
    assert trip["charged_fen"] == 200
    assert "min_fare_same_station" in trip["breakdown"]["notes"]


def test_an_exit_without_an_entry_is_an_incomplete_trip_at_the_maximum_fare(
    client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    trip = terminal_post(client, gate, TAPS, qr(passenger, "exit")).get_json()["trip"]
    assert trip["status"] == "incomplete"
    assert trip["incomplete"] == "no_entry"
    assert trip["breakdown"]["notes"] == ["max_fare_no_entry"]
    assert trip["charged_fen"] > 400


def test_a_second_entry_within_minutes_is_refused_as_already_inside(
    app, client, make_transit_terminal, passenger
):
    one = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    other = make_transit_terminal("metro_gate", "gz-metro", "gzm-fangcun")
    assert terminal_post(client, one, TAPS, qr(passenger, "entry")).status_code == 200
    again = terminal_post(client, other, TAPS, qr(passenger, "entry"))
    assert (again.status_code, again.get_json()["code"]) == (409, "transit.already_inside")
    assert count_rows(app, Tap) == 1
    assert count_rows(app, CredentialUse) == 1  # the refused code was not recorded


def test_a_bus_tap_is_a_one_tap_trip(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert response.status_code == 200, response.get_json()
    trip = response.get_json()["trip"]
    assert (trip["status"], trip["mode"], trip["charged_fen"]) == ("complete", "bus", 200)


def test_a_ferry_takes_one_tap_too(client, make_transit_terminal, passenger):
    ferry = make_transit_terminal("bus_validator", "gz-ferry", None)
    trip = terminal_post(client, ferry, TAPS, qr(passenger, "single")).get_json()["trip"]
    assert (trip["mode"], trip["status"]) == ("ferry", "complete")


def test_a_senior_rides_the_bus_free(client, make_transit_terminal, make_passenger):
    senior = make_passenger(birth="19500312")
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    trip = terminal_post(client, bus, TAPS, qr(senior, "single")).get_json()["trip"]
    assert trip["charged_fen"] == 0
    assert trip["breakdown"]["rider_category_id"] == "senior_65_plus"


def test_a_taxi_fare_under_the_cap_is_the_metered_amount(client, make_transit_terminal, passenger):
    taxi = make_transit_terminal("taxi_meter", "gz-taxi", None)
    response = terminal_post(client, taxi, TAPS, qr(passenger, "taxi", amount_fen=3650))
    assert response.status_code == 200, response.get_json()
    trip = response.get_json()["trip"]
    assert (trip["mode"], trip["charged_fen"]) == ("taxi", 3650)
    assert "metered" in trip["breakdown"]["notes"]


def test_a_taxi_fare_over_the_certificates_cap_is_refused_and_nothing_recorded(
    app, client, make_transit_terminal, passenger
):
    taxi = make_transit_terminal("taxi_meter", "gz-taxi", None)
    over = app.config["SSC_ECARD_PER_USE_CAP_FEN"] + 1
    response = terminal_post(client, taxi, TAPS, qr(passenger, "taxi", amount_fen=over))
    assert (response.status_code, response.get_json()["code"]) == (403, "transit.amount_over_cap")
    assert count_rows(app, Tap) == count_rows(app, Trip) == count_rows(app, CredentialUse) == 0


def test_a_taxi_tap_needs_the_metered_amount(client, make_transit_terminal, passenger):
    taxi = make_transit_terminal("taxi_meter", "gz-taxi", None)
    response = terminal_post(client, taxi, TAPS, qr(passenger, "taxi"))
    assert response.get_json()["code"] == "transit.amount_required"


def test_a_tap_at_a_station_that_is_not_the_terminals_is_refused(
    client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    response = terminal_post(client, gate, TAPS, qr(passenger, "entry", stop_id="gzm-fangcun"))
    assert (response.status_code, response.get_json()["code"]) == (409, "transit.wrong_station")


def test_the_same_code_tapped_twice_is_replayed(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = qr(passenger, "single")
    assert terminal_post(client, bus, TAPS, body).status_code == 200
    again = terminal_post(client, bus, TAPS, body)
    assert (again.status_code, again.get_json()["code"]) == (409, "credential.replayed")
    assert len(trips_of(app, passenger.card_id)) == 1


def test_a_replayed_request_is_refused_by_its_nonce(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = qr(passenger, "single")
    first = signed_request(client, bus, "POST", "/terminal/v1/taps", json_body=body, nonce="n" * 20)
    assert first.status_code == 200
    copy = signed_request(client, bus, "POST", "/terminal/v1/taps", json_body=body, nonce="n" * 20)
    assert copy.get_json()["code"] == "terminal.nonce_reused"
    assert count_rows(app, Tap) == 1


def test_a_code_for_another_scene_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    body = {"kind": "single", "medium": "qr", "code": passenger.code(scene=Scene.LIBRARY)}
    response = terminal_post(client, bus, TAPS, body)
    assert (response.status_code, response.get_json()["code"]) == (403, "credential.wrong_scene")


def test_an_unknown_terminal_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    bus.code = "GZT-NOPE-0001"
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (response.status_code, response.get_json()["code"]) == (401, "terminal.unknown")


def test_a_disabled_terminal_is_refused(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    with app.app_context():
        db.session.get(Terminal, bus.id).status = "disabled"
        db.session.commit()
        db.session.remove()
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (response.status_code, response.get_json()["code"]) == (403, "terminal.disabled")


def test_a_bad_signature_is_refused(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    bus.secret = "not-the-secret"
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (response.status_code, response.get_json()["code"]) == (401, "terminal.bad_signature")
    assert count_rows(app, Tap) == 0


def test_a_terminal_without_a_placement_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", placed=False)
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert (response.status_code, response.get_json()["code"]) == (409, "transit.not_placed")


def test_a_kind_the_terminal_does_not_take_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    response = terminal_post(client, bus, TAPS, qr(passenger, "entry"))
    assert (response.status_code, response.get_json()["code"]) == (422, "transit.kind_not_allowed")


def test_a_tap_from_the_future_is_refused(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    later = (utcnow() + timedelta(hours=1)).isoformat()
    response = terminal_post(client, bus, TAPS, qr(passenger, "single", tapped_at=later))
    assert (response.status_code, response.get_json()["code"]) == (422, "transit.tap_in_future")


def test_a_library_gate_cannot_take_transit_taps(client, make_transit_terminal, passenger):
    library = make_transit_terminal("library_gate", "gz-bus", None)
    response = terminal_post(client, library, TAPS, qr(passenger, "single"))
    assert response.get_json()["code"] == "transit.kind_not_allowed"


def test_a_qr_tap_without_a_code_is_invalid(client, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    response = terminal_post(client, bus, TAPS, {"kind": "single", "medium": "qr"})
    assert (response.status_code, response.get_json()["code"]) == (422, "request.validation_failed")


def test_a_lost_cards_code_is_refused_at_once(app, client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=passenger.holder.headers)
    assert lost.status_code in (200, 201), lost.get_json()
    response = terminal_post(client, bus, TAPS, qr(passenger, "single"))
    assert response.get_json()["code"] == "credential.revoked"


@pytest.mark.postgres_only
def test_the_same_presentation_at_two_online_gates_at_once_is_accepted_once(
    app, make_transit_terminal, passenger
):
    gates = [make_transit_terminal("bus_validator", "gz-bus", None) for _ in range(4)]
    body = qr(passenger, "single")
    barrier = threading.Barrier(len(gates))
    outcomes: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def tap(gate) -> None:
        with app.test_client() as own:
            barrier.wait()
            response = terminal_post(own, gate, TAPS, body)
            with lock:
                outcomes.append((response.status_code, response.get_json().get("code")))

    threads = [threading.Thread(target=tap, args=(g,)) for g in gates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes, key=str) == [(200, None)] + [(409, "credential.replayed")] * 3
    assert len(trips_of(app, passenger.card_id)) == 1
    assert count_rows(app, CredentialUse) == 1

"""Offline batches: ``POST /terminal/v1/tap-batches`` — a result per tap, idempotent by batch id
and by (terminal, local_seq), double use across gates, revocation as it was at the tap."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from server.clock import utcnow
from server.credentials.codec import Scene
from server.transit.models import Tap, TapBatch, Trip
from tests.transit.conftest import count_rows, terminal_post, trips_of

BATCHES = "/tap-batches"


def qr_tap(passenger, seq: int, kind: str = "single", at=None, **extra) -> dict:
    at = at or utcnow()
    return {
        "local_seq": seq,
        "kind": kind,
        "medium": "qr",
        "code": passenger.code(at),
        "tapped_at": at.isoformat(),
        **extra,
    }


def card_tap(passenger, seq: int, kind: str = "single", at=None) -> dict:
    at = at or utcnow()
    return {
        "local_seq": seq,
        "kind": kind,
        "medium": "card",
        "card": passenger.chip.tap(),
        "tapped_at": at.isoformat(),
    }


def upload(client, terminal, taps, batch_id=None):
    body = {"batch_id": batch_id or str(uuid.uuid4()), "taps": taps}
    return terminal_post(client, terminal, BATCHES, body)


def results(response) -> list[tuple]:
    assert response.status_code == 200, response.get_json()
    return [(r["local_seq"], r["result"], r["code"]) for r in response.get_json()["results"]]


def test_a_batch_mixing_good_and_bad_taps_gives_a_result_per_tap_and_keeps_the_good_ones(
    app, client, make_transit_terminal, make_passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    alice, bob = make_passenger(), make_passenger()
    at = utcnow() - timedelta(seconds=20)
    bad_mac = card_tap(bob, 8, "entry", at)
    bad_mac["card"]["mac"] = "00" * 8
    taps = [
        qr_tap(alice, 1, "entry", at),
        qr_tap(alice, 2, "entry", at, stop_id="gzm-fangcun"),
        {**qr_tap(alice, 3, "entry", at), "code": "SC1:" + "0" * 305},
        {**qr_tap(alice, 4, "entry", at), "code": alice.code(at, scene=Scene.LIBRARY)},
        qr_tap(alice, 5, "single", at),
        qr_tap(alice, 6, "entry", utcnow() + timedelta(hours=2)),
        qr_tap(alice, 1, "entry", at),
        bad_mac,
        card_tap(bob, 9, "entry", at),
    ]
    response = upload(client, gate, taps)
    assert results(response) == [
        (1, "accepted", None),
        (2, "refused", "transit.wrong_station"),
        (3, "refused", "credential.malformed"),
        (4, "refused", "credential.wrong_scene"),
        (5, "refused", "transit.kind_not_allowed"),
        (6, "refused", "transit.tap_in_future"),
        (1, "duplicate", None),
        (8, "refused", "chip.bad_mac"),
        (9, "accepted", None),
    ]
    out = response.get_json()
    assert (out["accepted"], out["refused"], out["duplicate"]) == (2, 6, 1)
    first, wrong_station, repeat, card = (out["results"][i] for i in (0, 1, 6, 8))
    assert first["trip_id"] and card["trip_id"]
    assert (repeat["tap_id"], repeat["trip_id"]) == (first["tap_id"], first["trip_id"])
    assert wrong_station["tap_id"] and wrong_station["trip_id"] is None  # kept for review
    assert count_rows(app, Tap) == 8  # every tap stored once, refused ones with their code
    assert [t.status for t in trips_of(app, alice.card_id)] == ["open"]
    assert [t.status for t in trips_of(app, bob.card_id)] == ["open"]


def test_re_uploading_a_batch_returns_the_same_results_and_charges_nothing_twice(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    at = utcnow() - timedelta(seconds=30)
    taps = [qr_tap(passenger, n, at=at + timedelta(seconds=n)) for n in range(1, 4)]
    first = upload(client, bus, taps, batch_id="gate-7-batch-0001")
    again = upload(client, bus, taps, batch_id="gate-7-batch-0001")
    assert again.get_json() == first.get_json()
    assert [r[1] for r in results(first)] == ["accepted"] * 3
    assert len(trips_of(app, passenger.card_id)) == 3
    assert count_rows(app, Tap) == 3
    assert count_rows(app, TapBatch) == 1


def test_overlapping_local_sequences_in_a_new_batch_are_duplicates(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    at = utcnow() - timedelta(seconds=30)
    taps = [qr_tap(passenger, n, at=at + timedelta(seconds=n)) for n in range(1, 5)]
    first = upload(client, bus, taps[:3])
    second = upload(client, bus, taps[1:])
    assert [r[1] for r in results(second)] == ["duplicate", "duplicate", "accepted"]
    originals = {r["local_seq"]: r["trip_id"] for r in first.get_json()["results"]}
    assert second.get_json()["results"][0]["trip_id"] == originals[2]
    assert len(trips_of(app, passenger.card_id)) == 4
    charged = sum(t.charged_fen for t in trips_of(app, passenger.card_id))
    assert charged == 4 * 200


def test_one_presentation_at_two_gates_in_two_batches_is_a_double_use(
    app, client, make_transit_terminal, passenger
):
    one = make_transit_terminal("bus_validator", "gz-bus", None)
    other = make_transit_terminal("bus_validator", "gz-bus", None)
    tap = qr_tap(passenger, 1, at=utcnow() - timedelta(seconds=10))
    assert results(upload(client, one, [tap])) == [(1, "accepted", None)]
    second = upload(client, other, [{**tap, "local_seq": 40}])
    assert results(second) == [(40, "double_use", "credential.replayed")]
    assert second.get_json()["results"][0]["tap_id"] is not None  # kept for fraud review
    assert len(trips_of(app, passenger.card_id)) == 1


def test_a_code_accepted_online_and_uploaded_by_a_gate_is_a_double_use(
    app, client, make_transit_terminal, passenger
):
    online = make_transit_terminal("bus_validator", "gz-bus", None)
    offline = make_transit_terminal("bus_validator", "gz-bus", None)
    tap = qr_tap(passenger, 1, at=utcnow() - timedelta(seconds=5))
    body = {"kind": "single", "medium": "qr", "code": tap["code"]}
    assert terminal_post(client, online, "/taps", body).status_code == 200
    assert results(upload(client, offline, [tap])) == [(1, "double_use", "credential.replayed")]
    assert len(trips_of(app, passenger.card_id)) == 1


def test_a_card_answer_uploaded_by_two_gates_is_charged_once(
    app, client, make_transit_terminal, passenger
):
    one = make_transit_terminal("bus_validator", "gz-bus", None)
    other = make_transit_terminal("bus_validator", "gz-bus", None)
    tap = card_tap(passenger, 1, at=utcnow() - timedelta(seconds=5))
    assert results(upload(client, one, [tap])) == [(1, "accepted", None)]
    assert results(upload(client, other, [tap])) == [(1, "double_use", "chip.counter_replayed")]
    assert len(trips_of(app, passenger.card_id)) == 1


def test_a_card_revoked_after_the_tap_was_right_at_the_gate(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    tap = qr_tap(passenger, 1, at=utcnow() - timedelta(seconds=20))
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=passenger.holder.headers)
    assert lost.status_code == 200
    assert results(upload(client, bus, [tap])) == [(1, "accepted", None)]


def test_a_code_tapped_after_the_card_was_revoked_is_refused(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=passenger.holder.headers)
    assert lost.status_code == 200
    tap = qr_tap(passenger, 1, at=utcnow() + timedelta(seconds=2))
    assert results(upload(client, bus, [tap])) == [(1, "refused", "credential.revoked")]
    assert trips_of(app, passenger.card_id) == []


def test_an_entry_and_an_exit_uploaded_by_different_gates_pair_into_one_trip(
    app, client, make_transit_terminal, passenger
):
    entry_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    exit_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    entered = utcnow() - timedelta(seconds=50)
    entry = qr_tap(passenger, 1, "entry", entered)
    exit_ = qr_tap(passenger, 1, "exit", entered + timedelta(seconds=40))
    assert results(upload(client, entry_gate, [entry])) == [(1, "accepted", None)]
    assert results(upload(client, exit_gate, [exit_])) == [(1, "accepted", None)]
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.charged_fen, trip.payment_status) == ("complete", 400, "pending")


def test_an_exit_uploaded_before_its_entry_still_pairs_while_unpaid(
    app, client, make_transit_terminal, passenger
):
    entry_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    exit_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    entered = utcnow() - timedelta(seconds=50)
    entry = qr_tap(passenger, 1, "entry", entered)
    exit_ = qr_tap(passenger, 1, "exit", entered + timedelta(seconds=40))
    upload(client, exit_gate, [exit_])
    [alone] = trips_of(app, passenger.card_id)
    assert (alone.incomplete, alone.status) == ("no_entry", "incomplete")
    upload(client, entry_gate, [entry])
    [trip] = trips_of(app, passenger.card_id)
    assert trip.id == alone.id
    assert (trip.status, trip.incomplete, trip.charged_fen) == ("complete", None, 400)
    assert (trip.from_stop_id, trip.to_stop_id) == ("gzm-xilang", "gzm-gongyuanqian")


def test_a_gate_cannot_reuse_another_gates_batch_id(client, make_transit_terminal, passenger):
    one = make_transit_terminal("bus_validator", "gz-bus", None)
    other = make_transit_terminal("bus_validator", "gz-bus", None)
    upload(client, one, [qr_tap(passenger, 1)], batch_id="same-id")
    response = upload(client, other, [qr_tap(passenger, 2)], batch_id="same-id")
    assert (response.status_code, response.get_json()["code"]) == (
        409,
        "request.idempotency_conflict",
    )


def test_taps_from_an_unplaced_terminal_are_refused_and_kept(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", placed=False)
    assert results(upload(client, bus, [qr_tap(passenger, 1)])) == [
        (1, "refused", "transit.not_placed")
    ]
    assert count_rows(app, Tap) == 1


def test_a_batch_with_a_bad_signature_is_refused_whole(app, client, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    bus.secret = "wrong"
    response = upload(client, bus, [])
    assert (response.status_code, response.get_json()["code"]) == (401, "terminal.bad_signature")
    assert count_rows(app, TapBatch) == 0


def test_a_batch_of_more_than_5000_taps_is_refused(client, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    at = utcnow().isoformat()
    taps = [
        {"local_seq": n, "kind": "single", "medium": "qr", "code": "x", "tapped_at": at}
        for n in range(5001)
    ]
    response = upload(client, bus, taps)
    assert (response.status_code, response.get_json()["code"]) == (422, "request.validation_failed")


def test_a_batch_may_be_larger_than_the_usual_body_limit(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    start = utcnow()
    taps = [qr_tap(passenger, n, at=start + timedelta(milliseconds=10 * n)) for n in range(2700)]
    body_size = sum(len(t["code"]) + 120 for t in taps)
    assert body_size > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, bus, taps)
    out = response.get_json()
    assert response.status_code == 200, out
    assert out["accepted"] == 2700
    trips = trips_of(app, passenger.card_id)
    assert len(trips) == 2700
    assert sum(t.charged_fen for t in trips) == 1500  # the daily cap (¥15) holds in one batch


@pytest.mark.postgres_only
def test_the_same_batch_uploaded_twice_at_once_is_processed_once(
    app, make_transit_terminal, passenger
):
    gate = make_transit_terminal("bus_validator", "gz-bus", None)
    at = utcnow() - timedelta(seconds=30)
    taps = [qr_tap(passenger, n, at=at + timedelta(seconds=n)) for n in range(1, 21)]
    barrier = threading.Barrier(2)
    bodies: list = []
    lock = threading.Lock()

    def send() -> None:
        with app.test_client() as own:
            barrier.wait()
            response = upload(own, gate, taps, batch_id="concurrent-1")
            with lock:
                bodies.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [status for status, _ in bodies] == [200, 200]
    assert bodies[0][1] == bodies[1][1]
    assert len(trips_of(app, passenger.card_id)) == 20
    assert count_rows(app, Trip) == 20
    assert count_rows(app, Tap) == 20


def test_whatever_a_broken_gate_sends_is_kept_verbatim(app, client, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    odd = {"local_seq": 1, "kind": 'en"t\\ry', "medium": "qr", "code": "NULL"}
    response = upload(client, bus, [{**odd, "tapped_at": utcnow().isoformat()}])
    assert results(response) == [(1, "refused", "request.validation_failed")]
    with app.app_context():
        from server.extensions import db

        tap = db.session.query(Tap).one()
        assert (tap.kind, tap.medium, tap.result) == ('en"t\\ry', "qr", "refused")
        db.session.remove()

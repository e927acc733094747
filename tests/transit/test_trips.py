"""Trips over time: entries left open, bicycles, pricing glue, and placing terminals."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from server.clock import local_date, utcnow
from server.extensions import db
from server.transit import service
from server.transit.models import TerminalPlacement, Trip
from tests.transit.conftest import terminal_post, trips_of


def entry_at(client, gate, passenger, at, kind="entry"):
    body = {"kind": kind, "medium": "qr", "code": passenger.code(), "tapped_at": at.isoformat()}
    response = terminal_post(client, gate, "/taps", body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_an_entry_without_an_exit_becomes_a_maximum_fare_after_the_exit_timeout(
    app, client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    entered = utcnow() - timedelta(minutes=5)
    entry_at(client, gate, passenger, entered)
    with app.app_context():
        assert service.close_open_trips(db.session, entered + timedelta(minutes=239)) == 0
        assert service.close_open_trips(db.session, entered + timedelta(minutes=241)) == 1
        db.session.remove()
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.incomplete, trip.payment_status) == (
        "incomplete",
        "no_exit",
        "pending",
    )
    assert trip.notes == "max_fare_no_exit"
    assert trip.charged_fen == trip.base_fen > 400


def test_the_cli_closes_entries_left_open(app, client, runner, make_transit_terminal, passenger):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    entry_at(client, gate, passenger, utcnow() - timedelta(hours=5))
    result = runner.invoke(args=["transit", "close-open-trips"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"closed": 1}
    assert [t.incomplete for t in trips_of(app, passenger.card_id)] == ["no_exit"]


def test_a_new_entry_long_after_the_last_closes_it_as_no_exit(
    app, client, make_transit_terminal, passenger
):
    gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    entry_at(client, gate, passenger, utcnow() - timedelta(minutes=40))
    fresh = entry_at(client, gate, passenger, utcnow())
    old, new = trips_of(app, passenger.card_id)
    assert (old.status, old.incomplete) == ("incomplete", "no_exit")
    assert (new.status, new.id) == ("open", fresh["trip"]["id"])


def test_a_bicycle_pays_by_the_started_half_hour_after_the_free_hour(
    client, make_transit_terminal, passenger
):
    dock = make_transit_terminal("bike_dock", "gz-bike", "gzm-xilang")
    entry_at(client, dock, passenger, utcnow() - timedelta(minutes=89), kind="bike_out")
    returned = entry_at(client, dock, passenger, utcnow(), kind="bike_in")
    assert returned["trip"]["charged_fen"] == 100
    assert returned["trip"]["mode"] == "bicycle"


def test_the_daily_cap_stops_charging_the_same_day(client, make_transit_terminal, passenger):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    charged = []
    for _ in range(9):
        body = {"kind": "single", "medium": "qr", "code": passenger.code()}
        charged.append(terminal_post(client, bus, "/taps", body).get_json()["trip"]["charged_fen"])
    assert sum(charged) == 1500
    assert charged[-1] == 0


def test_price_trip_prices_a_stored_trip_from_the_registry(app, demo_fares, passenger):
    started = utcnow() - timedelta(minutes=30)
    with app.app_context():
        trip = Trip(
            card_id=passenger.card_id,
            network_id="gz-metro",
            operator_id="gzmetro",
            mode="metro",
            city_code="440100",
            home_city="440100",
            rider_categories="",
            from_stop_id="gzm-xilang",
            to_stop_id="gzm-fangcun",
            started_at=started,
            ended_at=started + timedelta(minutes=10),
            service_date=local_date(started),
            status="complete",
            payment_status="unpriced",
            created_at=started,
        )
        db.session.add(trip)
        db.session.flush()
        service.price_trip(db.session, trip, utcnow())
        db.session.commit()
        assert (trip.charged_fen, trip.payment_status, trip.base_fen) == (200, "pending", 200)
        assert trip.fare_product_id == "gz-metro-2yuan"
        db.session.remove()


# --- placing terminals -------------------------------------------------------------------------


def place(client, staff, terminal_id, **body):
    return client.post(
        f"/staff/v1/terminals/{terminal_id}/placement", json=body, headers=staff.headers
    )


def test_a_city_admin_places_a_gate_at_its_station(app, client, city_admin, make_transit_terminal):
    gate = make_transit_terminal("metro_gate", placed=False)
    response = place(client, city_admin, gate.id, network_id="gz-metro", stop_id="gzm-fangcun")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stop_id"] == "gzm-fangcun"
    moved = place(client, city_admin, gate.id, network_id="gz-metro", stop_id="gzm-huangsha")
    assert moved.get_json()["stop_id"] == "gzm-huangsha"
    with app.app_context():
        assert db.session.get(TerminalPlacement, gate.id).stop_id == "gzm-huangsha"
        db.session.remove()


def test_a_placement_needs_a_network_and_a_stop_from_the_fare_data(
    client, city_admin, make_transit_terminal
):
    gate = make_transit_terminal("metro_gate", placed=False)
    unknown = place(client, city_admin, gate.id, network_id="nowhere", stop_id="gzm-xilang")
    assert (unknown.status_code, unknown.get_json()["code"]) == (422, "transit.unknown_network")
    no_stop = place(client, city_admin, gate.id, network_id="gz-metro", stop_id="nope")
    assert no_stop.get_json()["code"] == "transit.unknown_stop"
    missing = place(client, city_admin, gate.id, network_id="gz-metro")
    assert missing.get_json()["code"] == "request.validation_failed"


def test_a_bus_validator_needs_no_stop(client, city_admin, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", placed=False)
    assert place(client, city_admin, bus.id, network_id="gz-bus").status_code == 200


def test_placing_is_for_transit_terminals_in_scope(
    client, city_admin, make_staff, make_transit_terminal
):
    library = make_transit_terminal("library_gate", placed=False)
    response = place(client, city_admin, library.id, network_id="gz-bus")
    assert response.get_json()["code"] == "terminal.scene_not_allowed"
    zhuhai_admin = make_staff("city_admin", "440400")
    bus = make_transit_terminal("bus_validator", placed=False)
    response = place(client, zhuhai_admin, bus.id, network_id="gz-bus")
    assert (response.status_code, response.get_json()["code"]) == (403, "auth.out_of_scope")
    missing = place(client, city_admin, 999999, network_id="gz-bus")
    assert missing.get_json()["code"] == "terminal.not_found"


def test_branch_staff_cannot_place_terminals(client, branch, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", placed=False)
    response = place(client, branch, bus.id, network_id="gz-bus")
    assert (response.status_code, response.get_json()["code"]) == (403, "auth.forbidden")


def test_a_metro_ride_soon_after_a_bus_ride_gets_the_transfer_discount(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    entry_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang")
    exit_gate = make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian")
    entry_at(client, bus, passenger, utcnow() - timedelta(minutes=30), kind="single")
    entry_at(client, entry_gate, passenger, utcnow() - timedelta(minutes=20))
    trip = entry_at(client, exit_gate, passenger, utcnow(), kind="exit")["trip"]
    assert trip["breakdown"]["transfer_fen"] == 100
    assert trip["charged_fen"] == 300
    assert "transfer" in trip["breakdown"]["notes"]
    assert [t.transfer_count for t in trips_of(app, passenger.card_id)] == [0, 1]


def test_pricing_a_trip_again_does_not_count_its_old_fare(
    app, client, make_transit_terminal, passenger
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    for _ in range(7):
        body = {"kind": "single", "medium": "qr", "code": passenger.code()}
        terminal_post(client, bus, "/taps", body)
    with app.app_context():
        last = db.session.query(Trip).order_by(Trip.id.desc()).first()
        assert last.charged_fen == 200  # 7 × ¥2 = ¥14, under the ¥15 daily cap
        service.price_trip(db.session, last, utcnow())
        assert last.charged_fen == 200
        db.session.rollback()
        db.session.remove()


def test_history_bound_starts_no_later_than_the_shanghai_midnight_of_each_day():
    """The history queries bound ``started_at`` for the index; no ride of a counted day may fall
    before the bound (a ride at 00:00 Shanghai is 16:00 UTC the day before)."""
    from datetime import UTC, date, datetime, time

    from server.clock import SHANGHAI

    day = date(2026, 1, 1)
    while day.year == 2026:
        midnight = datetime.combine(day, time(), SHANGHAI).astimezone(UTC)
        assert service._started_from(day) <= midnight
        assert midnight - service._started_from(day) <= timedelta(days=1)
        day += timedelta(days=1)


def test_rides_in_the_first_minutes_of_a_month_count_towards_the_volume_discount(
    app, client, make_transit_terminal, passenger, make_trip
):
    """Fifteen paid rides made at 00:05 Shanghai on the 1st (16:05 UTC the month before) are this
    month's; three at 23:55 on the last day of last month are not. The next bus ride is the 16th
    paid one: 40 % off (both backends: PostgreSQL's tap statements, SQLite's query)."""
    from datetime import datetime, time

    from server.clock import SHANGHAI

    local_now = utcnow().astimezone(SHANGHAI)
    month_start = datetime.combine(local_now.date().replace(day=1), time(), SHANGHAI)
    if local_now.day == 1:
        pytest.skip("on the 1st the month's rides would also reach the day cap")
    for i in range(3):
        make_trip(passenger.card_id, mode="bus", network="gz-bus", operator="gzbus", base=200,
                  started_at=month_start - timedelta(minutes=5 + i))  # fmt: skip
    for i in range(15):
        make_trip(passenger.card_id, mode="bus", network="gz-bus", operator="gzbus", base=200,
                  started_at=month_start + timedelta(minutes=5, seconds=i))  # fmt: skip
    validator = make_transit_terminal("bus_validator", "gz-bus", None)
    trip = entry_at(client, validator, passenger, utcnow(), kind="single")["trip"]
    assert (trip["breakdown"]["base_fen"], trip["breakdown"]["volume_fen"]) == (200, 80)
    assert trip["charged_fen"] == 120

"""Calling the bank while the holder keeps riding: collection and repayment hold no lock during
the bank call, a fare asked of the bank is never re-priced, and a late tap joins a trip already
charged instead of paying twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.clock import utcnow
from server.extensions import db
from server.transit import service
from server.transit.models import Debt, Tap
from tests.transit.conftest import (
    MAX_FARE,
    collect,
    collected_no_entry_trip,
    count_rows,
    fare_lines,
    pausing,
    tap_online,
    trips_of,
    upload_one,
)


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


def while_the_bank_waits(sim_bank, monkeypatch, call: Callable, taps: Callable) -> None:
    """Run ``call`` (it asks the bank) and, while its debit is held, ``taps``: they must be done
    within 10 s, before the bank has answered."""
    slow_debit, inside, release = pausing(sim_bank.debit)
    monkeypatch.setattr(sim_bank, "debit", slow_debit)
    caller = threading.Thread(target=call)
    caller.start()
    try:
        assert inside.wait(30)
        tapping = threading.Thread(target=taps)
        tapping.start()
        tapping.join(10)
        assert not tapping.is_alive(), "a tap waited for the bank"
        assert caller.is_alive()  # the bank has not answered yet
    finally:
        release.set()
        caller.join(30)


def tap_trip_ids(app) -> list[int | None]:
    with app.app_context():
        ids = list(db.session.execute(select(Tap.trip_id).order_by(Tap.id)).scalars())
        db.session.remove()
    return ids


def test_a_late_exit_after_the_maximum_fare_was_collected_joins_that_trip_uncharged(
    app, client, ride, passenger, sim_bank
):
    assert collect(app, ride.trip_id).status == "paid"

    # The exit gate was offline; its batch arrives after the fare was collected.
    result = ride.late_exit_offline(client)

    assert (result["result"], result["trip_id"]) == ("accepted", ride.trip_id)
    [trip] = trips_of(app, passenger.card_id)  # no second trip at a second maximum fare
    assert (trip.id, trip.incomplete, trip.payment_status) == (ride.trip_id, "no_exit", "paid")
    assert tap_trip_ids(app) == [ride.trip_id, ride.trip_id]
    assert sim_bank.balance(ride.account) == 10_000 - MAX_FARE

    # The holder sees the exit beside the maximum fare it came too late to change.
    [seen] = client.get("/mobile/v1/trips", headers=passenger.holder.headers).get_json()["trips"]
    assert (seen["id"], seen["incomplete"], seen["breakdown"]["charged_fen"]) == (
        ride.trip_id,
        "no_exit",
        MAX_FARE,
    )
    assert [(t["kind"], t["stop_id"]) for t in seen["late_taps"]] == [("exit", "gzm-gongyuanqian")]


@pytest.mark.parametrize("online", [False, True], ids=["offline", "online"])
def test_only_one_late_tap_joins_a_charged_trip(app, client, ride, passenger, sim_bank, online):
    """A second exit without an entry is another ride: it pays as one (its own maximum fare),
    not swallowed by the trip whose late exit already arrived."""
    assert collect(app, ride.trip_id).status == "paid"
    first = ride.late_exit_offline(client)
    later = ride.entered + timedelta(seconds=35)
    if online:  # on PostgreSQL the online tap reads the history with its own statement
        response = tap_online(client, ride.exit_gate, passenger, "exit", later)
        assert response.status_code == 200, response.get_json()
        second_trip = response.get_json()["trip"]["id"]
    else:
        second = upload_one(client, ride.exit_gate, passenger, "exit", later, seq=2)
        assert second["result"] == "accepted"
        second_trip = second["trip_id"]

    assert (first["result"], first["trip_id"]) == ("accepted", ride.trip_id)
    assert second_trip != ride.trip_id
    other = [t for t in trips_of(app, passenger.card_id) if t.id != ride.trip_id]
    # its own maximum fare, up to what the day's cap (¥15) leaves after the first ride's ¥8
    assert [(t.incomplete, t.base_fen, t.charged_fen) for t in other] == [
        ("no_entry", MAX_FARE, 1500 - MAX_FARE)
    ]


def test_a_late_entry_after_the_maximum_fare_was_collected_joins_that_trip_uncharged(
    app, client, gates, passenger, bank_account, sim_bank
):
    entry_gate, exit_gate = gates
    number = bank_account(passenger.card_id, 10_000)
    trip_id, exited = collected_no_entry_trip(app, client, exit_gate, passenger)

    result = upload_one(client, entry_gate, passenger, "entry", exited - timedelta(seconds=30))

    assert (result["result"], result["trip_id"]) == ("accepted", trip_id)
    [trip] = trips_of(app, passenger.card_id)  # no open trip left to become a no_exit fare
    assert (trip.incomplete, trip.payment_status, trip.charged_fen) == (
        "no_entry",
        "paid",
        MAX_FARE,
    )
    assert sim_bank.balance(number) == 10_000 - MAX_FARE


def test_a_late_exit_before_any_collection_still_completes_the_trip_at_its_fare(
    app, client, ride, passenger
):
    result = ride.late_exit_offline(client)

    assert (result["result"], result["trip_id"]) == ("accepted", ride.trip_id)
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.incomplete, trip.charged_fen) == ("complete", None, 400)
    assert collect(app, ride.trip_id).status == "paid"
    assert fare_lines(app, ride.trip_id) == [400]
    [seen] = client.get("/mobile/v1/trips", headers=passenger.holder.headers).get_json()["trips"]
    assert (seen["status"], seen["late_taps"]) == ("complete", [])  # the exit completed it


def test_a_fare_whose_debit_went_unanswered_is_not_re_priced_and_is_charged_once(
    app, client, ride, passenger, sim_bank
):
    """The bank took the maximum fare but the answer was lost. An exit uploaded meanwhile must
    not change the amount: the retry under trip:<id> with another amount would be refused
    (``bank.idempotency_conflict``) and the paid ride turned into a debt."""
    sim_bank.fail_next("timeout")
    asked = utcnow()
    assert collect(app, ride.trip_id, asked).code == "bank.timeout"

    result = ride.late_exit_offline(client)
    assert (result["result"], result["trip_id"]) == ("accepted", ride.trip_id)
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.incomplete, trip.charged_fen, trip.payment_status) == (
        "no_exit",
        MAX_FARE,
        "pending",
    )

    retried = collect(app, ride.trip_id, asked + timedelta(minutes=5))
    assert retried.status == "paid"
    assert count_rows(app, Debt) == 0
    assert fare_lines(app, ride.trip_id) == [MAX_FARE]
    assert sim_bank.balance(ride.account) == 10_000 - MAX_FARE
    assert sim_bank.movements == 1


# --- on PostgreSQL, with two transactions at once ----------------------------------------------


@pytest.mark.postgres_only
def test_a_slow_bank_holds_up_no_tap_of_the_holder(
    app, ride, make_transit_terminal, passenger, sim_bank, monkeypatch
):
    """While the bank takes its time over the maximum fare, the holder's late exit and their next
    bus ride are decided at once (before: the exit waited for the trip row the collection held
    through the bank call)."""
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    outcomes: list = []
    answers: list = []

    def taps() -> None:
        own = app.test_client()
        answers.append(ride.late_exit_online(own))
        answers.append(tap_online(own, bus, passenger, "single", utcnow()))

    while_the_bank_waits(
        sim_bank, monkeypatch, lambda: outcomes.append(collect(app, ride.trip_id)), taps
    )

    late_exit, bus_ride = answers
    assert late_exit.status_code == 200, late_exit.get_json()
    assert late_exit.get_json()["trip"]["id"] == ride.trip_id
    assert bus_ride.status_code == 200, bus_ride.get_json()
    assert [o.status for o in outcomes] == ["paid"]
    assert fare_lines(app, ride.trip_id) == [MAX_FARE]
    assert sim_bank.balance(ride.account) == 10_000 - MAX_FARE


@pytest.mark.postgres_only
def test_a_trip_re_priced_while_the_collector_starts_is_charged_its_new_fare(
    app, ride, passenger, sim_bank, monkeypatch
):
    """A late exit completes the no_exit trip (¥4 instead of the maximum) and, before it commits,
    the collection job picks the trip: the job waits for the card the tap holds and then asks the
    bank for ¥4 — before, it locked only the trip, took the maximum, and the tap's update then
    wrote the trip back to ¥4 pending over the collected one."""
    paused, inside, release = pausing(service._pg_write_and_commit)
    monkeypatch.setattr(service, "_pg_write_and_commit", paused)
    answers: list = []
    outcomes: list = []
    tapping = threading.Thread(
        target=lambda: answers.append(ride.late_exit_online(app.test_client()))
    )
    tapping.start()
    try:
        assert inside.wait(30)  # the tap holds the card and has re-priced the trip, uncommitted
        collector = threading.Thread(target=lambda: outcomes.append(collect(app, ride.trip_id)))
        collector.start()
        collector.join(1.0)
        assert collector.is_alive()  # waits for the card row
    finally:
        release.set()
        tapping.join(30)
        collector.join(30)

    [answer] = answers
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["trip"]["charged_fen"] == 400
    assert [o.status for o in outcomes] == ["paid"]
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.charged_fen, trip.payment_status) == ("complete", 400, "paid")
    assert fare_lines(app, ride.trip_id) == [400]
    assert sim_bank.balance(ride.account) == 10_000 - 400


@pytest.mark.postgres_only
def test_a_slow_bank_holds_up_no_tap_while_the_holder_repays(
    app, make_transit_terminal, passenger, bank_account, sim_bank, make_trip, monkeypatch
):
    """A holder repays a small debt (not listed: their codes still ride) while the bank is slow;
    their bus tap meanwhile is decided at once (before: it waited for the card row the repayment
    held through the bank call)."""
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    number = bank_account(passenger.card_id, 0)
    assert collect(app, make_trip(passenger.card_id, base=300)).status == "debt"
    sim_bank.open_account(number, 10_000)
    repaid: list = []
    taps: list = []

    def repay() -> None:
        own = app.test_client()
        repaid.append(own.post("/mobile/v1/transit/repay", headers=passenger.holder.headers))

    def bus_ride() -> None:
        taps.append(tap_online(app.test_client(), bus, passenger, "single", utcnow()))

    while_the_bank_waits(sim_bank, monkeypatch, repay, bus_ride)

    [tap] = taps
    assert tap.status_code == 200, tap.get_json()
    [answer] = repaid
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["repaid_fen"] == 300
    assert sim_bank.balance(number) == 10_000 - 300

"""Fare adjustments: a late tap completes a trip already charged its maximum fare. The ride is
priced as it was, and the difference comes off the debt or goes back to the bank account, once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.clock import local_date, utcnow
from server.extensions import db
from server.ledger.models import Account, JournalEntry
from server.security.models import AuditEvent
from server.transit import adjustment, settlement
from server.transit.models import Debt, FareAdjustment, LateJoin, Tap, Trip
from tests.transit.conftest import (
    MAX_FARE,
    Ride,
    collect,
    collected_no_entry_trip,
    count_rows,
    listing,
    no_exit_trip,
    pausing,
    tap_online,
    trips_of,
    upload_one,
)

FARE = 400  # 西朗 → 公园前, an adult's fare


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


def adjust(app, now=None) -> dict[str, int]:
    with app.app_context():
        try:
            return adjustment.adjust_late_taps(db.session, now or utcnow()).as_dict()
        finally:
            db.session.remove()


def adjustment_of(app, trip_id: int) -> FareAdjustment | None:
    with app.app_context():
        row = db.session.execute(
            select(FareAdjustment).where(FareAdjustment.trip_id == trip_id)
        ).scalar_one_or_none()
        db.session.expunge_all()
        db.session.remove()
    return row


def adjust_while_another_job_waits_in_credit(app, sim_bank, monkeypatch) -> tuple[dict, dict]:
    """Two adjustment jobs at once: the first stops inside the bank's ``credit`` while the second
    runs to its end. Returns (first's summary, second's summary)."""
    slow_credit, inside, release = pausing(sim_bank.credit)
    monkeypatch.setattr(sim_bank, "credit", slow_credit)
    first: list = []
    job = threading.Thread(target=lambda: first.append(adjust(app)))
    job.start()
    try:
        assert inside.wait(30)
        second = adjust(app)
    finally:
        release.set()
        job.join(30)
    return first[0], second


def refund_entries(app, trip_id: int) -> list[JournalEntry]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(JournalEntry).where(
                    JournalEntry.idempotency_key.startswith(f"refund:{trip_id}:")
                )
            ).scalars()
        )
        db.session.expunge_all()
        db.session.remove()
    return rows


def adjusted_events(app) -> list[dict]:
    """The audit log's fare adjustments: (trip id, detail)."""
    import json

    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.object_id, AuditEvent.detail).where(
                AuditEvent.action == "transit.fare_adjusted"
            )
        ).all()
        db.session.remove()
    return [{"trip_id": int(trip_id), **json.loads(detail)} for trip_id, detail in rows]


def seen_trips(client, passenger) -> list[dict]:
    response = client.get("/mobile/v1/trips", headers=passenger.holder.headers)
    assert response.status_code == 200
    return response.get_json()["trips"]


@pytest.mark.parametrize("online", [False, True], ids=["offline", "online"])
def test_a_late_exit_after_the_maximum_fare_was_collected_is_refunded_the_difference(
    app, client, ride, passenger, sim_bank, online
):
    assert collect(app, ride.trip_id).status == "paid"
    if online:  # on PostgreSQL the online tap writes through its own statements
        response = ride.late_exit_online(client)
        assert response.status_code == 200, response.get_json()
    else:
        assert ride.late_exit_offline(client)["result"] == "accepted"
    assert count_rows(app, LateJoin) == 1
    [before] = seen_trips(client, passenger)
    assert before["adjustment"] is None and len(before["late_taps"]) == 1

    summary = adjust(app)

    assert (summary["refunded"], summary["refunded_fen"]) == (1, MAX_FARE - FARE)
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.incomplete, trip.to_stop_id) == (
        "complete",
        None,
        "gzm-gongyuanqian",
    )
    assert (trip.base_fen, trip.charged_fen, trip.payment_status) == (FARE, FARE, "paid")
    found = adjustment_of(app, ride.trip_id)
    assert (found.original_charged_fen, found.refund_fen, found.status) == (
        MAX_FARE,
        MAX_FARE - FARE,
        "refunded",
    )
    assert found.original_incomplete == "no_exit"
    assert sim_bank.balance(ride.account) == 10_000 - FARE
    [entry] = refund_entries(app, ride.trip_id)
    assert entry.id == found.journal_entry_id
    [event] = adjusted_events(app)
    assert (event["trip_id"], event["original_fen"], event["fare_fen"], event["outcome"]) == (
        ride.trip_id,
        MAX_FARE,
        FARE,
        "pending",  # recorded when the refund was decided, before the bank was asked
    )
    assert count_rows(app, LateJoin) == 0

    # The holder sees the ride as it was and the money that came back.
    [seen] = seen_trips(client, passenger)
    assert (seen["status"], seen["late_taps"], seen["breakdown"]["charged_fen"]) == (
        "complete",
        [],
        FARE,
    )
    assert seen["adjustment"]["status"] == "refunded"
    assert seen["adjustment"]["refund_fen"] == MAX_FARE - FARE
    assert seen["adjustment"]["refunded_at_local"].endswith("+08:00")

    # Once: a second run finds nothing to do.
    assert adjust(app, utcnow() + timedelta(hours=1))["refunded"] == 0
    assert sim_bank.balance(ride.account) == 10_000 - FARE
    assert len(refund_entries(app, ride.trip_id)) == 1


def test_a_late_entry_after_a_no_entry_maximum_is_refunded_the_difference(
    app, client, gates, passenger, bank_account, sim_bank
):
    entry_gate, exit_gate = gates
    number = bank_account(passenger.card_id, 10_000)
    trip_id, exited = collected_no_entry_trip(app, client, exit_gate, passenger)
    upload_one(client, entry_gate, passenger, "entry", exited - timedelta(seconds=30))

    assert adjust(app)["refunded"] == 1

    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.from_stop_id, trip.to_stop_id, trip.charged_fen) == (
        "complete",
        "gzm-xilang",
        "gzm-gongyuanqian",
        FARE,
    )
    assert adjustment_of(app, trip_id).original_incomplete == "no_entry"
    assert sim_bank.balance(number) == 10_000 - FARE


def test_a_late_exit_on_a_fare_in_debt_reduces_the_debt_and_moves_no_money(
    app, client, ride, passenger, sim_bank
):
    """The holder's account was empty: the maximum fare became a debt over the limit and their
    codes are refused. The exit arrives; the ride cost ¥4, within the limit: the debt is ¥4 and
    the card rides again."""
    app.config["SSC_TRANSIT_DEBT_LIMIT_FEN"] = 500
    sim_bank.set_account_state(ride.account, "frozen")
    assert collect(app, ride.trip_id).status == "debt"
    assert listing(app, passenger.card_id) == "debt"
    ride.late_exit_offline(client)

    summary = adjust(app)

    assert summary["debt_reduced"] == 1
    with app.app_context():
        debt = db.session.execute(select(Debt)).scalar_one()
        assert (debt.amount_fen, debt.repaid_at) == (FARE, None)
        db.session.remove()
    assert adjustment_of(app, ride.trip_id).status == "debt_reduced"
    [event] = adjusted_events(app)
    assert (event["refund_fen"], event["outcome"]) == (MAX_FARE - FARE, "debt_reduced")
    assert listing(app, passenger.card_id) is None
    assert sim_bank.movements == 0

    sim_bank.set_account_state(ride.account, "open")
    repaid = client.post("/mobile/v1/transit/repay", headers=passenger.holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    assert repaid.get_json()["repaid_fen"] == FARE
    assert sim_bank.balance(ride.account) == 10_000 - FARE
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.payment_status, trip.charged_fen) == ("paid", FARE)


def test_a_debt_the_ride_leaves_nothing_of_is_settled(
    app, client, ride, passenger, sim_bank, make_trip
):
    """The holder had already paid the day's ¥15 metro cap on other rides: the complete ride costs
    nothing more, so the debt of its maximum fare is settled without a payment."""
    sim_bank.set_account_state(ride.account, "frozen")
    assert collect(app, ride.trip_id).status == "debt"
    earlier = ride.entered - timedelta(minutes=30)
    assert local_date(earlier) == local_date(ride.entered)
    make_trip(passenger.card_id, base=1500, started_at=earlier, payment_status="paid")
    ride.late_exit_offline(client)

    assert adjust(app)["debt_reduced"] == 1

    trip = next(t for t in trips_of(app, passenger.card_id) if t.id == ride.trip_id)
    assert (trip.charged_fen, trip.cap_fen, trip.payment_status) == (0, FARE, "paid")
    with app.app_context():
        debt = db.session.execute(select(Debt)).scalar_one()
        assert debt.amount_fen == 0 and debt.repaid_at is not None
        db.session.remove()
    assert sim_bank.movements == 0


def test_a_senior_half_fare_adjustment_corrects_the_concession_the_city_pays(
    app, client, gates, make_passenger, bank_account, sim_bank
):
    """60–64: half fare. The maximum (¥8) was charged ¥4 with ¥4 of concession, and the day was
    settled with the operator. The ride cost ¥2 with ¥2 of concession: ¥2 goes back to the holder
    and the next settlement takes ¥2 of concession back from the operator."""
    senior = make_passenger(birth="19630601")
    entry_gate, exit_gate = gates
    account = bank_account(senior.card_id, 10_000)
    entered = utcnow() - timedelta(seconds=40)
    trip_id = no_exit_trip(app, client, entry_gate, senior, entered, charged=MAX_FARE // 2)
    ride = Ride(senior, exit_gate, entered, trip_id, account)
    assert collect(app, trip_id).status == "paid"
    day = trips_of(app, senior.card_id)[0].service_date
    with app.app_context():
        settlement.settle_day(db.session, day, utcnow())
        db.session.remove()
    ride.late_exit_offline(client)

    assert adjust(app)["refunded_fen"] == FARE // 2
    with app.app_context():
        settlement.settle_day(db.session, day, utcnow())
        report = settlement.settlement_report(db.session, day)
        [row] = [r for r in report.operators if r.operator_id == "gzmetro"]
        operator = db.session.execute(
            select(Account).where(Account.owner_ref == "gzmetro")
        ).scalar_one()
        assert (row.gross_fen, row.concession_fen, row.net_fen) == (FARE, FARE // 2, FARE // 2)
        assert (row.collected_fen, row.refunded_fen, row.refund_due_fen) == (FARE // 2, 200, 0)
        assert row.reimbursed_fen == FARE // 2
        assert operator.balance_fen == row.collected_fen + row.reimbursed_fen
        db.session.remove()
    assert sim_bank.balance(account) == 10_000 - FARE // 2
    statement = client.get("/mobile/v1/trips/statement", headers=senior.holder.headers).get_json()
    assert (statement["charged_fen"], statement["refunded_fen"]) == (FARE // 2, FARE // 2)


def test_an_unanswered_refund_is_asked_again_after_the_retry_window_and_paid_once(
    app, client, ride, passenger, sim_bank
):
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    sim_bank.fail_next("timeout")  # the bank credits, the answer is lost
    asked = utcnow()

    assert adjust(app, asked)["pending"] == 1
    found = adjustment_of(app, ride.trip_id)
    assert (found.status, found.refund_attempted_at is not None) == ("pending", True)
    assert refund_entries(app, ride.trip_id) == []

    assert adjust(app, asked + timedelta(seconds=10))["pending"] == 0  # not due yet
    assert adjust(app, asked + timedelta(minutes=5))["refunded"] == 1

    assert sim_bank.balance(ride.account) == 10_000 - FARE  # credited once
    assert sim_bank.movements == 2  # the fare, the refund
    assert len(refund_entries(app, ride.trip_id)) == 1
    assert adjustment_of(app, ride.trip_id).refund_key == found.refund_key


def test_a_refused_refund_is_asked_again_under_a_new_key_on_the_next_run(
    app, client, ride, passenger, sim_bank
):
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    sim_bank.set_account_state(ride.account, "frozen")

    summary = adjust(app)

    assert (summary["pending"], summary["refunded"]) == (1, 0)
    refused = adjustment_of(app, ride.trip_id)
    assert (refused.status, refused.refund_error, refused.refund_key) == (
        "pending",
        "bank.account_frozen",
        None,
    )
    [seen] = seen_trips(client, passenger)
    assert seen["adjustment"]["status"] == "pending"

    sim_bank.set_account_state(ride.account, "open")
    assert adjust(app)["refunded"] == 1
    done = adjustment_of(app, ride.trip_id)
    assert (done.status, done.refund_error) == ("refunded", None)
    assert sim_bank.balance(ride.account) == 10_000 - FARE


def test_no_adjustment_while_the_bank_is_still_being_asked_for_the_fare(
    app, client, ride, passenger, sim_bank
):
    sim_bank.fail_next("timeout")
    asked = utcnow()
    assert collect(app, ride.trip_id, asked).code == "bank.timeout"
    ride.late_exit_offline(client)

    assert adjust(app, asked) == adjust(app, asked) and count_rows(app, FareAdjustment) == 0
    assert count_rows(app, LateJoin) == 1  # still waiting

    assert collect(app, ride.trip_id, asked + timedelta(minutes=5)).status == "paid"
    assert adjust(app, asked + timedelta(minutes=5))["refunded"] == 1
    assert sim_bank.balance(ride.account) == 10_000 - FARE


def test_no_adjustment_while_a_repayment_of_the_fare_is_with_the_bank(
    app, client, ride, passenger, sim_bank
):
    """The fare became a debt; the holder repays it and the bank's answer is lost. The repayment
    asked for the maximum fare under its key: the debt must not shrink under it. Once the
    repayment is recorded, the difference is refunded."""
    sim_bank.set_account_state(ride.account, "frozen")
    assert collect(app, ride.trip_id).status == "debt"
    sim_bank.set_account_state(ride.account, "open")
    sim_bank.fail_next("timeout")
    lost = client.post("/mobile/v1/transit/repay", headers=passenger.holder.headers)
    assert lost.get_json()["code"] == "bank.timeout"
    ride.late_exit_offline(client)

    assert adjust(app)["waiting"] == 1
    assert count_rows(app, FareAdjustment) == 0

    # The holder looks again: the bank's record of the key says it went through.
    again = client.post("/mobile/v1/transit/repay", headers=passenger.holder.headers)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["repaid_fen"] == MAX_FARE
    assert adjust(app)["refunded"] == 1
    assert sim_bank.balance(ride.account) == 10_000 - FARE


def test_a_late_exit_past_the_exit_timeout_costs_the_maximum_and_refunds_nothing(
    app, gates, passenger, make_trip, sim_bank
):
    """Exit five hours after entry, uploaded after the maximum fare was collected: the ride
    itself costs the maximum (the network's exit timeout), so nothing changes hands, and the
    trip shows the ride it was."""
    from server.transit.service import late_tap_of

    _, exit_gate = gates
    started = utcnow() - timedelta(hours=6)
    trip_id = make_trip(passenger.card_id, base=MAX_FARE, started_at=started, payment_status="paid")
    with app.app_context():
        trip = db.session.get(Trip, trip_id)
        trip.status, trip.incomplete, trip.ended_at, trip.to_stop_id = (
            "incomplete",
            "no_exit",
            None,
            None,
        )
        trip.from_stop_id = "gzm-xilang"
        exited = started + timedelta(hours=5)
        db.session.add(
            Tap(
                terminal_id=exit_gate.id, medium="qr", card_id=passenger.card_id, kind="exit",
                network_id="gz-metro", stop_id="gzm-gongyuanqian", tapped_at=exited,
                received_at=utcnow(), result="accepted", trip_id=trip_id,
            )
        )  # fmt: skip
        db.session.add(LateJoin(trip_id=trip_id, created_at=utcnow()))
        db.session.commit()
        joined = db.session.execute(
            select(Tap.id)
            .join(Trip, Trip.id == Tap.trip_id)
            .where(*late_tap_of(Tap.__table__, Trip.__table__))
        ).all()
        assert len(joined) == 1
        db.session.remove()

    assert adjust(app)["none"] == 1

    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.to_stop_id, trip.charged_fen) == (
        "complete",
        "gzm-gongyuanqian",
        MAX_FARE,
    )
    found = adjustment_of(app, trip_id)
    assert (found.status, found.refund_fen) == ("none", 0)
    assert adjusted_events(app) == []  # nothing owed changed
    assert sim_bank.movements == 0
    assert count_rows(app, LateJoin) == 0


@pytest.mark.postgres_only
def test_two_adjustment_jobs_at_once_refund_once(
    app, client, ride, passenger, sim_bank, monkeypatch
):
    """One job is waiting for the bank's credit when a second starts: the second leaves the trip
    alone (adjusted, its refund asked moments ago), and the holder is refunded once."""
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    first, second = adjust_while_another_job_waits_in_credit(app, sim_bank, monkeypatch)

    assert second["refunded"] == 0 and second["pending"] == 0
    assert first["refunded"] == 1
    assert sim_bank.balance(ride.account) == 10_000 - FARE
    assert count_rows(app, FareAdjustment) == 1
    assert len(refund_entries(app, ride.trip_id)) == 1


def test_a_ride_priced_above_what_was_charged_keeps_its_fare(
    app, client, ride, passenger, sim_bank, monkeypatch
):
    """Never more after the fact: when the fare data prices the complete ride above the maximum
    fare charged (it changed meanwhile), the trip keeps the fare it was charged."""
    from server.transit import service

    real = service.complete_charged_trip

    def dearer(session, trip, late, now):
        row = real(session, trip, late, now)
        row.update(base_fen=MAX_FARE + 100, charged_fen=MAX_FARE + 100, fare_product_id="other")
        return row

    monkeypatch.setattr(service, "complete_charged_trip", dearer)
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)

    assert adjust(app)["none"] == 1

    [trip] = trips_of(app, passenger.card_id)
    assert (trip.status, trip.to_stop_id) == ("complete", "gzm-gongyuanqian")
    assert (trip.base_fen, trip.charged_fen) == (MAX_FARE, MAX_FARE)
    assert trip.fare_product_id != "other" and "fare_kept" in trip.notes
    assert sim_bank.balance(ride.account) == 10_000 - MAX_FARE


def test_staff_see_refunds_the_bank_has_not_taken_in_their_city(
    app, client, ride, passenger, sim_bank, make_staff
):
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    sim_bank.set_account_state(ride.account, "closed")
    adjust(app)

    guangzhou = make_staff("city_admin", "440100")
    response = client.get("/staff/v1/transit/refunds?status=pending", headers=guangzhou.headers)
    assert response.status_code == 200, response.get_json()
    [row] = response.get_json()["refunds"]
    assert (row["trip_id"], row["refund_fen"], row["refund_error"]) == (
        ride.trip_id,
        MAX_FARE - FARE,
        "bank.account_closed",
    )
    assert (row["operator_id"], row["reason"], row["caused_by_trip_id"]) == (
        "gzmetro",
        "late_tap",
        None,
    )

    foshan = make_staff("city_admin", "440600")
    body = client.get("/staff/v1/transit/refunds", headers=foshan.headers).get_json()
    assert body["refunds"] == []
    finance = make_staff("department_officer", department="finance")
    refused = client.get("/staff/v1/transit/refunds", headers=finance.headers)
    assert (refused.status_code, refused.get_json()["code"]) == (403, "auth.out_of_scope")
    branch = make_staff("branch_staff")
    forbidden = client.get("/staff/v1/transit/refunds", headers=branch.headers)
    assert (forbidden.status_code, forbidden.get_json()["code"]) == (403, "auth.forbidden")
    bad = client.get("/staff/v1/transit/refunds?status=lost", headers=guangzhou.headers)
    assert (bad.status_code, bad.get_json()["code"]) == (422, "request.validation_failed")

    sim_bank.set_account_state(ride.account, "open")
    adjust(app)
    done = client.get("/staff/v1/transit/refunds?status=refunded", headers=guangzhou.headers)
    [row] = done.get_json()["refunds"]
    assert (row["status"], row["refund_error"]) == ("refunded", None)


def test_flask_transit_adjust_refunds_and_prints_a_summary(app, client, runner, ride, sim_bank):
    import json

    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)

    first = runner.invoke(args=["transit", "adjust"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {
        "none": 0,
        "debt_reduced": 0,
        "pending": 0,
        "refunded": 1,
        "unchanged": 0,
        "waiting": 0,
        "skipped": 0,
        "refunded_fen": MAX_FARE - FARE,
    }
    again = runner.invoke(args=["transit", "adjust", "--limit", "10"])
    assert json.loads(again.output)["refunded"] == 0
    assert sim_bank.balance(ride.account) == 10_000 - FARE


def test_after_the_adjustment_a_further_exit_is_another_ride(app, client, ride, passenger):
    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    assert adjust(app)["refunded"] == 1

    later = ride.entered + timedelta(seconds=35)
    again = upload_one(client, ride.exit_gate, passenger, "exit", later, seq=2)

    assert again["result"] == "accepted" and again["trip_id"] != ride.trip_id
    trips = {t.id: t for t in trips_of(app, passenger.card_id)}
    assert (trips[ride.trip_id].status, trips[ride.trip_id].charged_fen) == ("complete", FARE)
    assert trips[again["trip_id"]].incomplete == "no_entry"
    assert count_rows(app, LateJoin) == 0


def test_the_refund_goes_to_the_account_of_the_holders_current_card(
    app, client, ride, passenger, sim_bank, branch
):
    """The holder lost the card after the ride: the replacement has a new bank account and the
    old one is closed. The refund is credited to the new account."""
    from server.registry.demo import demo_bank_account

    assert collect(app, ride.trip_id).status == "paid"
    ride.late_exit_offline(client)
    new_account = demo_bank_account(7777)
    body = {"reason": "挂失补卡 lost", "serial": "R30007777", "bank_account_number": new_account}
    response = client.post(
        f"/staff/v1/cards/{passenger.card_id}/replace", json=body, headers=branch.headers
    )
    assert response.status_code == 201, response.get_json()
    new_card = response.get_json()["id"]
    sim_bank.set_account_state(ride.account, "closed")
    sim_bank.open_account(new_account, 0)

    assert adjust(app)["refunded"] == 1

    assert sim_bank.balance(new_account) == MAX_FARE - FARE
    assert sim_bank.balance(ride.account) == 10_000 - MAX_FARE
    assert adjustment_of(app, ride.trip_id).refund_card_id == new_card


# --- later rides: a transfer from the completed ride -----------------------------------------
BUS_FARE, TRANSFER_OFF = 200, 100  # Guangzhou buses: ¥2; metro ↔ bus within 90 min: ¥1 off


def bus_ride(app, client, make_transit_terminal, passenger, at) -> Trip:
    """A bus boarded at ``at`` (online validator): its trip, priced."""
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    response = tap_online(client, bus, passenger, "single", at)
    assert response.status_code == 200, response.get_json()
    [trip] = [t for t in trips_of(app, passenger.card_id) if t.mode == "bus"]
    return trip


def set_fare(app, trip_id: int, **fields) -> None:
    with app.app_context():
        trip = db.session.get(Trip, trip_id)
        for name, value in fields.items():
            setattr(trip, name, value)
        db.session.commit()
        db.session.remove()


def test_a_bus_boarded_after_the_late_exit_gets_its_transfer_discount_back(
    app, client, ride, passenger, sim_bank, make_transit_terminal
):
    """The exit gate was offline: the bus taken 5 s after the exit was charged ¥2 without the
    metro transfer discount, since the metro ride had no end. Once the exit completes the metro
    ride, the bus is priced again among the rides before it and ¥1 comes back — after its own fare
    was collected, never while it is still to be collected."""
    assert collect(app, ride.trip_id).status == "paid"
    bus = bus_ride(
        app, client, make_transit_terminal, passenger, ride.exited + timedelta(seconds=5)
    )
    assert (bus.transfer_fen, bus.charged_fen) == (0, BUS_FARE)
    ride.late_exit_offline(client)

    first = adjust(app)  # the bus fare is not collected yet: it waits, listed

    assert (first["refunded"], first["refunded_fen"]) == (1, MAX_FARE - FARE)
    with app.app_context():
        listed = db.session.get(LateJoin, bus.id)
        assert (listed.reason, listed.caused_by_trip_id) == ("earlier_ride", ride.trip_id)
        db.session.remove()
    assert collect(app, bus.id).status == "paid"

    second = adjust(app)

    assert (second["refunded"], second["refunded_fen"]) == (1, TRANSFER_OFF)
    repriced = next(t for t in trips_of(app, passenger.card_id) if t.id == bus.id)
    assert (repriced.base_fen, repriced.transfer_fen, repriced.charged_fen) == (
        BUS_FARE,
        TRANSFER_OFF,
        BUS_FARE - TRANSFER_OFF,
    )
    assert (repriced.transfer_count, repriced.payment_status) == (1, "paid")
    found = adjustment_of(app, bus.id)
    assert (found.reason, found.caused_by_trip_id, found.tap_id) == (
        "earlier_ride",
        ride.trip_id,
        None,
    )
    assert (found.original_charged_fen, found.refund_fen, found.status) == (
        BUS_FARE,
        TRANSFER_OFF,
        "refunded",
    )
    assert sim_bank.balance(ride.account) == 10_000 - FARE - (BUS_FARE - TRANSFER_OFF)
    assert len(refund_entries(app, bus.id)) == 1
    events = {e["trip_id"]: e for e in adjusted_events(app)}
    assert (events[bus.id]["reason"], events[bus.id]["caused_by_trip_id"]) == (
        "earlier_ride",
        ride.trip_id,
    )
    assert count_rows(app, LateJoin) == 0
    seen = {t["id"]: t for t in seen_trips(client, passenger)}
    assert seen[bus.id]["adjustment"]["reason"] == "earlier_ride"
    assert seen[bus.id]["breakdown"]["transfer_fen"] == TRANSFER_OFF
    assert seen[ride.trip_id]["adjustment"]["reason"] == "late_tap"

    # Once: nothing more on the next run.
    assert adjust(app, utcnow() + timedelta(hours=1))["refunded"] == 0
    assert sim_bank.balance(ride.account) == 10_000 - FARE - (BUS_FARE - TRANSFER_OFF)


def test_a_later_ride_the_new_price_would_make_dearer_keeps_its_fare(
    app, client, ride, passenger, sim_bank, make_transit_terminal
):
    """The bus had been charged ¥0.50 (the daily cap, reached sooner with the metro's maximum
    fare): priced again it costs ¥1, which is never asked of the holder after the fact."""
    assert collect(app, ride.trip_id).status == "paid"
    bus = bus_ride(
        app, client, make_transit_terminal, passenger, ride.exited + timedelta(seconds=5)
    )
    set_fare(app, bus.id, cap_fen=150, charged_fen=50)
    assert collect(app, bus.id).status == "paid"
    ride.late_exit_offline(client)

    summary = adjust(app)

    assert (summary["refunded"], summary["unchanged"]) == (1, 1)
    kept = next(t for t in trips_of(app, passenger.card_id) if t.id == bus.id)
    assert (kept.cap_fen, kept.transfer_fen, kept.charged_fen) == (150, 0, 50)
    assert adjustment_of(app, bus.id) is None
    assert count_rows(app, LateJoin) == 0
    assert sim_bank.balance(ride.account) == 10_000 - FARE - 50


def test_the_completed_ride_takes_no_cap_from_rides_after_it(
    app, client, ride, passenger, sim_bank, make_trip
):
    """Priced as if the exit had come in time: the ¥15 ridden later that day did not exist yet,
    so the daily cap does not make the completed ride free."""
    assert collect(app, ride.trip_id).status == "paid"
    make_trip(
        passenger.card_id,
        base=1500,
        started_at=ride.exited + timedelta(minutes=20),
        payment_status="paid",
    )
    ride.late_exit_offline(client)

    summary = adjust(app)

    assert (summary["refunded"], summary["refunded_fen"]) == (1, MAX_FARE - FARE)
    trip = next(t for t in trips_of(app, passenger.card_id) if t.id == ride.trip_id)
    assert (trip.cap_fen, trip.charged_fen) == (0, FARE)
    # the later ride was looked at again (a transfer could have reached it) and kept its fare
    assert summary["unchanged"] == 1


@pytest.mark.postgres_only
def test_two_jobs_at_once_give_a_later_ride_its_discount_once(
    app, client, ride, passenger, sim_bank, make_transit_terminal, monkeypatch
):
    """The bus fare's refund is with the bank when a second job starts: the second finds the bus
    adjusted and its refund asked moments ago, and the holder gets the ¥1 once."""
    assert collect(app, ride.trip_id).status == "paid"
    bus = bus_ride(
        app, client, make_transit_terminal, passenger, ride.exited + timedelta(seconds=5)
    )
    ride.late_exit_offline(client)
    assert adjust(app)["refunded"] == 1  # the metro ride; the bus waits for its collection
    assert collect(app, bus.id).status == "paid"
    first, second = adjust_while_another_job_waits_in_credit(app, sim_bank, monkeypatch)

    assert (second["refunded"], second["pending"], second["unchanged"]) == (0, 0, 0)
    assert (first["refunded"], first["refunded_fen"]) == (1, TRANSFER_OFF)
    assert sim_bank.balance(ride.account) == 10_000 - FARE - (BUS_FARE - TRANSFER_OFF)
    assert count_rows(app, FareAdjustment) == 2
    assert len(refund_entries(app, bus.id)) == 1

"""The cardholder's trips and monthly statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.extensions import db
from server.transit import payment

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Guangzhou


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


def test_trips_are_listed_newest_first_with_breakdown_and_local_times(client, holder, make_trip):
    first = make_trip(holder.card_id, base=400, started_at=T0)
    second = make_trip(
        holder.card_id,
        base=200,
        concession=100,
        transfer=50,
        mode="bus",
        network="gz-bus",
        operator="gzbus",
        started_at=T0 + timedelta(hours=1),
        categories="senior_60_64",
    )

    response = client.get("/mobile/v1/trips", headers=holder.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert [t["id"] for t in body["trips"]] == [second, first]
    bus = body["trips"][0]
    assert bus["breakdown"] == {
        "base_fen": 200,
        "concession_fen": 100,
        "transfer_fen": 50,
        "volume_fen": 0,
        "cap_fen": 0,
        "charged_fen": 50,
    }
    assert (bus["mode"], bus["mode_name"]) == ("bus", "公交 Bus")
    assert bus["started_at_local"] == "2026-11-20T10:00:00+08:00"
    assert bus["ended_at_local"] == "2026-11-20T10:25:00+08:00"
    assert bus["rider_categories"] == ["senior_60_64"]
    assert bus["payment_status"] == "pending"
    assert bus["payment_status_name"] == "待扣款 Awaiting payment"
    assert body["trips"][1]["from_stop_id"] == "S01"
    assert body["trips"][1]["to_stop_id"] == "S09"
    assert body["next_before_id"] is None


def test_trips_page_with_before_id(client, holder, make_trip):
    ids = [make_trip(holder.card_id, started_at=T0 + timedelta(minutes=i)) for i in range(5)]
    page1 = client.get("/mobile/v1/trips?limit=2", headers=holder.headers).get_json()
    assert [t["id"] for t in page1["trips"]] == [ids[4], ids[3]]
    page2 = client.get(
        f"/mobile/v1/trips?limit=2&before_id={page1['next_before_id']}", headers=holder.headers
    ).get_json()
    assert [t["id"] for t in page2["trips"]] == [ids[2], ids[1]]
    page3 = client.get(
        f"/mobile/v1/trips?limit=2&before_id={page2['next_before_id']}", headers=holder.headers
    ).get_json()
    assert [t["id"] for t in page3["trips"]] == [ids[0]]
    assert page3["next_before_id"] is None


def test_a_holder_sees_only_their_own_trips(client, make_holder, make_trip):
    me, other = make_holder(), make_holder()
    mine = make_trip(me.card_id)
    make_trip(other.card_id)
    body = client.get("/mobile/v1/trips", headers=me.headers).get_json()
    assert [t["id"] for t in body["trips"]] == [mine]


def test_a_bad_page_size_is_refused(client, holder):
    response = client.get("/mobile/v1/trips?limit=0", headers=holder.headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


def test_the_statement_adds_up_the_month_by_mode(
    app, client, holder, make_trip, bank_account, sim_bank
):
    number = bank_account(holder.card_id, 10_000)
    # November in Guangzhou starts at 2026-10-31T16:00Z.
    first_minute = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    make_trip(holder.card_id, base=400, started_at=first_minute)  # metro, paid
    make_trip(holder.card_id, base=600, volume=60, started_at=T0)  # metro, paid 540
    make_trip(
        holder.card_id,
        base=200,
        concession=200,
        mode="bus",
        operator="gzbus",
        network="gz-bus",
        started_at=T0,
    )  # free ride
    make_trip(
        holder.card_id,
        base=200,
        transfer=100,
        mode="bus",
        operator="gzbus",
        network="gz-bus",
        started_at=T0 + timedelta(hours=2),
    )  # becomes a debt below
    make_trip(holder.card_id, base=999, started_at=first_minute - timedelta(minutes=1))  # October
    make_trip(holder.card_id, base=500, cap=500, started_at=T0 + timedelta(hours=3))  # capped
    with app.app_context():
        payment.collect_pending(db.session, T0 + timedelta(hours=4), limit=3)  # three oldest ids
        db.session.remove()
    sim_bank.set_account_state(number, "frozen")
    with app.app_context():
        payment.collect_pending(db.session, T0 + timedelta(hours=4), limit=2)  # bus debt, October
        db.session.remove()
    # The last trip (capped to zero) stays pending: the job ran with small limits.

    response = client.get("/mobile/v1/trips/statement?month=2026-11", headers=holder.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["month"] == "2026-11"
    assert body["trips"] == 5
    assert body["base_fen"] == 400 + 600 + 200 + 200 + 500
    assert body["concession_fen"] == 200
    assert (body["transfer_fen"], body["volume_fen"], body["cap_fen"]) == (100, 60, 500)
    assert body["discount_fen"] == 660
    assert body["charged_fen"] == 400 + 540 + 0 + 100 + 0
    assert body["paid_fen"] == 400 + 540
    assert body["pending_fen"] == 0  # the capped trip charges nothing
    assert body["debt_fen"] == 100
    assert body["outstanding_debt_fen"] == 100 + 999  # October's unpaid fare counts too
    modes = {m["mode"]: m for m in body["by_mode"]}
    assert modes["metro"] == {
        "mode": "metro",
        "mode_name": "地铁 Metro",
        "trips": 3,
        "base_fen": 1500,
        "concession_fen": 0,
        "discount_fen": 560,
        "charged_fen": 940,
    }
    assert (modes["bus"]["trips"], modes["bus"]["concession_fen"], modes["bus"]["charged_fen"]) == (
        2,
        200,
        100,
    )
    assert sum(m["charged_fen"] for m in body["by_mode"]) == body["charged_fen"]

    october = client.get("/mobile/v1/trips/statement?month=2026-10", headers=holder.headers)
    assert october.get_json()["trips"] == 1
    assert october.get_json()["debt_fen"] == 999


def test_a_malformed_month_is_refused(client, holder):
    response = client.get("/mobile/v1/trips/statement?month=2026-13", headers=holder.headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


def test_the_statement_defaults_to_this_month(client, holder):
    body = client.get("/mobile/v1/trips/statement", headers=holder.headers).get_json()
    assert len(body["month"]) == 7
    assert body["trips"] == 0
    assert body["by_mode"] == []

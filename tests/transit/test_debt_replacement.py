"""Transit debt belongs to the person, not to the plastic: a replaced card (补换卡) does not wipe
the slate — the new card is denied while the holder owes more than the limit, repaying lifts it,
and the old card's fares are still collected exactly once."""

from __future__ import annotations

import base64
import itertools
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from server.clock import utcnow
from server.credentials import service as credentials
from server.extensions import db
from server.registry import chip
from server.registry import service as registry
from server.registry.demo import demo_bank_account
from server.registry.models import Card
from server.registry.rules import CardAction
from server.transit import payment
from server.transit.models import Debt, Trip
from tests.credentials.conftest import Holder, Phone
from tests.transit.conftest import Passenger, collect, listing, terminal_post

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


# --- helpers -------------------------------------------------------------------------------------


def pseudonym_hex(app, card_id) -> str:
    with app.app_context():
        value = credentials.card_pseudonym(db.session, card_id, utcnow()).hex()
        db.session.commit()
        db.session.remove()
        return value


def revocation_version(app) -> int:
    with app.app_context():
        version = credentials.revocation_version(db.session)
        db.session.remove()
        return version


def revocations(client, terminal, since=None) -> dict:
    from tests.terminals.conftest import signed as signed_request

    path = "/terminal/v1/revocation-list" + ("" if since is None else f"?since={since}")
    response = signed_request(client, terminal, "GET", path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def unpaid_debts(app) -> int:
    with app.app_context():
        n = db.session.execute(
            select(func.count()).select_from(Debt).where(Debt.repaid_at.is_(None))
        ).scalar_one()
        db.session.remove()
        return n


def payment_statuses(app, trip_ids) -> list[str]:
    with app.app_context():
        statuses = [db.session.get(Trip, i).payment_status for i in trip_ids]
        db.session.remove()
        return statuses


def replace(app, client, branch, card_id, *, instant=True) -> tuple[int, str | None, str | None]:
    """Replace the card at a branch (instant issuance: a blank card and a new bank account).
    Returns (new card id, its serial, its bank account number)."""
    n = next(_numbers)
    body: dict = {"reason": "挂失补卡 lost"}
    serial = account = None
    if instant:
        serial, account = f"R{30000000 + n:08d}", demo_bank_account(7000 + n)
        body |= {"serial": serial, "bank_account_number": account}
    response = client.post(f"/staff/v1/cards/{card_id}/replace", json=body, headers=branch.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"], serial, account


def hand_over(app, branch, card_id) -> None:
    """Issue and activate the (produced) replacement card."""
    now = utcnow()
    with app.app_context():
        registry.issue_card(db.session, branch.actor, card_id, now)
        registry.activate_card(db.session, branch.actor, card_id, "246802", now)
        db.session.remove()


def new_passenger(app, client, holder, card_id, serial) -> Passenger:
    """The holder signs the e-card of their new card on a new phone."""
    device = Phone(Ed25519PrivateKey.generate())
    response = client.post(
        "/mobile/v1/ecard",
        json={"public_key": device.public_b64, "app_id": "gd-hrss", "device_label": "新手机"},
        headers=holder.headers,
    )
    assert response.status_code == 201, response.get_json()
    certificate = base64.b64decode(response.get_json()["certificate"]["certificate"])
    cardholder = Holder(holder.person_id, card_id, serial, holder.headers)
    return Passenger(cardholder, device, certificate, app.extensions["ssc.keyring"].card_master)


def bus_tap(client, bus, passenger):
    return terminal_post(
        client, bus, "/taps", {"kind": "single", "medium": "qr", "code": passenger.code()}
    )


def run_into_debt(app, card_id, bank_account, make_trip, fares):
    bank_account(card_id, 0)
    trip_ids = [make_trip(card_id, base=fare) for fare in fares]
    for trip_id in trip_ids:
        assert collect(app, trip_id).status == "debt"
    return trip_ids


# --- the replacement card inherits the deny listing ------------------------------------------


def test_a_replacement_card_is_denied_until_the_holder_repays(
    app, client, branch, passenger, bank_account, sim_bank, make_trip, make_transit_terminal
):
    holder, old_id = passenger.holder, passenger.card_id
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    trip_ids = run_into_debt(app, old_id, bank_account, make_trip, fares=(3000, 2500))
    assert listing(app, old_id) == "debt"
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert lost.status_code == 200, lost.get_json()
    assert listing(app, old_id) == "lost"
    before = revocation_version(app)

    new_id, serial, account = replace(app, client, branch, old_id)
    hand_over(app, branch, new_id)

    # The new card starts listed for the holder's debt; the old one stays listed as replaced.
    assert listing(app, new_id) == "debt"
    assert listing(app, old_id) == "replaced"
    new_pseudonym = pseudonym_hex(app, new_id)
    delta = revocations(client, bus, since=before)
    assert {"pseudonym": new_pseudonym, "reason": "debt"} in delta["add"]["pseudonyms"]
    full = revocations(client, bus)
    assert {"pseudonym": new_pseudonym, "reason": "debt"} in full["add"]["pseudonyms"]
    old_pseudonym = pseudonym_hex(app, old_id)
    assert {"pseudonym": old_pseudonym, "reason": "replaced"} in full["add"]["pseudonyms"]

    # Online: the new card's code is refused at the gate as a debt-listed credential.
    rider = new_passenger(app, client, holder, new_id, serial)
    refused = bus_tap(client, bus, rider)
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["code"] == "credential.revoked"
    assert refused.get_json()["reason"] == "debt"
    view = client.get("/mobile/v1/transit/debt", headers=holder.headers).get_json()
    assert (view["outstanding_fen"], view["denied"]) == (5500, True)

    # Repaid from the new card's bank account: the new card comes off the list, the old stays.
    sim_bank.open_account(account, 10_000)
    movements = sim_bank.movements
    repaid = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    body = repaid.get_json()
    assert (body["repaid_fen"], body["debts"], body["unlisted"]) == (5500, 2, True)
    assert sim_bank.balance(account) == 4_500
    assert sim_bank.movements == movements + 1
    assert payment_statuses(app, trip_ids) == ["paid", "paid"]
    assert unpaid_debts(app) == 0
    assert listing(app, new_id) is None
    assert listing(app, old_id) == "replaced"
    after = revocations(client, bus, since=before)
    assert new_pseudonym in after["remove"]["pseudonyms"]
    assert {"pseudonym": old_pseudonym, "reason": "replaced"} in after["add"]["pseudonyms"]

    accepted = bus_tap(client, bus, rider)
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["result"] == "accepted"
    again = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert again.get_json()["code"] == "transit.no_debt"
    assert sim_bank.movements == movements + 1  # nothing charged twice


def test_an_offline_gate_refuses_the_replacement_card_while_the_debt_is_unpaid(
    app, client, branch, passenger, bank_account, make_trip, make_transit_terminal
):
    """A gate with the current list refuses the new card's code; a ride a gate with an older list
    let through is the holder's own: charged and flagged at upload (the rule for card chips)."""
    from tests.transit.test_card_deny_list import flagged_batches, offline_gate

    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, passenger.card_id, bank_account, make_trip, fares=(6000,))
    new_id, serial, _ = replace(app, client, branch, passenger.card_id)
    hand_over(app, branch, new_id)
    rider = new_passenger(app, client, passenger.holder, new_id, serial)

    at = utcnow()
    refused = offline_gate(app, client, bus).scan(rider.code(at), "transit", at)
    assert (refused["accepted"], refused["code"], refused["reason"]) == (
        False,
        "credential.revoked",
        "debt",
    )
    batch = {
        "batch_id": "b-debt-replaced-1",
        "taps": [
            {
                "local_seq": 1,
                "kind": "single",
                "medium": "qr",
                "code": rider.code(at),
                "tapped_at": at.isoformat(),
            }
        ],
    }
    response = terminal_post(client, bus, "/tap-batches", batch)
    assert response.status_code == 200, response.get_json()
    [result] = response.get_json()["results"]
    assert (result["result"], result["code"]) == ("accepted", None)
    assert payment_statuses(app, [result["trip_id"]]) == ["pending"]
    [flag] = flagged_batches(app)
    assert flag["taps"] == [{"tap_id": result["tap_id"], "card_id": new_id, "reason": "debt"}]


def test_a_debt_under_the_limit_does_not_deny_the_replacement_card(
    app, client, branch, passenger, bank_account, make_trip, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, passenger.card_id, bank_account, make_trip, fares=(3000,))
    assert listing(app, passenger.card_id) is None

    new_id, serial, _ = replace(app, client, branch, passenger.card_id)
    hand_over(app, branch, new_id)

    assert listing(app, new_id) is None
    rider = new_passenger(app, client, passenger.holder, new_id, serial)
    response = bus_tap(client, bus, rider)
    assert response.status_code == 200, response.get_json()
    view = client.get("/mobile/v1/transit/debt", headers=passenger.holder.headers).get_json()
    assert (view["outstanding_fen"], view["denied"]) == (3000, False)


def test_a_replacement_from_the_card_factory_is_listed_from_its_application(
    app, client, branch, city_admin, holder, bank_account, make_trip
):
    run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000, 2500))
    new_id, _, _ = replace(app, client, branch, holder.card_id, instant=False)
    assert listing(app, new_id) == "debt"  # applied, not yet made: listed already

    now = utcnow()
    with app.app_context():
        registry.produce_card(
            db.session,
            city_admin.actor,
            new_id,
            serial="F10000001",
            bank_account_number=demo_bank_account(8001),
            now=now,
        )
        db.session.remove()
    hand_over(app, branch, new_id)
    assert listing(app, new_id) == "debt"


def test_while_the_replacement_is_at_the_factory_the_old_cards_account_repays(
    app, client, branch, holder, bank_account, sim_bank, make_trip
):
    """The new card has no bank account until the factory makes it; the holder can still repay,
    from the account of the card whose fares ran into debt."""
    trip_ids = run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000, 2500))
    old_account = bank_account(holder.card_id, 0)  # still empty
    new_id, _, _ = replace(app, client, branch, holder.card_id, instant=False)
    assert listing(app, new_id) == "debt"

    empty = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert empty.status_code == 409, empty.get_json()
    assert empty.get_json()["code"] == "bank.insufficient_funds"
    assert unpaid_debts(app) == 2  # nothing written

    sim_bank.credit(old_account, 6_000, "top-up")  # the holder tops up the old account
    repaid = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    assert (repaid.get_json()["repaid_fen"], repaid.get_json()["unlisted"]) == (5500, True)
    assert sim_bank.balance(old_account) == 500
    assert payment_statuses(app, trip_ids) == ["paid", "paid"]
    assert listing(app, new_id) is None


def test_a_delta_after_the_factory_made_a_listed_card_carries_its_tag(
    app, client, branch, city_admin, holder, bank_account, make_trip, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000, 2500))
    new_id, _, _ = replace(app, client, branch, holder.card_id, instant=False)
    before = revocation_version(app)  # a delta-only gate is up to date here: no serial yet

    with app.app_context():
        registry.produce_card(
            db.session,
            city_admin.actor,
            new_id,
            serial="F10000002",
            bank_account_number=demo_bank_account(8002),
            now=utcnow(),
        )
        db.session.remove()

    delta = revocations(client, bus, since=before)
    tag = chip.deny_tag(app.extensions["ssc.keyring"].card_master, "F10000002")
    assert {"pseudonym": pseudonym_hex(app, new_id), "reason": "debt"} in delta["add"]["pseudonyms"]
    assert tag in {entry["card"] for entry in delta["add"]["cards"]}
    assert listing(app, new_id) == "debt"


def test_the_replacement_card_found_again_stays_listed_for_the_old_cards_debt(
    app, client, branch, holder, bank_account, make_trip
):
    run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000, 2500))
    new_id, _, _ = replace(app, client, branch, holder.card_id)
    hand_over(app, branch, new_id)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert lost.status_code == 200, lost.get_json()
    assert listing(app, new_id) == "lost"

    with app.app_context():
        registry.change_state(
            db.session, branch.actor, new_id, CardAction.REPORT_FOUND, utcnow(), "找到"
        )
        db.session.remove()

    assert listing(app, new_id) == "debt"  # the debt is on the old card, owed by the same person


# --- the old card's fares after the replacement ------------------------------------------------


def test_old_card_fares_refused_after_the_replacement_list_the_new_card(
    app, client, branch, holder, signed, bank_account, sim_bank, make_trip
):
    old_account = bank_account(holder.card_id, 0)
    trip_ids = [make_trip(holder.card_id, base=fare) for fare in (3000, 2500)]
    new_id, _, account = replace(app, client, branch, holder.card_id)
    hand_over(app, branch, new_id)
    sim_bank.set_account_state(old_account, "closed")  # the bank closed the old card's account
    assert listing(app, new_id) is None  # nothing owed yet: the fares are pending

    assert [collect(app, i).status for i in trip_ids] == ["debt", "debt"]

    assert listing(app, new_id) == "debt"
    assert listing(app, holder.card_id) == "replaced"
    with app.app_context():
        debts = db.session.execute(select(Debt).order_by(Debt.id)).scalars().all()
        assert [(d.card_id, d.reason) for d in debts] == [
            (holder.card_id, "bank.account_closed"),
            (holder.card_id, "bank.account_closed"),
        ]
        db.session.remove()

    sim_bank.open_account(account, 10_000)
    repaid = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    assert repaid.get_json()["unlisted"] is True
    assert sim_bank.balance(account) == 4_500
    assert listing(app, new_id) is None
    assert listing(app, holder.card_id) == "replaced"
    assert payment_statuses(app, trip_ids) == ["paid", "paid"]
    assert [collect(app, i).status for i in trip_ids] == ["skipped", "skipped"]


def test_an_old_card_fare_that_timed_out_is_charged_once_after_the_replacement(
    app, client, branch, holder, bank_account, sim_bank, make_trip
):
    old_account = bank_account(holder.card_id, 10_000)
    trip_id = make_trip(holder.card_id, base=600)
    sim_bank.fail_next("timeout")  # the bank debited, the answer was lost
    assert collect(app, trip_id).status == "pending"
    assert sim_bank.balance(old_account) == 9_400

    new_id, _, account = replace(app, client, branch, holder.card_id)
    hand_over(app, branch, new_id)
    sim_bank.open_account(account, 10_000)

    # The retry goes to the account the fare was ridden on, under the same key: charged once.
    later = utcnow() + timedelta(minutes=5)
    outcome = collect(app, trip_id, later)
    assert outcome.status == "paid", outcome
    assert collect(app, trip_id, later).status == "skipped"
    assert sim_bank.balance(old_account) == 9_400
    assert sim_bank.balance(account) == 10_000
    assert sim_bank.movements == 1
    assert unpaid_debts(app) == 0
    assert listing(app, new_id) is None
    with app.app_context():
        card = db.session.get(Card, new_id)
        assert card.replaces_card_id == holder.card_id
        db.session.remove()


# --- a debt collected while the card is being replaced ----------------------------------------


@pytest.mark.postgres_only
def test_a_debt_collected_while_the_card_is_replaced_lists_the_new_card(
    app, client, branch, holder, signed, bank_account, make_trip, monkeypatch
):
    """The card is reported lost; the collection job turns a fare of it into a debt over the
    limit and, before it commits, a branch replaces the card: the replacement waits for the card
    row and then sees the debt, so the new card is listed (the lost card is listed already, so
    the job itself writes no listing and no audit event)."""
    import threading

    run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000,))
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert lost.status_code == 200, lost.get_json()
    trip_id = make_trip(holder.card_id, base=2500)  # the one that takes the holder over ¥50
    inside, release = threading.Event(), threading.Event()
    enforce = payment.enforce_debt_limit

    def paused(session, card, now):
        added = enforce(session, card, now)
        inside.set()
        release.wait(30)  # the debt and its listing are written, not yet committed
        return added

    monkeypatch.setattr(payment, "enforce_debt_limit", paused)
    outcomes: list = []
    replaced: list[int] = []
    errors: list = []

    def collector() -> None:
        try:
            outcomes.append(collect(app, trip_id))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def branch_desk() -> None:
        try:
            with app.app_context():
                new = registry.replace_card(
                    db.session,
                    branch.actor,
                    holder.card_id,
                    reason="挂失补卡 lost",
                    now=utcnow(),
                    serial="R39999999",
                    bank_account_number=demo_bank_account(9999),
                )
                replaced.append(new.id)
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=collector)
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=branch_desk)
    second.start()
    second.join(1.0)  # waits for the card row (would be done at once without the lock)
    release.set()
    first.join(60)
    second.join(60)

    assert errors == []
    assert [o.status for o in outcomes] == ["debt"]
    [new_id] = replaced
    assert listing(app, new_id) == "debt"
    assert listing(app, holder.card_id) == "replaced"


@pytest.mark.postgres_only
def test_a_debt_collected_while_the_holder_repays_is_repaid_or_listed(
    app, client, holder, signed, bank_account, sim_bank, make_trip, monkeypatch
):
    """A fare over the limit on its own (an intercity coach) becomes a debt while the holder
    repays the older ones: the repayment waits for the collection and repays it too — never the
    older debts alone with the card taken off the list while it still owes more than the limit."""
    import threading

    run_into_debt(app, holder.card_id, bank_account, make_trip, fares=(3000, 2500))
    trip_id = make_trip(holder.card_id, base=6000)
    inside, release = threading.Event(), threading.Event()
    enforce = payment.enforce_debt_limit

    def paused(session, card, now):
        added = enforce(session, card, now)
        inside.set()
        release.wait(30)
        return added

    monkeypatch.setattr(payment, "enforce_debt_limit", paused)
    outcomes: list = []
    responses: list = []
    errors: list = []

    def collector() -> None:
        try:
            outcomes.append(collect(app, trip_id))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def phone() -> None:
        try:
            response = app.test_client().post("/mobile/v1/transit/repay", headers=holder.headers)
            responses.append((response.status_code, response.get_json()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=collector)
    first.start()
    assert inside.wait(30)
    number = bank_account(holder.card_id, 0)
    sim_bank.open_account(number, 20_000)
    second = threading.Thread(target=phone)
    second.start()
    second.join(1.0)  # waits for the card row (would repay the older debts at once without it)
    release.set()
    first.join(60)
    second.join(60)

    assert errors == []
    assert [o.status for o in outcomes] == ["debt"]
    [(status, body)] = responses
    assert status == 200, body
    assert (body["repaid_fen"], body["debts"]) == (11_500, 3)
    assert sim_bank.balance(number) == 20_000 - 11_500
    assert unpaid_debts(app) == 0
    assert listing(app, holder.card_id) is None

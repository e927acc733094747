"""The transit deny list covers the physical card too: a holder over the debt limit cannot ride on
by tapping the plastic. Online, the chip tap is refused with the same code and reason as the
card's QR code; offline, the revocation list carries a keyed tag of the card so a gate (its SAM)
can match a tapped card, and an offline tap a gate accepted anyway is charged and flagged."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.clock import utcnow
from server.credentials import service as credentials
from server.extensions import db
from server.registry import chip
from server.registry.models import Card
from server.security.models import AuditEvent
from server.transit.models import Tap, Trip
from tests.transit.conftest import collect, count_rows, listing, terminal_post, trips_of


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


# --- helpers -------------------------------------------------------------------------------------


def chip_counter(app, card_id) -> int:
    with app.app_context():
        counter = db.session.get(Card, card_id).chip_counter
        db.session.remove()
        return counter


def run_into_debt(app, card_id, bank_account, make_trip, fares=(3000, 2500)):
    """Fares refused by the bank (empty account) until the debt is over the ¥50 limit."""
    bank_account(card_id, 0)
    trip_ids = [make_trip(card_id, base=fare) for fare in fares]
    for trip_id in trip_ids:
        assert collect(app, trip_id).status == "debt"
    return trip_ids


def card_tap(passenger, kind="single"):
    return {"kind": kind, "medium": "card", "card": passenger.chip.tap(os.urandom(8))}


def qr_tap(passenger, kind="single"):
    return {"kind": kind, "medium": "qr", "code": passenger.code()}


# --- online --------------------------------------------------------------------------------------


def test_a_debt_listed_card_tap_is_refused_like_its_qr_code_until_repaid(
    app, client, passenger, bank_account, make_trip, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, passenger.card_id, bank_account, make_trip)
    assert listing(app, passenger.card_id) == "debt"
    taps_before = count_rows(app, Tap)
    trips_before = len(trips_of(app, passenger.card_id))

    body = card_tap(passenger)
    refused = terminal_post(client, bus, "/taps", body)
    assert refused.status_code == 403, refused.get_json()
    assert (refused.get_json()["code"], refused.get_json()["reason"]) == (
        "credential.revoked",
        "debt",
    )
    by_qr = terminal_post(client, bus, "/taps", qr_tap(passenger))
    assert (by_qr.status_code, by_qr.get_json()["code"], by_qr.get_json()["reason"]) == (
        403,
        "credential.revoked",
        "debt",
    )
    # Nothing recorded as a ride; the genuine answer spent its counter.
    assert count_rows(app, Tap) == taps_before
    assert len(trips_of(app, passenger.card_id)) == trips_before
    assert chip_counter(app, passenger.card_id) == body["card"]["counter"]

    # Repaid (the account has money again): the card rides; the refused answer stays spent.
    bank_account(passenger.card_id, 100_000)
    repaid = client.post("/mobile/v1/transit/repay", headers=passenger.holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    assert listing(app, passenger.card_id) is None
    replayed = terminal_post(client, bus, "/taps", body)
    assert (replayed.status_code, replayed.get_json()["code"]) == (409, "chip.counter_replayed")
    accepted = terminal_post(client, bus, "/taps", card_tap(passenger))
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["trip"]["charged_fen"] == 200
    assert len(trips_of(app, passenger.card_id)) == trips_before + 1


def test_a_metro_entry_by_a_debt_listed_card_opens_no_trip(
    app, client, passenger, bank_account, make_trip, make_transit_terminal
):
    gate = make_transit_terminal()
    run_into_debt(app, passenger.card_id, bank_account, make_trip)
    refused = terminal_post(client, gate, "/taps", card_tap(passenger, "entry"))
    assert (refused.status_code, refused.get_json()["code"]) == (403, "credential.revoked")
    with app.app_context():
        opened = db.session.execute(
            select(Trip).where(Trip.card_id == passenger.card_id, Trip.status == "open")
        ).all()
        db.session.remove()
    assert opened == []


def test_a_card_not_listed_rides_while_another_card_is_listed(
    app, client, make_passenger, bank_account, make_trip, make_transit_terminal
):
    debtor, other = make_passenger(), make_passenger()
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, debtor.card_id, bank_account, make_trip)
    assert listing(app, debtor.card_id) == "debt"
    assert listing(app, other.card_id) is None
    for _ in range(2):  # the second tap finds the card's pseudonym in the process cache
        response = terminal_post(client, bus, "/taps", card_tap(other))
        assert response.status_code == 200, response.get_json()
    refused = terminal_post(client, bus, "/taps", card_tap(debtor))
    assert refused.get_json()["code"] == "credential.revoked"


def test_a_debt_under_the_limit_does_not_stop_the_card(
    app, client, passenger, bank_account, make_trip, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, passenger.card_id, bank_account, make_trip, fares=(3000,))
    assert listing(app, passenger.card_id) is None
    response = terminal_post(client, bus, "/taps", card_tap(passenger))
    assert response.status_code == 200, response.get_json()


def test_a_lost_card_is_still_refused_by_its_state(app, client, passenger, make_transit_terminal):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=passenger.holder.headers)
    assert lost.status_code == 200, lost.get_json()
    response = terminal_post(client, bus, "/taps", card_tap(passenger))
    assert (response.status_code, response.get_json()["code"]) == (409, "card.not_active")


# --- offline: the revocation list tags listed cards, the reference gate's SAM refuses them --------


def download(client, terminal, path) -> dict:
    from tests.terminals.conftest import signed as signed_request

    response = signed_request(client, terminal, "GET", "/terminal/v1" + path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def offline_gate(app, client, terminal):
    from server.terminals.offline import OfflineGate, Sam

    gate = OfflineGate(
        download(client, terminal, "/trust-list"),
        download(client, terminal, "/revocation-list"),
        sam=Sam(app.extensions["ssc.keyring"].card_master),
    )
    return gate


def revocation_version(app) -> int:
    with app.app_context():
        version = credentials.revocation_version(db.session)
        db.session.remove()
        return version


def pending_batch(gate, batch_id: str) -> dict:
    """The gate's queued taps (QR codes and card answers) as one upload."""
    taps = []
    for t in gate.pending():
        tap = {"local_seq": t["local_seq"], "kind": "single", "tapped_at": t["scanned_at"]}
        if "card" in t:
            tap |= {"medium": "card", "card": t["card"]}
        else:
            tap |= {"medium": "qr", "code": t["text"]}
        taps.append(tap)
    return {"batch_id": batch_id, "taps": taps}


def flagged_batches(app) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "transit.listed_card_accepted_offline")
        ).scalars()
        found = [{"batch": r.object_id, **json.loads(r.detail)} for r in rows]
        db.session.remove()
    return found


def test_the_sam_computes_what_the_server_does():
    from server.terminals.offline import Sam

    master = bytes(range(32))
    card = chip.ChipCard.issued(master, "A20000001")
    answer = card.tap()
    sam = Sam(master)
    assert sam.deny_tag("A20000001") == chip.deny_tag(master, "A20000001")
    assert sam.deny_tag("A20000001") != sam.deny_tag("A20000002")
    assert Sam(bytes(32)).deny_tag("A20000001") != sam.deny_tag("A20000001")
    args = (bytes.fromhex(answer["challenge"]), answer["counter"], bytes.fromhex(answer["mac"]))
    assert sam.mac_matches("A20000001", *args)
    assert chip.mac_matches(master, "A20000001", *args)
    assert not sam.mac_matches("A20000002", *args)


def test_an_offline_gate_refuses_a_debt_listed_card_and_takes_it_after_repayment(
    app, client, make_passenger, bank_account, make_trip, make_transit_terminal
):
    debtor, other = make_passenger(), make_passenger()
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    run_into_debt(app, debtor.card_id, bank_account, make_trip)
    before_repay = revocation_version(app)

    full = download(client, bus, "/revocation-list")
    with app.app_context():
        pseudonym = credentials.card_pseudonym(db.session, debtor.card_id, utcnow()).hex()
        tag = chip.deny_tag(chip.master_key(), debtor.chip.serial)
        db.session.remove()
    assert {"card": tag, "pseudonym": pseudonym} in full["add"]["cards"]
    assert debtor.chip.serial not in str(full)  # the list never names a card serial

    gate = offline_gate(app, client, bus)
    now = utcnow()
    refused = gate.tap_card(debtor.chip.tap(os.urandom(8)), now)
    assert refused == {"accepted": False, "code": "credential.revoked", "reason": "debt"}
    assert gate.tap_card(other.chip.tap(os.urandom(8)), now)["accepted"] is True
    assert [t["card"]["serial"] for t in gate.pending()] == [other.chip.serial]

    # Repaid: the delta removes the pseudonym, and with it the card's tag.
    bank_account(debtor.card_id, 100_000)
    assert client.post("/mobile/v1/transit/repay", headers=debtor.holder.headers).status_code == 200
    delta = download(client, bus, f"/revocation-list?since={before_repay}")
    assert pseudonym in delta["remove"]["pseudonyms"]
    gate.refresh(revocation_doc=delta)
    assert gate.revocation_document["add"].get("cards", []) == []
    later = utcnow() + timedelta(seconds=2)  # the gate queues whole seconds: after the repayment
    accepted = gate.tap_card(debtor.chip.tap(os.urandom(8)), later)
    assert accepted["accepted"] is True

    # What the gate queued uploads as card taps and rides.
    batch = pending_batch(gate, "b-offline-cards-1")
    response = terminal_post(client, bus, "/tap-batches", batch)
    assert response.status_code == 200, response.get_json()
    assert [r["result"] for r in response.get_json()["results"]] == ["accepted", "accepted"]
    assert flagged_batches(app) == []


def test_a_gate_with_a_stale_list_accepts_a_listed_card_and_the_upload_charges_and_flags_it(
    app, client, make_passenger, bank_account, make_trip, make_transit_terminal
):
    debtor, other = make_passenger(), make_passenger()
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    gate = offline_gate(app, client, bus)  # downloaded before the listing
    run_into_debt(app, debtor.card_id, bank_account, make_trip)
    assert listing(app, debtor.card_id) == "debt"

    now = utcnow() + timedelta(seconds=2)  # the gate queues whole seconds: after the listing
    assert gate.tap_card(debtor.chip.tap(os.urandom(8)), now)["accepted"] is True
    assert gate.tap_card(other.chip.tap(os.urandom(8)), now)["accepted"] is True
    batch = pending_batch(gate, "b-offline-stale-1")
    response = terminal_post(client, bus, "/tap-batches", batch)
    assert response.status_code == 200, response.get_json()
    first, second = response.get_json()["results"]
    assert (first["result"], first["code"], second["result"]) == ("accepted", None, "accepted")
    # The ride happened: it is priced and waits for collection like any other.
    rides = [t for t in trips_of(app, debtor.card_id) if t.id == first["trip_id"]]
    assert [(t.charged_fen, t.payment_status) for t in rides] == [(200, "pending")]
    [flag] = flagged_batches(app)
    assert flag["batch"] == "b-offline-stale-1"
    assert flag["taps"] == [
        {"tap_id": first["tap_id"], "card_id": debtor.card_id, "reason": "debt"}
    ]
    # Uploading again changes nothing and flags nothing twice.
    again = terminal_post(client, bus, "/tap-batches", batch)
    assert again.get_json()["results"] == response.get_json()["results"]
    assert len(flagged_batches(app)) == 1


def test_a_gate_without_a_sam_takes_no_card(app, client, passenger, make_transit_terminal):
    from server.terminals.offline import OfflineGate

    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    gate = OfflineGate(
        download(client, bus, "/trust-list"), download(client, bus, "/revocation-list")
    )
    with pytest.raises(ValueError):
        gate.tap_card(passenger.chip.tap(os.urandom(8)), utcnow())


def test_a_forged_or_replayed_card_answer_is_refused_at_the_gate(
    app, client, passenger, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    gate = offline_gate(app, client, bus)
    answer = passenger.chip.tap(os.urandom(8))
    forged = {**answer, "mac": "00" * 8}
    assert gate.tap_card(forged, utcnow())["code"] == "chip.bad_mac"
    assert gate.tap_card(answer, utcnow())["accepted"] is True
    assert gate.tap_card(answer, utcnow())["code"] == "chip.counter_replayed"


def test_a_gate_refreshed_with_a_delta_refuses_a_card_listed_meanwhile(
    app, client, passenger, bank_account, make_trip, make_transit_terminal
):
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    gate = offline_gate(app, client, bus)
    assert gate.tap_card(passenger.chip.tap(os.urandom(8)), utcnow())["accepted"] is True
    run_into_debt(app, passenger.card_id, bank_account, make_trip)
    delta = download(client, bus, f"/revocation-list?since={gate.revocation_version}")
    assert delta["full"] is False and len(delta["add"]["cards"]) == 1
    gate.refresh(revocation_doc=delta)
    refused = gate.tap_card(passenger.chip.tap(os.urandom(8)), utcnow())
    assert (refused["code"], refused["reason"]) == ("credential.revoked", "debt")
    assert len(gate.pending()) == 1


def test_a_stale_gate_s_qr_taps_follow_the_card_rule_debt_charged_and_flagged_lost_refused(
    app, client, make_passenger, bank_account, make_trip, make_transit_terminal
):
    """A gate whose list predates the listings accepts both codes. At upload the debtor's ride is
    the holder's own — charged and flagged, as a listed card's would be — while the code of a card
    reported lost may not be the holder's: refused, nothing charged."""
    debtor, loser = make_passenger(), make_passenger()
    bus = make_transit_terminal("bus_validator", "gz-bus", None)
    gate = offline_gate(app, client, bus)  # downloaded before either listing
    run_into_debt(app, debtor.card_id, bank_account, make_trip)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=loser.holder.headers)
    assert lost.status_code == 200, lost.get_json()

    now = utcnow() + timedelta(seconds=2)  # whole seconds at the gate: after both listings
    assert gate.scan(debtor.code(), "transit", now)["accepted"] is True
    assert gate.scan(loser.code(), "transit", now)["accepted"] is True
    batch = pending_batch(gate, "b-offline-stale-qr")
    response = terminal_post(client, bus, "/tap-batches", batch)
    assert response.status_code == 200, response.get_json()
    charged, refused = response.get_json()["results"]
    assert (charged["result"], charged["code"]) == ("accepted", None)
    assert (refused["result"], refused["code"]) == ("refused", "credential.revoked")
    rides = [t for t in trips_of(app, debtor.card_id) if t.id == charged["trip_id"]]
    assert [(t.charged_fen, t.payment_status) for t in rides] == [(200, "pending")]
    assert trips_of(app, loser.card_id) == []
    [flag] = flagged_batches(app)
    assert flag["taps"] == [
        {"tap_id": charged["tap_id"], "card_id": debtor.card_id, "reason": "debt"}
    ]

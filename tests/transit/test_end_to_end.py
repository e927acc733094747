"""Transit from end to end, over real HTTP: the reference phone taps in and out in Guangzhou and in
Foshan and sees fares with their breakdown; a senior from Foshan rides free in Guangzhou; an
offline gate's batch, uploaded twice, is charged once; collection and settlement add up to the
ledger."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from mobile_api.client import PhoneClient
from server.clock import local_date, utcnow
from server.extensions import db
from server.ledger.models import Account
from server.ledger.service import check_ledger
from server.registry.demo import CARD_FACTORY
from server.registry.models import Card
from server.registry.service import decrypt_bank_account
from server.security.sms import outbox_messages
from server.terminals.client import TerminalAuth
from server.transit import payment, settlement
from tests.conftest import valid_id


@pytest.fixture
def gates(app, make_transit_terminal):
    """Metro gates at 体育西路 and 西塱 (Guangzhou), 南庄 and 湖涌 (Foshan)."""
    return {
        name: make_transit_terminal("metro_gate", network, stop, city=city)
        for name, network, stop, city in [
            ("tiyuxilu", "gz-metro", "gzm-tiyuxilu", "440100"),
            ("xilang", "gz-metro", "gzm-xilang", "440100"),
            ("nanzhuang", "fs-metro", "fsm-nanzhuang", "440600"),
            ("huyong", "fs-metro", "fsm-huyong", "440600"),
        ]
    }


@pytest.fixture
def signed_in(app, base_url, branch, make_staff, sim_bank):
    """``signed_in(birth, city, phone_number)``: a registered person with an active card, a bank
    account at the simulated bank, and the reference phone signed in with an e-card."""
    from server.registry.demo import demo_bank_account

    def make(birth: str, city: str, phone_number: str, seq: str) -> PhoneClient:
        from server.registry import service as registry

        now = utcnow()
        staff = branch if city == "440100" else make_staff("branch_staff", city)
        id_number = valid_id("440104" if city == "440100" else "440604", birth, seq)
        with app.app_context():
            person = registry.register_person(
                db.session, staff.actor, id_number=id_number, name="乘客", city_code=city,
                phone=phone_number, now=now,
            )  # fmt: skip
            card = registry.apply_card(
                db.session, staff.actor, person.id, generation=3, issuing_city=city,
                bank_code="icbc", now=now,
            )  # fmt: skip
            registry.produce_card(
                db.session, CARD_FACTORY, card.id, serial=f"E{int(seq):08d}",
                bank_account_number=demo_bank_account(int(seq)), now=now,
            )  # fmt: skip
            registry.issue_card(db.session, staff.actor, card.id, now)
            registry.activate_card(db.session, staff.actor, card.id, "135790", now)
            sim_bank.open_account(decrypt_bank_account(db.session.get(Card, card.id)), 100_000)
            db.session.remove()
        phone = PhoneClient(base_url)
        phone.request_sms_code(phone_number)
        with app.app_context():
            [message] = outbox_messages(db.session, phone_number, 1)
            db.session.remove()
        code = re.search(r"\b(\d{6})\b", message.message).group(1)
        phone.sign_in(phone_number, code, id_number=id_number, name="乘客")
        phone.sign_ecard()
        return phone

    return make


def tap(base_url, gate, phone, kind):
    response = requests.post(
        f"{base_url}/terminal/v1/taps",
        json={"kind": kind, "medium": "qr", "code": phone.presentation("transit")},
        auth=TerminalAuth(gate.code, gate.secret),
        timeout=10,
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_guangzhou_adult_rides_in_guangzhou_and_in_foshan(base_url, gates, signed_in):
    phone = signed_in("19900101", "440100", "13900000001", "101")
    tap(base_url, gates["tiyuxilu"], phone, "entry")
    gz = tap(base_url, gates["xilang"], phone, "exit")["trip"]
    tap(base_url, gates["nanzhuang"], phone, "entry")
    fs = tap(base_url, gates["huyong"], phone, "exit")["trip"]
    assert gz["breakdown"]["base_fen"] == gz["charged_fen"] > 0
    assert fs["mode"] == "metro" and fs["network_id"] == "fs-metro"
    trips = phone._call("GET", "/trips")["trips"]
    assert [t["network_id"] for t in trips] == ["fs-metro", "gz-metro"]
    assert all(t["breakdown"]["charged_fen"] == t["breakdown"]["base_fen"] for t in trips)


def test_a_senior_from_foshan_rides_free_in_guangzhou(base_url, gates, signed_in):
    phone = signed_in("19500312", "440600", "13900000002", "102")
    tap(base_url, gates["tiyuxilu"], phone, "entry")
    trip = tap(base_url, gates["xilang"], phone, "exit")["trip"]
    assert trip["charged_fen"] == 0
    assert trip["breakdown"]["concession_fen"] == trip["breakdown"]["base_fen"] > 0
    assert "same_city_treatment" in trip["breakdown"]["notes"]


def test_an_offline_batch_is_charged_once_and_settlement_adds_up_to_the_ledger(
    app,
    base_url,
    gates,
    signed_in,
):
    phone = signed_in("19900101", "440100", "13900000003", "103")
    now = utcnow()
    taps = [
        {"local_seq": 1, "kind": "entry", "medium": "qr", "code": phone.presentation("transit"),
         "tapped_at": now.isoformat()},
    ]  # fmt: skip
    batch = {"batch_id": str(uuid.uuid4()), "taps": taps}
    gate = gates["tiyuxilu"]
    first = requests.post(
        f"{base_url}/terminal/v1/tap-batches", json=batch, timeout=10,
        auth=TerminalAuth(gate.code, gate.secret),
    )  # fmt: skip
    again = requests.post(
        f"{base_url}/terminal/v1/tap-batches", json=batch, timeout=10,
        auth=TerminalAuth(gate.code, gate.secret),
    )  # fmt: skip
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    tap(base_url, gates["xilang"], phone, "exit")
    with app.app_context():
        summary = payment.collect_pending(db.session, utcnow())
        assert summary.paid == 1
        settlement.settle_day(db.session, local_date(now), utcnow())
        report = settlement.settlement_report(db.session, local_date(now))
        operator = db.session.query(Account).filter_by(owner_ref="gzmetro").one()
        [row] = [r for r in report.operators if r.operator_id == operator.owner_ref]
        assert row.trips == 1
        assert operator.balance_fen == row.collected_fen + row.concession_fen
        assert check_ledger(db.session).ok
        db.session.remove()

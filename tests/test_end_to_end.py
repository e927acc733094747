"""The whole credential story over real HTTP: the reference phone signs in with an SMS code, signs
the e-card, and its offline codes are accepted by a terminal online and by a gate with no server
running; lost cards and replays are refused with their codes."""

from __future__ import annotations

import re

import pytest

from mobile_api.client import ApiError, PhoneClient
from server.clock import utcnow
from server.extensions import db
from server.registry import service as registry
from server.registry.demo import demo_bank_account
from server.registry.rules import CardAction
from server.security.sms import outbox_messages
from server.terminals.client import TerminalClient, TerminalError
from server.terminals.service import register_terminal
from tests.conftest import valid_id

PHONE = "13800000001"
ID_NUMBER = valid_id("440104", "19500312", "031")
NAME = "陈伯"


@pytest.fixture
def active_card(app, branch, city_admin):
    now = utcnow()
    with app.app_context():
        person = registry.register_person(
            db.session, branch.actor, id_number=ID_NUMBER, name=NAME, city_code="440100", now=now
        )
        card = registry.apply_card(
            db.session, branch.actor, person.id, generation=3, issuing_city="440100",
            bank_code="icbc", now=now,
        )  # fmt: skip
        registry.produce_card(
            db.session, city_admin.actor, card.id, serial="A30000001",
            bank_account_number=demo_bank_account(31), now=now,
        )  # fmt: skip
        registry.issue_card(db.session, branch.actor, card.id, now)
        registry.activate_card(db.session, branch.actor, card.id, "135790", now)
        card_id = card.id
        db.session.remove()
    return card_id


@pytest.fixture
def gate_terminal(app):
    with app.app_context():
        terminal, secret = register_terminal(
            db.session, None, code="GZM-L3-0001", kind="metro_gate", city_code="440100",
            owner="广州地铁 Guangzhou Metro", now=utcnow(),
        )  # fmt: skip
        code = terminal.code
        db.session.remove()
    return code, secret


def sms_code(app, phone: str) -> str:
    with app.app_context():
        [message] = outbox_messages(db.session, phone, 1)
        db.session.remove()
    return re.search(r"\b(\d{6})\b", message.message).group(1)


@pytest.fixture
def phone(app, base_url, active_card):
    client = PhoneClient(base_url)
    client.request_sms_code(PHONE)
    client.sign_in(PHONE, sms_code(app, PHONE), id_number=ID_NUMBER, name=NAME)
    client.sign_ecard(app_id="gd-hrss", device_label="测试手机")
    return client


def test_the_phone_signs_in_and_its_codes_pass_a_gate_online_once(base_url, phone, gate_terminal):
    terminal = TerminalClient(base_url, *gate_terminal)
    text = phone.presentation("transit")
    assert len(text) <= 311
    accepted = terminal.verify(text, "transit")
    assert accepted["accepted"] is True
    assert accepted["categories"] == ["senior_65_plus"]
    with pytest.raises(TerminalError) as replay:
        terminal.verify(text, "transit")
    assert replay.value.code == "credential.replayed"
    assert terminal.verify(phone.presentation("transit"), "transit")["accepted"] is True


def test_an_offline_gate_verifies_with_no_server_running(
    base_url, live_server, phone, gate_terminal
):
    gate = TerminalClient(base_url, *gate_terminal).offline_gate()
    codes = [phone.presentation("transit") for _ in range(2)]
    library_code = phone.presentation("library")
    live_server.shutdown()  # from here on nothing can reach the server
    now = utcnow()
    first = gate.scan(codes[0], "transit", now)
    assert first["accepted"] is True
    assert gate.scan(codes[1], "transit", now)["accepted"] is True
    assert gate.scan(codes[0], "transit", now)["code"] == "credential.replayed"
    assert gate.scan(library_code, "transit", now)["code"] == "credential.wrong_scene"


def test_a_lost_card_is_refused_online_and_after_a_sync_offline(
    app, base_url, phone, gate_terminal, branch, active_card
):
    terminal = TerminalClient(base_url, *gate_terminal)
    gate = terminal.offline_gate()
    phone.report_loss("丢了")
    with pytest.raises(TerminalError) as refused:
        terminal.verify(phone.presentation("transit"), "transit")
    assert refused.value.code == "credential.revoked"
    terminal.sync(gate)
    assert gate.scan(phone.presentation("transit"), "transit", utcnow())["code"] == (
        "credential.revoked"
    )
    with pytest.raises(ApiError) as renew:
        phone.renew_certificate()
    assert renew.value.code == "card.not_active"
    with app.app_context():
        registry.change_state(
            db.session, branch.actor, active_card, CardAction.REPORT_FOUND, utcnow(), "找到了"
        )
        db.session.remove()
    phone.renew_certificate()
    assert terminal.verify(phone.presentation("transit"), "transit")["accepted"] is True


def test_the_server_code_and_fallback_code_work_for_thin_clients(base_url, phone, branch):
    import requests

    code = phone.server_code("venue")["code"]
    venue = requests.post(
        f"{base_url}/staff/v1/credentials/verify-fallback",
        json={"card_serial": "A30000001", "code": phone.fallback_code(), "scene": "venue"},
        headers=branch.headers,
        timeout=10,
    )
    assert venue.status_code == 200
    assert code.startswith("SS1:")

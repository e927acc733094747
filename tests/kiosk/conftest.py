"""Kiosk fixtures: a registered kiosk, cardholders with cards in a chosen state and their chips,
and card taps on server-issued challenges (shared with tests/entrances)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from server.clock import utcnow
from server.extensions import db
from server.registry import service as registry
from server.registry.chip import ChipCard
from server.registry.demo import demo_bank_account
from server.terminals import service as terminals
from tests.conftest import valid_id
from tests.terminals.conftest import TerminalHandle, signed


@dataclass
class CardHolder:
    person_id: int
    card_id: int
    serial: str
    id_number: str
    name: str
    chip: ChipCard


@pytest.fixture
def master(app) -> bytes:
    return app.extensions["ssc.keyring"].card_master


@pytest.fixture
def make_card(app, branch, city_admin, master):
    """``make_card("issued", birth="19420308")``: a person and a card in that state (applied,
    produced, issued, active, suspended, sealed, cancelled) with its emulated chip."""
    counter = {"n": 0}

    def make(
        state: str = "active", *, birth: str = "19420308", name: str = "王秀芳", city="440100"
    ) -> CardHolder:
        counter["n"] += 1
        n = counter["n"]
        now = utcnow()
        id_number = valid_id("440104", birth, f"{40 + n:03d}")
        with app.app_context():
            s = db.session
            person = registry.register_person(
                s, branch.actor, id_number=id_number, name=name, city_code=city, now=now
            )
            card = registry.apply_card(
                s,
                branch.actor,
                person.id,
                generation=3,
                issuing_city=city,
                bank_code="icbc",
                now=now,
            )
            serial = None
            if state != "applied":
                serial = f"B{30000000 + n:08d}"
                registry.produce_card(
                    s,
                    city_admin.actor,
                    card.id,
                    serial=serial,
                    bank_account_number=demo_bank_account(500 + n),
                    now=now,
                )
            if state not in ("applied", "produced"):
                registry.issue_card(s, branch.actor, card.id, now)
            if state in ("active", "suspended"):
                registry.activate_card(s, branch.actor, card.id, "135790", now)
            if state == "suspended":
                from server.registry.rules import CardAction

                registry.change_state(s, branch.actor, card.id, CardAction.REPORT_LOSS, now, "丢失")
            if state == "sealed":
                from server.registry.rules import SealReason

                registry.seal_card(s, branch.actor, card.id, SealReason.ON_REQUEST, None, now)
            if state == "cancelled":
                from server.registry.rules import CardAction

                registry.change_state(s, branch.actor, card.id, CardAction.CANCEL, now, "注销")
            holder = CardHolder(
                person.id,
                card.id,
                serial or "",
                id_number,
                name,
                ChipCard.issued(master, serial) if serial else ChipCard("", b"", 0),
            )
            db.session.remove()
        return holder

    return make


@pytest.fixture
def make_kiosk(app, now):
    counter = {"n": 0}

    def make(kind: str = "kiosk", city: str = "440100") -> TerminalHandle:
        counter["n"] += 1
        code = f"K{city[2:4]}-{kind[:3].upper()}-{counter['n']:04d}"
        with app.app_context():
            terminal, secret = terminals.register_terminal(
                db.session, None, code=code, kind=kind, city_code=city, owner="广州人社", now=now
            )
            handle = TerminalHandle(terminal.id, terminal.code, kind, city, secret)
            db.session.remove()
        return handle

    return make


@pytest.fixture
def kiosk(make_kiosk):
    return make_kiosk()


def post(client, terminal, path: str, body):
    return signed(client, terminal, "POST", "/terminal/v1" + path, json_body=body)


def get(client, terminal, path: str):
    return signed(client, terminal, "GET", "/terminal/v1" + path)


def challenge(client, terminal) -> dict:
    response = post(client, terminal, "/card-challenges", {})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def tap(client, terminal, chip: ChipCard, issued: dict | None = None) -> dict:
    """The card's answer to a fresh server challenge: the ``card`` object of a request."""
    issued = issued or challenge(client, terminal)
    answer = chip.tap(bytes.fromhex(issued["challenge"]))
    return {
        "challenge_id": issued["challenge_id"],
        "serial": answer["serial"],
        "counter": answer["counter"],
        "mac": answer["mac"],
    }


def code_of(response) -> str | None:
    return (response.get_json(silent=True) or {}).get("code")


def card_row(app, card_id: int):
    from server.registry.models import Card

    with app.app_context():
        card = db.session.get(Card, card_id)
        db.session.expunge(card)
        db.session.remove()
    return card


def count(app, model, *where) -> int:
    from sqlalchemy import func, select

    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        db.session.remove()
    return n

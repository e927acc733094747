"""``flask seed demo`` sets up the kiosk: terminal, entrances, elderly holders, and the kiosk's
files (mode 0600) with each demo card's diversified key."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from server.extensions import db
from server.registry import chip
from server.registry.models import Card, Person
from tests.kiosk.conftest import post, tap
from tests.terminals.conftest import TerminalHandle


def seed(runner) -> dict:
    result = runner.invoke(args=["seed", "demo", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_seeding_writes_the_kiosk_files_privately(app, runner, kiosk_dir):
    data = seed(runner)
    assert data["kiosk"]["terminal"] == "GZ-KIOSK-01"
    terminal_file = Path(kiosk_dir) / "terminal.json"
    cards_file = Path(kiosk_dir) / "demo_cards.json"
    for path in (terminal_file, cards_file):
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    config = json.loads(terminal_file.read_text())
    assert config["terminal_id"] == "GZ-KIOSK-01"
    assert config["entrance"] == "GDMUSEUM-MAIN" and config["city"] == "440100"
    assert config["entrance_name_zh"] == "广东省博物馆 主入口"  # the kiosk shows where it stands
    assert config["secret"]

    cards = json.loads(cards_file.read_text())
    master = app.extensions["ssc.keyring"].card_master
    assert cards["version"] == 1
    assert [b["serial"] for b in cards["blank_stock"]] == [f"K0000000{n}" for n in range(1, 6)]
    for entry in cards["cards"] + cards["blank_stock"]:
        assert entry["key"] == chip.diversify(master, entry["serial"]).hex()
    with app.app_context():
        serials = set(
            db.session.execute(select(Card.serial).where(Card.serial.is_not(None))).scalars()
        )
        db.session.remove()
    assert {c["serial"] for c in cards["cards"]} == serials


def test_the_elderly_demo_holders_activate_and_enter_at_the_demo_kiosk(
    app, client, runner, kiosk_dir
):
    seed(runner)
    config = json.loads((Path(kiosk_dir) / "terminal.json").read_text())
    cards = json.loads((Path(kiosk_dir) / "demo_cards.json").read_text())["cards"]
    with app.app_context():
        states = dict(
            db.session.execute(
                select(Person.name, Card.state)
                .join(Card, Card.person_id == Person.id)
                .where(Person.name.in_(["冯秀英", "梁国华"]))
            ).all()
        )
        db.session.remove()
    assert states == {"冯秀英": "issued", "梁国华": "active"}

    kiosk = TerminalHandle(0, config["terminal_id"], "kiosk", "440100", config["secret"])
    by_story = {c["label_zh"]: c for c in cards}
    active = next(c for label, c in by_story.items() if label.startswith("梁国华"))
    issued = next(c for label, c in by_story.items() if label.startswith("冯秀英"))
    assert (active["story"], issued["story"]) == ("active", "issued")

    liang = chip.ChipCard(active["serial"], bytes.fromhex(active["key"]))
    response = post(
        client, kiosk, "/entries", {"entrance": "GDMUSEUM-MAIN", "card": tap(client, kiosk, liang)}
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["holder"]["masked_name"] == "梁*华"

    feng = chip.ChipCard(issued["serial"], bytes.fromhex(issued["key"]))
    response = post(client, kiosk, "/activations", {"card": tap(client, kiosk, feng)})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["masked_name"] == "冯*英"


def test_seeding_opens_each_demo_cards_bank_account(app, runner):
    """So that fares collected and debts repaid under `make run` reach a bank that knows them."""
    from server.registry.demo import DEMO_BANK_BALANCE_FEN
    from server.registry.service import decrypt_bank_account

    seed(runner)
    bank = app.extensions["ssc.bank"]
    with app.app_context():
        numbers = [
            decrypt_bank_account(card)
            for card in db.session.execute(select(Card)).scalars()
            if card.bank_account_enc is not None
        ]
        db.session.remove()
    assert len(numbers) >= 10
    assert {bank.balance(number) for number in numbers} == {DEMO_BANK_BALANCE_FEN}

"""The emulated card's answers, through the APDU layer, against the server's own check
(server.registry.chip): MAC with the master-key-diversified key, and the counter that must grow."""

from __future__ import annotations

import json
import os

from kiosk_app.devices.card_session import answer_challenge
from kiosk_app.devices.emulated import DemoCardStore, EmulatedCard, EmulatedReader
from server.clock import utcnow
from server.errors import DomainError
from server.extensions import db
from server.registry import chip
from server.registry.models import Card
from tests.credentials.conftest import make_holder  # noqa: F401 - a fixture

MASTER = bytes(range(100, 132))
SERIAL = "A20000001"


def tap_with(card: EmulatedCard, challenge: bytes):
    reader = EmulatedReader()
    reader.place(card)
    return answer_challenge(reader, challenge)


def test_the_answer_is_accepted_by_the_servers_mac_check():
    card = EmulatedCard(SERIAL, chip.diversify(MASTER, SERIAL))
    challenge = chip.new_challenge()
    tap = tap_with(card, challenge)
    assert chip.mac_matches(MASTER, tap.serial, challenge, tap.counter, tap.mac)
    assert tap.mac == chip.card_mac(chip.diversify(MASTER, SERIAL), challenge, tap.counter)


def test_the_same_card_firmware_agrees_with_the_servers_chip_model():
    card = EmulatedCard(SERIAL, chip.diversify(MASTER, SERIAL))
    model = chip.ChipCard.issued(MASTER, SERIAL)
    for _ in range(3):
        challenge = os.urandom(8)
        counter, mac = model.answer(challenge)
        assert tap_with(card, challenge).mac == mac
        assert card.counter == counter


def test_a_card_with_another_key_is_refused():
    challenge = chip.new_challenge()
    for key in (
        chip.diversify(bytes(32), SERIAL),  # another installation's master key
        chip.diversify(MASTER, "A20000002"),  # another card's key under our serial
    ):
        tap = tap_with(EmulatedCard(SERIAL, key), challenge)
        assert not chip.mac_matches(MASTER, SERIAL, challenge, tap.counter, tap.mac)


def test_an_answer_checked_with_another_counter_or_challenge_is_refused():
    card = EmulatedCard(SERIAL, chip.diversify(MASTER, SERIAL))
    challenge = bytes.fromhex("0102030405060708")
    tap = tap_with(card, challenge)
    assert not chip.mac_matches(MASTER, SERIAL, challenge, tap.counter + 1, tap.mac)
    assert not chip.mac_matches(MASTER, SERIAL, bytes(8), tap.counter, tap.mac)
    assert not chip.mac_matches(MASTER, "A20000009", challenge, tap.counter, tap.mac)


# --- online, through authenticate_card_tap (SQLite and PostgreSQL) ------------------------------


def authenticate(app, serial: str, challenge: bytes, tap) -> str | int:
    """The server's decision on a tap: the card's stored counter, or the refusal code."""
    with app.app_context():
        try:
            card = chip.authenticate_card_tap(
                db.session,
                serial=serial,
                challenge=challenge,
                counter=tap.counter,
                mac=tap.mac,
                now=utcnow(),
            )
            db.session.commit()
            return card.chip_counter
        except DomainError as refusal:
            db.session.rollback()
            return refusal.code
        finally:
            db.session.remove()


def online_tap(app, card: EmulatedCard) -> str | int:
    challenge = chip.new_challenge()
    return authenticate(app, card.serial, challenge, tap_with(card, challenge))


def test_a_cloned_card_with_an_older_counter_is_refused(app, make_holder):  # noqa: F811
    holder = make_holder()
    master = app.extensions["ssc.keyring"].card_master
    card = EmulatedCard(holder.serial, chip.diversify(master, holder.serial))
    clone = card.clone()  # copied before the holder used the card
    assert online_tap(app, card) == 1
    assert online_tap(app, card) == 2
    assert online_tap(app, clone) == "chip.counter_replayed"
    assert online_tap(app, clone) == "chip.counter_replayed"  # its counter is still behind (2)
    assert online_tap(app, card) == 3  # the real card goes on working
    with app.app_context():
        assert db.session.get(Card, holder.card_id).chip_counter == 3
        db.session.remove()


def test_a_card_keyed_for_another_installation_is_a_bad_mac(app, make_holder):  # noqa: F811
    holder = make_holder()
    forged = EmulatedCard(holder.serial, chip.diversify(bytes(32), holder.serial))
    assert online_tap(app, forged) == "chip.bad_mac"


def test_a_restarted_demo_kiosk_is_never_taken_for_a_clone(app, make_holder, tmp_path):  # noqa: F811
    holder = make_holder()
    master = app.extensions["ssc.keyring"].card_master
    cards = tmp_path / "demo_cards.json"
    key = chip.diversify(master, holder.serial).hex()
    entry = {"serial": holder.serial, "label_zh": "陈伯", "label_en": "Chen", "key": key}
    cards.write_text(json.dumps({"version": 1, "cards": [entry]}), encoding="utf-8")
    state = tmp_path / "card_state.json"
    assert online_tap(app, DemoCardStore.load(cards, state).card(holder.serial)) == 1
    assert online_tap(app, DemoCardStore.load(cards, state).card(holder.serial)) == 2


def test_an_unknown_serial_is_an_unknown_card(app):
    card = EmulatedCard("Z99999999", chip.diversify(bytes(32), "Z99999999"))
    assert online_tap(app, card) == "chip.unknown_card"

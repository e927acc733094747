"""Reading a card, answering a server challenge and personalising, and each typed error."""

from __future__ import annotations

import threading

import pytest

from kiosk_app.devices import apdu
from kiosk_app.devices.card_session import (
    AlreadyPersonalised,
    CardFault,
    CardInfo,
    CardRemoved,
    CardTap,
    NoCard,
    NotOurCard,
    answer_challenge,
    personalise,
    read_card,
)
from kiosk_app.devices.emulated import EmulatedCard, EmulatedReader, card_mac
from kiosk_app.devices.reader import CardReader

KEY = bytes(range(32))
SERIAL = "A12345678"
CHALLENGE = bytes.fromhex("0102030405060708")
HOLDER = {"name": "王芳", "city": "440100"}


@pytest.fixture
def card():
    return EmulatedCard(SERIAL, KEY)


@pytest.fixture
def reader(card):
    reader = EmulatedReader()
    reader.place(card)
    return reader


class RemovedAfter(CardReader):
    """A reader whose card is lifted off after ``n`` exchanges."""

    def __init__(self, inner: EmulatedReader, n: int) -> None:
        self.inner, self.left = inner, n

    def card_present(self) -> bool:
        return self.inner.card_present()

    def wait_for_card(self, timeout_s: float) -> bool:
        return self.inner.wait_for_card(timeout_s)

    def transmit(self, raw: bytes) -> bytes:
        if self.left == 0:
            self.inner.remove()
        self.left -= 1
        return self.inner.transmit(raw)

    def disconnect(self) -> None:
        self.inner.disconnect()


class ForeignCard:
    """A bank card without the SSC application: every SELECT of our AID is 6A82."""

    def reset(self) -> None:
        pass

    def process(self, raw: bytes) -> bytes:
        return bytes.fromhex("6A82")


def test_a_blank_card_reads_its_serial_and_no_holder(reader):
    assert read_card(reader) == CardInfo(SERIAL, None)


def test_a_personalised_card_reads_its_holder(reader):
    assert personalise(reader, HOLDER) == CardInfo(SERIAL, HOLDER)
    assert read_card(reader) == CardInfo(SERIAL, HOLDER)


def test_a_card_answers_a_challenge_with_its_counter_and_mac(reader):
    tap = answer_challenge(reader, CHALLENGE)
    assert tap == CardTap(SERIAL, 1, card_mac(KEY, CHALLENGE, 1))
    assert answer_challenge(reader, CHALLENGE).counter == 2


def test_a_tap_serialises_as_the_contract_card_tap_object(reader):
    tap = answer_challenge(reader, CHALLENGE)
    assert tap.as_json("ch-1") == {
        "challenge_id": "ch-1",
        "serial": SERIAL,
        "counter": 1,
        "mac": card_mac(KEY, CHALLENGE, 1).hex(),
    }
    assert len(tap.as_json("ch-1")["mac"]) == 16


def test_a_challenge_must_be_eight_bytes(reader):
    with pytest.raises(ValueError):
        answer_challenge(reader, b"1234")


def test_no_card_on_the_reader_is_no_card():
    empty = EmulatedReader()
    for action in (read_card, lambda r: answer_challenge(r, CHALLENGE)):
        with pytest.raises(NoCard) as caught:
            action(empty)
        assert caught.value.code == "device.no_card"


def test_a_card_without_the_ssc_application_is_not_our_card():
    reader = EmulatedReader()
    reader.place(ForeignCard())
    with pytest.raises(NotOurCard) as caught:
        read_card(reader)
    assert caught.value.sw == 0x6A82


@pytest.mark.parametrize("after", [1, 2])
def test_a_card_lifted_mid_exchange_is_card_removed(reader, card, after):
    with pytest.raises(CardRemoved):
        answer_challenge(RemovedAfter(reader, after), CHALLENGE)


def test_a_refused_command_is_a_card_fault_with_its_status_word():
    worn = EmulatedReader()
    worn.place(EmulatedCard(SERIAL, KEY, counter=0xFFFF_FFFF))
    with pytest.raises(CardFault) as caught:
        answer_challenge(worn, CHALLENGE)
    assert caught.value.sw == 0x6985


def test_personalising_twice_is_already_personalised(reader, card):
    personalise(reader, HOLDER)
    with pytest.raises(AlreadyPersonalised) as caught:
        personalise(reader, {"name": "李四", "city": "440300"})
    assert caught.value.sw == 0x6985
    assert card.holder == HOLDER


def test_a_holder_record_too_long_for_one_apdu_is_refused_before_sending(reader, card):
    with pytest.raises(ValueError):
        personalise(reader, {"name": "长" * 100})
    with pytest.raises(ValueError):
        personalise(reader, {})
    assert not card.personalised


def test_a_card_with_a_garbled_holder_record_is_a_card_fault():
    reader = EmulatedReader()
    reader.place(EmulatedCard(SERIAL, KEY, holder=b"\xff\x00"))
    with pytest.raises(CardFault):
        read_card(reader)


def test_wait_for_card_returns_when_a_card_is_placed(card):
    reader = EmulatedReader()
    assert reader.wait_for_card(0.01) is False
    placer = threading.Timer(0.05, reader.place, args=(card,))
    placer.start()
    try:
        assert reader.wait_for_card(10) is True
    finally:
        placer.cancel()
    assert read_card(reader).serial == SERIAL


def test_the_errors_carry_plain_words_for_the_screen():
    for error in (NoCard, CardRemoved, NotOurCard, CardFault, AlreadyPersonalised):
        assert error.code.startswith("device.")
        assert error.zh and error.en
    assert apdu.SW.OK == 0x9000

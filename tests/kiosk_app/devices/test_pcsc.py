"""The PC/SC reader's transport handling (61xx GET RESPONSE, 6Cxx wrong Le, card gone) with fake
pyscard connections; no hardware and no pyscard needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk_app.devices import apdu
from kiosk_app.devices.apdu import ResponseAPDU
from kiosk_app.devices.card_session import CardRemoved, answer_challenge, read_card
from kiosk_app.devices.emulated import EmulatedCard, card_mac
from kiosk_app.devices.pcsc import PcscReader, available_readers
from kiosk_app.devices.reader import NoCard, ReaderUnavailable

KEY = bytes(range(32))
SERIAL = "A12345678"
CHALLENGE = bytes.fromhex("0102030405060708")


class CardGone(Exception):
    """What the fake pyscard raises when there is no card (pyscard: NoCardException …)."""


class ScriptedConnection:
    """Answers each transmitted command from a script of (expected command, response) pairs."""

    def __init__(self, script: list[tuple[str, str]]) -> None:
        self.script = [(bytes.fromhex(c), bytes.fromhex(r)) for c, r in script]
        self.sent: list[bytes] = []

    def connect(self, *args, **kwargs):
        return None

    def getATR(self):
        return [0x3B, 0x00]

    def transmit(self, command):
        self.sent.append(bytes(command))
        expected, response = self.script.pop(0)
        assert bytes(command) == expected
        return list(response[:-2]), response[-2], response[-1]

    def disconnect(self):
        return None


class T0Connection:
    """An emulated card behind a T=0 reader: data comes only through GET RESPONSE, ``chunk``
    bytes at a time."""

    def __init__(self, card: EmulatedCard, chunk: int = 256) -> None:
        self.card, self.chunk = card, chunk
        self.pending = b""
        self.present = True
        self.connected = False
        self.sent: list[bytes] = []

    def connect(self, *args, **kwargs):
        if not self.present:
            raise CardGone("no card")
        self.connected = True
        self.card.reset()

    def getATR(self):
        if not self.present:
            raise CardGone("removed")
        return [0x3B, 0x00]

    def transmit(self, command):
        command = bytes(command)
        self.sent.append(command)
        if not self.present:
            raise CardGone("removed")
        if command[1] == 0xC0:
            le = command[4] or 256
            out, self.pending = self.pending[:le], self.pending[le:]
            return list(out), *self._more_or_ok()
        response = ResponseAPDU.from_bytes(self.card.process(command))
        if response.ok and response.data:
            self.pending = response.data
            return [], *self._more_or_ok()
        return list(response.data), response.sw1, response.sw2

    def _more_or_ok(self) -> tuple[int, int]:
        if self.pending:
            return 0x61, min(self.chunk, len(self.pending)) & 0xFF
        return 0x90, 0x00

    def disconnect(self):
        self.connected = False


def reader_on(connection) -> PcscReader:
    return PcscReader(connection_factory=lambda: connection, card_errors=(CardGone,))


def test_61xx_is_followed_by_get_response_for_the_announced_length():
    answer = "00000001" + "AA" * 8
    connection = ScriptedConnection(
        [
            ("00 88 00 00 08 0102030405060708 00", "61 0C"),
            ("00 C0 00 00 0C", answer + "90 00"),
        ]
    )
    response = reader_on(connection).transmit(apdu.internal_authenticate(CHALLENGE).to_bytes())
    assert response == bytes.fromhex(answer + "9000")
    assert connection.script == []


def test_several_61xx_rounds_are_joined_in_order():
    connection = ScriptedConnection(
        [
            ("00 B2 02 0C 00", "61 04"),
            ("00 C0 00 00 04", "01 02 03 04 61 02"),
            ("00 C0 00 00 02", "05 06 90 00"),
        ]
    )
    response = reader_on(connection).transmit(apdu.read_record(2).to_bytes())
    assert response == bytes.fromhex("010203040506 9000")


def test_6cxx_resends_the_command_once_with_the_exact_le():
    connection = ScriptedConnection(
        [
            ("00 84 00 00 00", "6C 08"),
            ("00 84 00 00 08", "11 22 33 44 55 66 77 88 90 00"),
        ]
    )
    response = reader_on(connection).transmit(bytes.fromhex("00 84 00 00 00"))
    assert response == bytes.fromhex("1122334455667788 9000")


def test_6cxx_on_a_command_without_le_adds_one():
    connection = ScriptedConnection(
        [("00 B2 01 0C", "6C 09"), ("00 B2 01 0C 09", "41 31 32 33 34 35 36 37 38 90 00")]
    )
    assert reader_on(connection).transmit(bytes.fromhex("00 B2 01 0C"))[:-2] == b"A12345678"


def test_other_status_words_are_passed_up_unchanged():
    connection = ScriptedConnection([("00 B2 02 0C 00", "6A 83")])
    assert reader_on(connection).transmit(apdu.read_record(2).to_bytes()) == b"\x6a\x83"


def test_a_whole_session_over_t0_with_small_chunks():
    card = EmulatedCard(SERIAL, KEY, holder={"name": "王芳", "city": "440100"})
    connection = T0Connection(card, chunk=5)
    reader = reader_on(connection)
    info = read_card(reader)
    assert (info.serial, info.holder) == (SERIAL, {"name": "王芳", "city": "440100"})
    tap = answer_challenge(reader, CHALLENGE)
    assert (tap.counter, tap.mac) == (1, card_mac(KEY, CHALLENGE, 1))
    assert bytes.fromhex("00C0000005") in connection.sent


def test_a_short_le_from_the_card_is_recovered_over_6cxx():
    connection = T0Connection(EmulatedCard(SERIAL, KEY))
    reader = reader_on(connection)
    assert reader.transmit(apdu.select_aid().to_bytes())[-2:] == b"\x90\x00"
    response = reader.transmit(bytes.fromhex("00 B2 01 0C 04"))  # the card answers 6C09
    assert response == b"A12345678\x90\x00"


def test_no_card_on_connect_is_no_card_and_card_present_is_false():
    connection = T0Connection(EmulatedCard(SERIAL, KEY))
    connection.present = False
    reader = reader_on(connection)
    assert reader.card_present() is False
    with pytest.raises(NoCard):
        reader.transmit(apdu.select_aid().to_bytes())


def test_a_card_lifted_during_a_session_is_card_removed_then_absent():
    connection = T0Connection(EmulatedCard(SERIAL, KEY))
    reader = reader_on(connection)
    assert reader.card_present() is True
    reader.transmit(apdu.select_aid().to_bytes())
    connection.present = False
    with pytest.raises(CardRemoved):
        reader.transmit(apdu.read_record(1).to_bytes())
    assert connection.connected is False
    assert reader.card_present() is False


def test_wait_for_card_polls_until_the_card_arrives_or_time_runs_out():
    connection = T0Connection(EmulatedCard(SERIAL, KEY))
    connection.present = False
    now = [0.0]
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        now[0] += seconds
        if len(polls) == 3:
            connection.present = True

    reader = PcscReader(
        connection_factory=lambda: connection,
        card_errors=(CardGone,),
        sleep=sleep,
        clock=lambda: now[0],
        poll_interval_s=0.2,
    )
    assert reader.wait_for_card(5) is True
    assert len(polls) == 3
    connection.present = False
    reader.disconnect()
    assert reader.wait_for_card(0.5) is False
    assert now[0] == pytest.approx(1.1)


def test_without_pyscard_the_reader_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "smartcard", None)
    monkeypatch.setitem(sys.modules, "smartcard.System", None)
    with pytest.raises(ReaderUnavailable):
        available_readers()
    with pytest.raises(ReaderUnavailable):
        PcscReader().transmit(apdu.select_aid().to_bytes())


def test_the_device_layer_imports_without_pyscard_kivy_or_flask():
    code = (
        "import sys, kiosk_app.devices, "
        "kiosk_app.devices.pcsc; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kivy', 'flask', 'smartcard', "
        "'sqlalchemy', 'server'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

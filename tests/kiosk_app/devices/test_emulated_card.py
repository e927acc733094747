"""The emulated card's firmware: each command's answer, and the status word for each bad input."""

from __future__ import annotations

import pytest

from kiosk_app.devices import apdu
from kiosk_app.devices.apdu import SW, ResponseAPDU
from kiosk_app.devices.emulated import EmulatedCard, EmulatedReader, card_mac
from kiosk_app.devices.reader import NoCard

KEY = bytes(range(32))
SERIAL = "A12345678"
CHALLENGE = bytes.fromhex("0102030405060708")


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.fixture
def card():
    return EmulatedCard(SERIAL, KEY, random_bytes=lambda n: bytes([0xAB]) * n)


def send(card: EmulatedCard, command) -> ResponseAPDU:
    raw = command if isinstance(command, bytes) else command.to_bytes()
    return ResponseAPDU.from_bytes(card.process(raw))


def selected(card: EmulatedCard) -> EmulatedCard:
    assert send(card, apdu.select_aid()).ok
    return card


def test_select_answers_the_fci_with_the_aid(card):
    response = send(card, apdu.select_aid())
    assert response.sw == SW.OK
    assert response.data == hexbytes("6F 0B 84 09") + apdu.SSC_AID


def test_select_of_another_application_is_file_not_found(card):
    assert send(card, apdu.select_aid(hexbytes("A0 00 00 00 03 10 10"))).sw == SW.FILE_NOT_FOUND


def test_select_with_other_p1_p2_is_refused(card):
    assert send(card, hexbytes("00 A4 00 00 02 3F 00")).sw == SW.WRONG_P1P2


def test_nothing_but_select_works_before_the_application_is_selected(card):
    assert send(card, apdu.read_record(1)).sw == SW.SECURITY_NOT_SATISFIED
    assert send(card, apdu.internal_authenticate(CHALLENGE)).sw == SW.SECURITY_NOT_SATISFIED
    assert card.counter == 0


def test_a_reset_deselects_the_application(card):
    selected(card).reset()
    assert send(card, apdu.read_record(1)).sw == SW.SECURITY_NOT_SATISFIED


def test_record_1_is_the_serial(card):
    response = send(selected(card), apdu.read_record(1))
    assert (response.sw, response.data) == (SW.OK, b"A12345678")


def test_record_2_is_not_found_until_personalised(card):
    assert send(selected(card), apdu.read_record(2)).sw == SW.RECORD_NOT_FOUND


def test_other_records_are_not_found(card):
    assert send(selected(card), apdu.read_record(3)).sw == SW.RECORD_NOT_FOUND
    assert send(card, apdu.read_record(0)).sw == SW.RECORD_NOT_FOUND


def test_read_record_of_an_unknown_file_or_a_bad_p2_is_refused(card):
    assert send(selected(card), apdu.read_record(1, sfi=5)).sw == SW.FILE_NOT_FOUND
    assert send(card, hexbytes("00 B2 01 0D 00")).sw == SW.WRONG_P1P2


def test_read_record_with_a_short_le_answers_6c_with_the_exact_length(card):
    assert send(selected(card), hexbytes("00 B2 01 0C 04")).sw == 0x6C09


def test_get_challenge_answers_eight_card_random_bytes(card):
    response = send(selected(card), apdu.get_challenge())
    assert (response.sw, response.data) == (SW.OK, bytes([0xAB]) * 8)


def test_get_challenge_of_another_length_is_wrong_length(card):
    assert send(selected(card), apdu.get_challenge(4)).sw == SW.WRONG_LENGTH
    assert send(card, hexbytes("00 84 00 00")).sw == SW.WRONG_LENGTH


def test_internal_authenticate_answers_counter_and_mac(card):
    response = send(selected(card), apdu.internal_authenticate(CHALLENGE))
    assert response.sw == SW.OK
    assert response.data[:4] == hexbytes("00 00 00 01")
    assert response.data[4:] == card_mac(KEY, CHALLENGE, 1)
    assert len(response.data) == 12


def test_the_counter_grows_with_every_answer(card):
    selected(card)
    counters = [send(card, apdu.internal_authenticate(CHALLENGE)).data[:4] for _ in range(3)]
    assert [int.from_bytes(c, "big") for c in counters] == [1, 2, 3]
    assert card.counter == 3


def test_internal_authenticate_with_a_wrong_challenge_length_is_refused(card):
    assert send(selected(card), hexbytes("00 88 00 00 07 01 02 03 04 05 06 07 00")).sw == 0x6700
    assert card.counter == 0


def test_internal_authenticate_with_other_p1_p2_is_refused(card):
    command = hexbytes("00 88 01 00 08") + CHALLENGE + b"\x00"
    assert send(selected(card), command).sw == SW.WRONG_P1P2


def test_a_card_whose_counter_is_exhausted_refuses_to_answer():
    card = selected(EmulatedCard(SERIAL, KEY, counter=0xFFFF_FFFF))
    assert send(card, apdu.internal_authenticate(CHALLENGE)).sw == SW.CONDITIONS_NOT_SATISFIED


def test_update_record_writes_the_holder_once(card):
    holder = '{"name":"王芳","city":"440100"}'.encode()
    assert send(selected(card), apdu.update_record(2, holder)).sw == SW.OK
    assert send(card, apdu.read_record(2)).data == holder
    assert card.holder == {"name": "王芳", "city": "440100"}
    again = send(card, apdu.update_record(2, b'{"name":"x"}'))
    assert again.sw == SW.CONDITIONS_NOT_SATISFIED
    assert card.holder == {"name": "王芳", "city": "440100"}


def test_update_record_cannot_overwrite_the_serial_or_write_other_records(card):
    assert send(selected(card), apdu.update_record(1, b"B00000000")).sw == 0x6985
    assert send(card, apdu.update_record(3, b"{}")).sw == SW.RECORD_NOT_FOUND


def test_update_record_refuses_data_that_is_not_a_json_object(card):
    assert send(selected(card), apdu.update_record(2, b"\xff\xfe")).sw == SW.WRONG_DATA
    assert send(card, apdu.update_record(2, b"[1,2]")).sw == SW.WRONG_DATA
    assert not card.personalised


def test_a_wrong_class_byte_is_class_not_supported(card):
    assert send(card, hexbytes("80 A4 04 00 09") + apdu.SSC_AID).sw == SW.CLA_NOT_SUPPORTED


def test_an_unknown_instruction_is_not_supported(card):
    assert send(card, hexbytes("00 CA 00 00 00")).sw == SW.INS_NOT_SUPPORTED


@pytest.mark.parametrize("raw", ["00 A4", "00 A4 04 00 09 A0 00", "00 A4 04 00 00 01"])
def test_malformed_apdus_are_wrong_length(card, raw):
    assert send(card, hexbytes(raw)).sw == SW.WRONG_LENGTH


def test_a_card_is_built_only_from_a_valid_serial_and_key():
    with pytest.raises(ValueError):
        EmulatedCard("A1234", KEY)
    with pytest.raises(ValueError):
        EmulatedCard(SERIAL, bytes(16))
    with pytest.raises(ValueError):
        EmulatedCard(SERIAL, KEY, counter=-1)


def test_the_repr_never_shows_the_key(card):
    assert KEY.hex() not in repr(card)
    assert SERIAL in repr(card)


def test_a_clone_has_the_same_key_and_the_counter_it_was_copied_at(card):
    selected(card)
    send(card, apdu.internal_authenticate(CHALLENGE))
    clone = card.clone()
    older = card.clone(counter=0)
    send(card, apdu.internal_authenticate(CHALLENGE))
    assert (clone.serial, clone.key, clone.counter) == (SERIAL, KEY, 1)
    assert older.counter == 0
    assert card.counter == 2


def test_the_reader_passes_apdus_to_the_placed_card_only(card):
    reader = EmulatedReader()
    assert not reader.card_present()
    with pytest.raises(NoCard):
        reader.transmit(apdu.select_aid().to_bytes())
    reader.place(card)
    assert reader.card_present() and reader.card is card
    assert reader.transmit(apdu.select_aid().to_bytes())[-2:] == b"\x90\x00"
    reader.remove()
    with pytest.raises(NoCard):
        reader.transmit(apdu.read_record(1).to_bytes())


def test_placing_a_card_powers_it_up_unselected(card):
    reader = EmulatedReader()
    reader.place(selected(card))
    assert reader.transmit(apdu.read_record(1).to_bytes())[-2:] == bytes.fromhex("6982")

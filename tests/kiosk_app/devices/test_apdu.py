"""Short APDUs: each builder's exact bytes, parsing of the four cases, status words."""

from __future__ import annotations

import pytest

from kiosk_app.devices import apdu
from kiosk_app.devices.apdu import SW, CardError, CommandAPDU, MalformedAPDU, ResponseAPDU


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_select_by_the_ssc_aid():
    assert apdu.select_aid().to_bytes() == hexbytes("00 A4 04 00 09 A0 00 00 06 32 53 53 43 01 00")


def test_read_record_addresses_sfi_1_with_the_record_number_in_p1():
    assert apdu.read_record(1).to_bytes() == hexbytes("00 B2 01 0C 00")
    assert apdu.read_record(2).to_bytes() == hexbytes("00 B2 02 0C 00")


def test_get_challenge_asks_for_eight_bytes():
    assert apdu.get_challenge().to_bytes() == hexbytes("00 84 00 00 08")


def test_internal_authenticate_carries_the_challenge_and_le_00():
    command = apdu.internal_authenticate(hexbytes("0102030405060708"))
    assert command.to_bytes() == hexbytes("00 88 00 00 08 01 02 03 04 05 06 07 08 00")


def test_internal_authenticate_refuses_a_challenge_that_is_not_eight_bytes():
    with pytest.raises(ValueError):
        apdu.internal_authenticate(b"short")


def test_update_record_writes_record_2_with_the_contract_p2():
    command = apdu.update_record(2, b'{"a":1}')
    assert command.to_bytes() == hexbytes("00 DC 02 0C 07") + b'{"a":1}'


def test_get_response_asks_for_the_announced_length():
    assert apdu.get_response(0x0C).to_bytes() == hexbytes("00 C0 00 00 0C")
    assert apdu.get_response(0).to_bytes() == hexbytes("00 C0 00 00 00")


@pytest.mark.parametrize(
    ("raw", "data", "le"),
    [
        ("00 A4 04 00", b"", None),  # case 1
        ("00 84 00 00 08", b"", 8),  # case 2
        ("00 84 00 00 00", b"", 256),  # case 2, Le 00 = 256
        ("00 DC 02 14 02 AB CD", hexbytes("AB CD"), None),  # case 3
        ("00 88 00 00 02 AB CD 00", hexbytes("AB CD"), 256),  # case 4
    ],
)
def test_a_command_parses_back_to_the_same_bytes(raw, data, le):
    command = CommandAPDU.parse(hexbytes(raw))
    assert (command.data, command.le) == (data, le)
    assert command.to_bytes() == hexbytes(raw)


@pytest.mark.parametrize("raw", ["00 A4 04", "00 DC 02 14 03 AB CD", "00 B2 01 0C 00 00 01 02"])
def test_malformed_commands_are_refused(raw):
    with pytest.raises(MalformedAPDU):
        CommandAPDU.parse(hexbytes(raw))


def test_out_of_range_fields_are_refused():
    with pytest.raises(ValueError):
        CommandAPDU(0x100, 0xA4, 0, 0)
    with pytest.raises(ValueError):
        CommandAPDU(0, 0xA4, 0, 0, data=bytes(256))
    with pytest.raises(ValueError):
        CommandAPDU(0, 0xA4, 0, 0, le=0)


def test_a_response_splits_data_and_status_word():
    response = ResponseAPDU.from_bytes(hexbytes("41 42 90 00"))
    assert (response.data, response.sw, response.ok) == (b"AB", 0x9000, True)
    assert response.check() == b"AB"
    assert response.to_bytes() == hexbytes("41 42 90 00")
    with pytest.raises(ValueError):
        ResponseAPDU.from_bytes(b"\x90")


def test_a_refusal_raises_card_error_with_its_status_word():
    with pytest.raises(CardError) as caught:
        ResponseAPDU.from_bytes(hexbytes("6A 82")).check()
    assert caught.value.sw == 0x6A82
    assert caught.value.status is SW.FILE_NOT_FOUND
    assert CardError(0x6F00).status is None


def test_every_status_word_has_a_chinese_and_an_english_meaning():
    for sw in SW:
        zh, en = sw.meaning
        assert zh and en and zh != en
    assert SW(0x6985) is SW.CONDITIONS_NOT_SATISFIED


def test_the_61xx_and_6cxx_families_are_described():
    assert "12" in apdu.describe_sw(0x610C)[1]
    assert "9" in apdu.describe_sw(0x6C09)[1]
    assert "6F00" in apdu.describe_sw(0x6F00)[1]

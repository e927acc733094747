"""Registry rules, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from server.registry import rules
from server.registry.rules import CardAction, CardState, IdType, InvalidIdNumber
from tests.conftest import valid_id

TODAY = date(2026, 11, 20)


def test_guangdong_has_21_cities_and_5_pilots():
    assert len(rules.CITIES) == 21
    assert len({c.code for c in rules.CITIES}) == 21
    assert {c.code for c in rules.CITIES if c.pilot} == {
        "440100",
        "440400",
        "440600",
        "441900",
        "441500",
    }
    assert rules.CITY_BY_CODE["445300"].name_en == "Yunfu"


def test_check_digit_matches_the_national_standard_example():
    # GB 11643-1999 example number 11010519491231002X.
    assert rules.check_digit("11010519491231002") == "X"


def test_resident_id_yields_birth_date_and_sex():
    parsed = rules.parse_id_number(valid_id("440106", "19900101", "123"), TODAY)
    assert parsed.id_type is IdType.RESIDENT
    assert parsed.birth_date == date(1990, 1, 1)
    assert parsed.sex == "M"  # the 17th digit, 3, is odd


def test_lowercase_x_and_spaces_are_normalised():
    number = "11010519491231002X"
    parsed = rules.parse_id_number(" 110105 19491231 002x ", TODAY)
    assert parsed.number == number
    assert parsed.sex == "F"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("810000", IdType.HK_RESIDENCE_PERMIT),
        ("820000", IdType.MACAO_RESIDENCE_PERMIT),
        ("830000", IdType.TAIWAN_RESIDENCE_PERMIT),
        ("944840", IdType.FOREIGN_PERMANENT),
    ],
)
def test_permits_are_recognised_by_their_prefix(region, expected):
    assert rules.parse_id_number(valid_id(region, "19880506", "181"), TODAY).id_type is expected


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("44010619900101123", "shape"),
        ("4401061990010112345", "shape"),
        ("44010619900101123A", "shape"),
        (valid_id()[:17] + ("0" if valid_id()[17] != "0" else "1"), "check_digit"),
        (valid_id("990106"), "region"),
        (valid_id("440106", "19900230"), "birth_date"),
        (valid_id("440106", "20270101"), "birth_date"),
        (valid_id("900106"), "region"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(number, reason):
    with pytest.raises(InvalidIdNumber) as excinfo:
        rules.parse_id_number(number, TODAY)
    assert excinfo.value.reason == reason


def test_age_counts_whole_years():
    assert rules.age_on(date(1961, 11, 21), TODAY) == 64
    assert rules.age_on(date(1961, 11, 20), TODAY) == 65


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("12812345678", None),
        ("1381234567", None),
    ],
)
def test_mobile_numbers(raw, expected):
    assert rules.normalise_phone(raw) == expected


def test_bank_accounts_need_a_luhn_check_digit():
    assert rules.valid_bank_account("6222020200000000009") is rules.luhn_ok("6222020200000000009")
    assert rules.valid_bank_account("4111111111111111")
    assert not rules.valid_bank_account("4111111111111112")
    assert not rules.valid_bank_account("41111111")


HAPPY_PATH = [
    (CardAction.PRODUCE, CardState.APPLIED, CardState.PRODUCED),
    (CardAction.ISSUE, CardState.PRODUCED, CardState.ISSUED),
    (CardAction.ACTIVATE, CardState.ISSUED, CardState.ACTIVE),
    (CardAction.REPORT_LOSS, CardState.ACTIVE, CardState.SUSPENDED),
    (CardAction.REPORT_FOUND, CardState.SUSPENDED, CardState.ACTIVE),
    (CardAction.REPLACE, CardState.SUSPENDED, CardState.REPLACED),
    (CardAction.SEAL, CardState.ACTIVE, CardState.SEALED),
    (CardAction.CANCEL, CardState.SEALED, CardState.CANCELLED),
]


@pytest.mark.parametrize(("action", "before", "after"), HAPPY_PATH)
def test_allowed_transitions(action, before, after):
    assert rules.next_state(action, before) is after


@pytest.mark.parametrize("state", [CardState.REPLACED, CardState.CANCELLED])
def test_replaced_and_cancelled_cards_are_final(state):
    assert rules.allowed_actions(state) == []
    for action in CardAction:
        with pytest.raises(rules.InvalidTransition):
            rules.next_state(action, state, CardState.ACTIVE)


def test_every_pair_outside_the_table_is_refused():
    refused = 0
    for action in CardAction:
        if action is CardAction.UNSEAL:
            continue
        for state in CardState:
            if (action, state) in rules.TRANSITIONS:
                continue
            with pytest.raises(rules.InvalidTransition):
                rules.next_state(action, state)
            refused += 1
    assert refused == len(CardAction) * len(CardState) - len(CardState) - len(rules.TRANSITIONS)


def test_unsealing_returns_to_the_state_before_sealing():
    assert rules.next_state(CardAction.UNSEAL, CardState.SEALED, CardState.SUSPENDED) is (
        CardState.SUSPENDED
    )
    with pytest.raises(rules.InvalidTransition):
        rules.next_state(CardAction.UNSEAL, CardState.ACTIVE, CardState.ACTIVE)


def test_usable_states_are_the_ones_that_block_a_second_card():
    assert CardState.SEALED not in rules.USABLE_STATES
    assert CardState.SUSPENDED in rules.USABLE_STATES
    assert CardState.APPLIED in rules.USABLE_STATES


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        ("000000", "repeated"),
        ("123456", "sequence"),
        ("654321", "sequence"),
        ("121212", "pattern"),
        ("12345", "shape"),
        ("12a456", "shape"),
        ("900101", "birth_date"),
    ],
)
def test_weak_pins_are_refused(pin, problem):
    assert problem in rules.pin_problems(pin, date(1990, 1, 1))


def test_a_reasonable_pin_is_accepted():
    assert rules.pin_problems("135790", date(1990, 1, 1)) == []


def test_expiry_handles_29_february():
    assert rules.expiry_date(date(2024, 2, 29), 10) == date(2034, 2, 28)

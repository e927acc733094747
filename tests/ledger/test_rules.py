"""Ledger rules: pure, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from server.error_codes import CATALOGUE
from server.ledger import rules
from server.ledger.rules import AccountKind, AccountStatus, LedgerRuleError


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(LedgerRuleError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_valid_legs_come_back_sorted_by_account():
    assert rules.validate_legs([(9, -5), (3, 2), (4, 3)]) == [(3, 2), (4, 3), (9, -5)]


def test_legs_may_be_lists():
    assert rules.validate_legs([[1, 7], [2, -7]]) == [(1, 7), (2, -7)]


@pytest.mark.parametrize("legs", [[], [(1, 5)]])
def test_an_entry_needs_at_least_two_legs(legs):
    assert code_of(rules.validate_legs, legs) == "ledger.invalid_entry"


@pytest.mark.parametrize("amount", [True, 1.0, 0.5, "100", Decimal("1"), None])
def test_amounts_must_be_plain_ints(amount):
    assert code_of(rules.validate_legs, [(1, amount), (2, -1)]) == "ledger.invalid_amount"


def test_a_zero_amount_is_refused():
    assert code_of(rules.validate_legs, [(1, 0), (2, 0)]) == "ledger.invalid_amount"


def test_an_amount_beyond_the_limit_is_refused():
    big = rules.MAX_AMOUNT_FEN + 1
    assert code_of(rules.validate_legs, [(1, big), (2, -big)]) == "ledger.invalid_amount"


def test_legs_that_do_not_sum_to_zero_are_unbalanced():
    assert code_of(rules.validate_legs, [(1, 100), (2, -99)]) == "ledger.unbalanced"


def test_an_account_may_not_appear_twice():
    assert code_of(rules.validate_legs, [(1, 5), (1, -5)]) == "ledger.invalid_entry"


@pytest.mark.parametrize("account_id", [0, -3, True, "1", 1.0])
def test_account_ids_must_be_positive_ints(account_id):
    assert code_of(rules.validate_legs, [(account_id, 5), (2, -5)]) == "ledger.invalid_entry"


def test_a_leg_must_be_a_pair():
    assert code_of(rules.validate_legs, [(1, 5, 0), (2, -5)]) == "ledger.invalid_entry"
    assert code_of(rules.validate_legs, ["ab", (2, -5)]) == "ledger.invalid_entry"


@pytest.mark.parametrize(
    ("key", "kind", "memo"),
    [
        ("", "fare", ""),
        ("k" * 129, "fare", ""),
        ("k", "", ""),
        ("k", "fare", "m" * 201),
        (1, "x", ""),
    ],
)
def test_entry_fields_are_bounded(key, kind, memo):
    assert code_of(rules.validate_entry_fields, key, kind, memo) == "ledger.invalid_entry"


def test_request_hash_ignores_leg_order():
    a = rules.request_hash([(1, 5), (2, -5)], kind="fare", memo="m")
    b = rules.request_hash([(2, -5), (1, 5)], kind="fare", memo="m")
    assert a == b
    assert len(a) == 64


@pytest.mark.parametrize(
    ("legs", "kind", "memo"),
    [
        ([(1, 6), (2, -6)], "fare", "m"),
        ([(1, 5), (3, -5)], "fare", "m"),
        ([(1, 5), (2, -5)], "refund", "m"),
        ([(1, 5), (2, -5)], "fare", "n"),
    ],
)
def test_request_hash_changes_with_any_part_of_the_entry(legs, kind, memo):
    base = rules.request_hash([(1, 5), (2, -5)], kind="fare", memo="m")
    assert rules.request_hash(legs, kind=kind, memo=memo) != base


def test_only_bank_clearing_may_go_negative():
    assert rules.default_min_balance(AccountKind.BANK_CLEARING) is None
    for kind in AccountKind:
        if kind is not AccountKind.BANK_CLEARING:
            assert rules.default_min_balance(kind) == 0


def test_only_debits_are_checked_against_the_floor():
    assert rules.checks_floor(-1)
    assert not rules.checks_floor(1)


def test_refusal_codes_follow_the_account_status():
    assert rules.refusal_code("closed") == "ledger.account_closed"
    assert rules.refusal_code("frozen") == "ledger.account_frozen"
    assert rules.refusal_code("open") == "ledger.insufficient_funds"


def test_an_account_can_be_frozen_and_unfrozen():
    assert rules.check_status_change("open", "frozen", 50) is AccountStatus.FROZEN
    assert rules.check_status_change("frozen", "open", 50) is AccountStatus.OPEN


def test_an_account_closes_only_when_empty():
    assert rules.check_status_change("open", "closed", 0) is AccountStatus.CLOSED
    assert code_of(rules.check_status_change, "open", "closed", 1) == "ledger.balance_not_zero"


def test_a_closed_account_stays_closed():
    assert code_of(rules.check_status_change, "closed", "open", 0) == "ledger.account_closed"


def test_a_status_change_to_the_same_status_is_refused():
    assert code_of(rules.check_status_change, "open", "open", 0) == "ledger.invalid_status_change"
    assert code_of(rules.check_status_change, "open", "gone", 0) == "ledger.invalid_entry"


def test_every_code_the_rules_raise_is_in_the_catalogue():
    for code in (
        "ledger.invalid_entry",
        "ledger.invalid_amount",
        "ledger.unbalanced",
        "ledger.account_closed",
        "ledger.account_frozen",
        "ledger.insufficient_funds",
        "ledger.invalid_status_change",
        "ledger.balance_not_zero",
    ):
        assert code in CATALOGUE

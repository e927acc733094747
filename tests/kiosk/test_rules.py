"""Kiosk rules (pure) and the bank account numbers of new cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.kiosk.rules import (
    activation_problem,
    handle_hash,
    identity_matches,
    new_handle,
    note_problem,
    ticket_label,
)
from server.registry.rules import BANK_BINS, BANKS, luhn_ok, new_bank_account_number

NOW = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


def test_identity_matches_the_last_six_characters_in_any_case():
    assert identity_matches("44010419420308041X", "08041x")
    assert identity_matches("44010419420308041X", " 08041X ")
    assert not identity_matches("44010419420308041X", "080410")
    assert not identity_matches("44010419420308041X", "8041X")


def test_an_activation_ends_when_finished_or_expired():
    later = NOW + timedelta(minutes=5)
    assert activation_problem(expires_at=later, finished_at=None, now=NOW) is None
    assert activation_problem(expires_at=later, finished_at=NOW, now=NOW) == "activation.finished"
    assert activation_problem(expires_at=NOW, finished_at=None, now=NOW) == "activation.expired"


def test_handles_are_long_random_and_stored_hashed():
    a, b = new_handle(), new_handle()
    assert a != b and len(a) >= 32
    assert len(handle_hash(a)) == 32 and handle_hash(a) != handle_hash(b)


def test_tickets_are_short_numbers():
    assert ticket_label(1) == "A001"
    assert ticket_label(42) == "A042"
    assert ticket_label(1000) == "A1000"


def test_notes_must_not_carry_numbers_that_identify_someone():
    assert note_problem("屏幕看不清，请来帮忙") is None
    assert note_problem("3 号窗口") is None
    assert note_problem("手机 13812345678") == "personal_data"
    assert note_problem("卡号 6222 0212 3456") == "personal_data"


def test_new_bank_account_numbers_are_luhn_valid_at_every_bank():
    assert set(BANK_BINS) == set(BANKS)
    for bank in BANKS:
        number = new_bank_account_number(bank, 123_456_789)
        assert len(number) == 19 and luhn_ok(number)
        assert number.startswith(BANK_BINS[bank])

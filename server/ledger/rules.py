"""Ledger rules. Pure: no Flask, no database, no clock.

Sign convention: a journal line's ``amount_fen`` is signed from the account's point of view.
Positive increases the account's balance (money arrives), negative decreases it (money leaves).
Every entry's lines sum to zero, so money is only ever moved, never created or lost; money that
enters or leaves the system passes through a ``bank_clearing`` account, which may go negative.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from enum import StrEnum

CURRENCY = "CNY"
MAX_AMOUNT_FEN = 10**15  # 10 trillion yuan per line: far above any real movement, far below 2**63
MAX_KEY_LENGTH = 128
MAX_KIND_LENGTH = 32
MAX_MEMO_LENGTH = 200
MAX_LINES = 100


class AccountKind(StrEnum):
    CARD = "card"  # a cardholder's stored value / subsidy account
    DEPARTMENT_FUNDING = "department_funding"  # money a department has put up for subsidies
    OPERATOR_SETTLEMENT = "operator_settlement"  # transit operators, venues, libraries
    MERCHANT_SETTLEMENT = "merchant_settlement"  # shops taking vouchers or card payments
    CAMPAIGN_BUDGET = "campaign_budget"  # a voucher or subsidy campaign's budget
    BANK_CLEARING = "bank_clearing"  # the external bank side; the only kind that may go negative


class AccountStatus(StrEnum):
    OPEN = "open"
    FROZEN = "frozen"  # no movement in or out until unfrozen
    CLOSED = "closed"  # terminal


class LedgerRuleError(ValueError):
    """A refused entry or transition; ``code`` is a ``ledger.*`` error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


Leg = tuple[int, int]  # (account_id, amount_fen)


def default_min_balance(kind: AccountKind | str) -> int | None:
    """The floor for a new account: 0, except the bank clearing side which has none."""
    return None if AccountKind(kind) is AccountKind.BANK_CLEARING else 0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_legs(legs: Iterable[Sequence[object]]) -> list[Leg]:
    """Check an entry's legs and return them as ``(account_id, amount_fen)`` sorted by account id.

    Refuses: fewer than two legs, an account twice, a non-integer (bool and float included) or
    zero amount, an amount beyond :data:`MAX_AMOUNT_FEN`, and legs that do not sum to zero.
    """
    out: list[Leg] = []
    for leg in legs:
        if isinstance(leg, str | bytes) or len(leg) != 2:
            raise LedgerRuleError("ledger.invalid_entry", "a leg is (account_id, amount_fen)")
        account_id, amount = leg[0], leg[1]
        if not _is_int(account_id) or account_id <= 0:  # type: ignore[operator]
            raise LedgerRuleError("ledger.invalid_entry", "account id must be a positive int")
        if not _is_int(amount):
            raise LedgerRuleError("ledger.invalid_amount", "amount must be an int number of fen")
        if amount == 0 or abs(amount) > MAX_AMOUNT_FEN:  # type: ignore[arg-type]
            raise LedgerRuleError("ledger.invalid_amount", "amount must be non-zero and bounded")
        out.append((int(account_id), int(amount)))  # type: ignore[call-overload]
    if len(out) < 2:
        raise LedgerRuleError("ledger.invalid_entry", "an entry needs at least two legs")
    if len(out) > MAX_LINES:
        raise LedgerRuleError("ledger.invalid_entry", "too many legs")
    if len({account_id for account_id, _ in out}) != len(out):
        raise LedgerRuleError("ledger.invalid_entry", "an account appears twice")
    if sum(amount for _, amount in out) != 0:
        raise LedgerRuleError("ledger.unbalanced", "legs do not sum to zero")
    out.sort()
    return out


def validate_entry_fields(idempotency_key: object, kind: object, memo: object) -> None:
    """The key, kind and memo must be non-empty strings of bounded length (memo may be empty)."""
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise LedgerRuleError("ledger.invalid_entry", "idempotency key: 1-128 characters")
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_KIND_LENGTH:
        raise LedgerRuleError("ledger.invalid_entry", "kind: 1-32 characters")
    if not isinstance(memo, str) or len(memo) > MAX_MEMO_LENGTH:
        raise LedgerRuleError("ledger.invalid_entry", "memo: at most 200 characters")


def request_hash(legs: Iterable[Leg], *, kind: str, memo: str) -> str:
    """SHA-256 (hex) of a canonical form of the entry: legs sorted by account, kind and memo.

    Two requests under one idempotency key are the same request exactly when their hashes match;
    leg order does not matter.
    """
    canonical = json.dumps(
        {"kind": kind, "legs": sorted([int(a), int(x)] for a, x in legs), "memo": memo},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def checks_floor(amount_fen: int) -> bool:
    """Only a debit (negative line) can take an account below its minimum balance."""
    return amount_fen < 0


def refusal_code(status: str) -> str:
    """Why a conditional balance update matched no row of an existing account: its status, or
    else the floor (a debit that would take it below its minimum balance)."""
    if status == AccountStatus.CLOSED:
        return "ledger.account_closed"
    if status == AccountStatus.FROZEN:
        return "ledger.account_frozen"
    return "ledger.insufficient_funds"


# Allowed status changes: frozen accounts can be unfrozen; closed is terminal.
STATUS_TRANSITIONS: dict[AccountStatus, frozenset[AccountStatus]] = {
    AccountStatus.OPEN: frozenset({AccountStatus.FROZEN, AccountStatus.CLOSED}),
    AccountStatus.FROZEN: frozenset({AccountStatus.OPEN, AccountStatus.CLOSED}),
    AccountStatus.CLOSED: frozenset(),
}


def check_status_change(current: str, new: str, balance_fen: int) -> AccountStatus:
    """Validate a status change; an account can only be closed when its balance is zero."""
    try:
        target = AccountStatus(new)
        source = AccountStatus(current)
    except ValueError:
        raise LedgerRuleError("ledger.invalid_entry", "unknown account status") from None
    if source is AccountStatus.CLOSED:
        raise LedgerRuleError("ledger.account_closed", "a closed account stays closed")
    if target not in STATUS_TRANSITIONS[source]:
        raise LedgerRuleError("ledger.invalid_status_change", f"{source} -> {target}")
    if target is AccountStatus.CLOSED and balance_fen != 0:
        raise LedgerRuleError("ledger.balance_not_zero", "empty the account before closing it")
    return target

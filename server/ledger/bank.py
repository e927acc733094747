"""The bank behind the card: a gateway interface, an in-memory simulated bank (tests) and the same
kept in a file (development: :class:`SandboxBank`).

Every call carries an idempotency key. A bank that times out may or may not have applied the
operation; the caller retries with the *same* key (or asks :meth:`BankGateway.status`) and the bank
must never move money twice for one key.

Bank account numbers are personal data: nothing here logs them, and neither results, exceptions
nor ``repr`` ever contain them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args, runtime_checkable

from server.errors import DomainError

Operation = Literal["debit", "credit"]
Failure = Literal[
    "timeout",  # applied at the bank, but the caller sees a timeout
    "timeout_before",  # nothing applied, the caller sees a timeout
    "account_closed",
    "account_frozen",
    "insufficient_funds",
]


@dataclass(frozen=True)
class BankResult:
    """The bank's answer: ``ok`` with the bank's ``reference``, or a refusal with a ``bank.*``
    ``error`` code. A timeout is not a result: it raises :class:`BankTimeout`."""

    ok: bool
    reference: str | None = None
    error: str | None = None

    def raise_for_error(self) -> BankResult:
        """Return self when ok, else raise the matching :class:`BankError`."""
        if not self.ok:
            raise BankError.for_code(self.error or "bank.timeout")
        return self


class BankError(Exception):
    """A bank refusal or failure; ``code`` is a ``bank.*`` code in the error catalogue."""

    code = "bank.timeout"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(self.code if detail is None else f"{self.code}: {detail}")
        self.detail = detail

    def to_domain_error(self) -> DomainError:
        return DomainError(self.code, self.detail)

    @staticmethod
    def for_code(code: str) -> BankError:
        return _BY_CODE.get(code, BankError)()


class BankTimeout(BankError):
    """Outcome unknown: retry with the same idempotency key, or ask ``status``."""

    code = "bank.timeout"


class BankAccountClosed(BankError):
    code = "bank.account_closed"


class BankAccountFrozen(BankError):
    code = "bank.account_frozen"


class BankInsufficientFunds(BankError):
    code = "bank.insufficient_funds"


class BankInvalidAccount(BankError):
    code = "bank.invalid_account"


class BankIdempotencyConflict(BankError):
    code = "bank.idempotency_conflict"


_BY_CODE: dict[str, type[BankError]] = {
    cls.code: cls
    for cls in (
        BankTimeout,
        BankAccountClosed,
        BankAccountFrozen,
        BankInsufficientFunds,
        BankInvalidAccount,
        BankIdempotencyConflict,
    )
}


@runtime_checkable
class BankGateway(Protocol):
    """What the ledger needs from a bank. Amounts are positive integer fen.

    ``debit``/``credit`` return a :class:`BankResult` (ok or a definitive refusal) or raise
    :class:`BankTimeout` when the outcome is unknown. ``status`` returns the result recorded for a
    key, or None when the bank never applied a request under that key.
    """

    def debit(self, account_number: str, amount_fen: int, idempotency_key: str) -> BankResult: ...

    def credit(self, account_number: str, amount_fen: int, idempotency_key: str) -> BankResult: ...

    def status(self, idempotency_key: str) -> BankResult | None: ...


@dataclass(frozen=True)
class _Recorded:
    operation: Operation
    account_number: str
    amount_fen: int
    result: BankResult


class SimulatedBank:
    """An in-memory bank for tests and demos. Thread-safe, no network, no logging.

    Accounts are opened with :meth:`open_account`; :meth:`set_account_state` closes or freezes
    one; :meth:`fail_next` queues failures for the next debit/credit calls. A key seen before
    returns its first result and never moves money again (a key reused for a different operation,
    account or amount is refused with ``bank.idempotency_conflict``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._states: dict[str, str] = {}
        self._results: dict[str, _Recorded] = {}
        self._failures: deque[Failure] = deque()
        self._sequence = 0
        self.movements = 0  # operations that actually moved money

    def __repr__(self) -> str:
        return f"<SimulatedBank accounts={len(self._balances)} requests={len(self._results)}>"

    # --- set-up -----------------------------------------------------------------------------

    def open_account(self, account_number: str, balance_fen: int = 0) -> None:
        _check_amount(balance_fen, allow_zero=True)
        with self._lock:
            self._balances[account_number] = balance_fen
            self._states[account_number] = "open"

    def set_account_state(
        self, account_number: str, state: Literal["open", "closed", "frozen"]
    ) -> None:
        if state not in ("open", "closed", "frozen"):
            raise ValueError("state must be open, closed or frozen")
        with self._lock:
            if account_number not in self._balances:
                raise KeyError("unknown simulated account")
            self._states[account_number] = state

    def fail_next(self, *failures: Failure) -> None:
        """Queue failures, consumed one per debit/credit call in order."""
        allowed = get_args(Failure)
        for failure in failures:
            if failure not in allowed:
                raise ValueError(f"unknown failure {failure!r}")
        with self._lock:
            self._failures.extend(failures)

    def balance(self, account_number: str) -> int:
        with self._lock:
            if account_number not in self._balances:
                raise KeyError("unknown simulated account")  # never echo the number
            return self._balances[account_number]

    # --- the gateway ------------------------------------------------------------------------

    def debit(self, account_number: str, amount_fen: int, idempotency_key: str) -> BankResult:
        return self._operate("debit", account_number, amount_fen, idempotency_key)

    def credit(self, account_number: str, amount_fen: int, idempotency_key: str) -> BankResult:
        return self._operate("credit", account_number, amount_fen, idempotency_key)

    def status(self, idempotency_key: str) -> BankResult | None:
        with self._lock:
            recorded = self._results.get(idempotency_key)
            return None if recorded is None else recorded.result

    def _operate(
        self, operation: Operation, account_number: str, amount_fen: int, key: str
    ) -> BankResult:
        _check_amount(amount_fen, allow_zero=False)
        if not isinstance(key, str) or not key:
            raise ValueError("idempotency key required")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            if failure == "timeout_before":
                raise BankTimeout()
            recorded = self._results.get(key)
            if recorded is not None:
                if (recorded.operation, recorded.account_number, recorded.amount_fen) != (
                    operation,
                    account_number,
                    amount_fen,
                ):
                    result = BankResult(ok=False, error=BankIdempotencyConflict.code)
                else:
                    result = recorded.result
            else:
                result = self._apply(operation, account_number, amount_fen, failure)
                self._results[key] = _Recorded(operation, account_number, amount_fen, result)
            if failure == "timeout":
                raise BankTimeout()  # the operation stands; the caller just did not hear back
            return result

    def _apply(
        self, operation: Operation, account_number: str, amount_fen: int, failure: Failure | None
    ) -> BankResult:
        if failure in ("account_closed", "account_frozen", "insufficient_funds"):
            return BankResult(ok=False, error=f"bank.{failure}")
        if account_number not in self._balances:
            return BankResult(ok=False, error=BankInvalidAccount.code)
        state = self._states[account_number]
        if state == "closed":
            return BankResult(ok=False, error=BankAccountClosed.code)
        if state == "frozen":
            return BankResult(ok=False, error=BankAccountFrozen.code)
        if operation == "debit":
            if self._balances[account_number] < amount_fen:
                return BankResult(ok=False, error=BankInsufficientFunds.code)
            self._balances[account_number] -= amount_fen
        else:
            self._balances[account_number] += amount_fen
        self._sequence += 1
        self.movements += 1
        return BankResult(ok=True, reference=f"SIM{self._sequence:012d}")


def _check_amount(amount_fen: object, *, allow_zero: bool) -> None:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError("amount must be an int number of fen")
    if amount_fen < 0 or (amount_fen == 0 and not allow_zero):
        raise ValueError("amount must be positive")


class SandboxBank(SimulatedBank):
    """The simulated bank kept in a file, for development: the API server, ``flask transit
    collect`` and ``flask seed demo`` run in different processes, and each must see the same
    accounts, balances and idempotency records (an in-memory bank in each process would answer
    ``bank.invalid_account`` to the job and debit twice across them).

    Every call takes an exclusive lock on the file, loads it, acts as :class:`SimulatedBank` and
    writes it back (atomically). Account numbers are personal data: the file holds only their
    keyed digests (HMAC-SHA256), never a number. Not for production: a real gateway replaces it.
    """

    def __init__(self, path: str | os.PathLike[str], digest_key: bytes) -> None:
        super().__init__()
        self._path = Path(path)
        self._digest_key = digest_key

    def __repr__(self) -> str:
        return f"<SandboxBank {self._path.name}>"

    def _ref(self, account_number: str) -> str:
        return hmac.new(self._digest_key, account_number.encode(), hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def _shared(self, *, write: bool = True) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._load()
                yield
            finally:
                if write:  # also after a simulated timeout: the operation stands
                    self._save()
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        try:
            state = json.loads(self._path.read_text("utf-8"))
        except FileNotFoundError:
            state = {}
        self._balances = dict(state.get("balances", {}))
        self._states = dict(state.get("states", {}))
        self._results = {
            key: _Recorded(op, ref, amount, BankResult(ok, reference, error))
            for key, (op, ref, amount, ok, reference, error) in state.get("results", {}).items()
        }
        self._sequence = int(state.get("sequence", 0))
        self.movements = int(state.get("movements", 0))

    def _save(self) -> None:
        state = {
            "balances": self._balances,
            "states": self._states,
            "results": {
                key: [r.operation, r.account_number, r.amount_fen, *astuple(r.result)]
                for key, r in self._results.items()
            },
            "sequence": self._sequence,
            "movements": self.movements,
        }
        fd, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".bank-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.chmod(temporary, 0o600)
        os.replace(temporary, self._path)

    def open_account(self, account_number: str, balance_fen: int = 0) -> None:
        with self._shared():
            super().open_account(self._ref(account_number), balance_fen)

    def set_account_state(
        self, account_number: str, state: Literal["open", "closed", "frozen"]
    ) -> None:
        with self._shared():
            super().set_account_state(self._ref(account_number), state)

    def balance(self, account_number: str) -> int:
        with self._shared(write=False):
            return super().balance(self._ref(account_number))

    def has_account(self, account_number: str) -> bool:
        with self._shared(write=False):
            return self._ref(account_number) in self._balances

    def status(self, idempotency_key: str) -> BankResult | None:
        with self._shared(write=False):
            return super().status(idempotency_key)

    def _operate(
        self, operation: Operation, account_number: str, amount_fen: int, key: str
    ) -> BankResult:
        with self._shared():
            return super()._operate(operation, self._ref(account_number), amount_fen, key)

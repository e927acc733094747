"""The simulated bank: idempotent by key, injectable failures, thread-safe, never leaks numbers —
in memory and kept in a file (the sandbox every process of a development setup shares)."""

from __future__ import annotations

import threading

import pytest

from server.ledger.bank import (
    BankAccountClosed,
    BankError,
    BankGateway,
    BankResult,
    BankTimeout,
    SandboxBank,
    SimulatedBank,
)

ACCOUNT = "6217003320012345678"
OTHER = "6222021234567890123"


KEY = b"k" * 32


@pytest.fixture(params=["memory", "sandbox"])
def bank(request, tmp_path) -> SimulatedBank:
    bank = (
        SimulatedBank() if request.param == "memory" else SandboxBank(tmp_path / "bank.json", KEY)
    )
    bank.open_account(ACCOUNT, 10_000)
    bank.open_account(OTHER)
    return bank


def test_the_simulated_bank_is_a_gateway(bank):
    assert isinstance(bank, BankGateway)


def test_debit_and_credit_move_money_and_return_a_reference(bank):
    debit = bank.debit(ACCOUNT, 2_500, "d-1")
    credit = bank.credit(OTHER, 2_500, "c-1")
    assert debit.ok and credit.ok
    assert debit.reference and credit.reference and debit.reference != credit.reference
    assert bank.balance(ACCOUNT) == 7_500
    assert bank.balance(OTHER) == 2_500


def test_a_retried_key_returns_the_first_result_and_moves_money_once(bank):
    first = bank.debit(ACCOUNT, 1_000, "d-1")
    again = bank.debit(ACCOUNT, 1_000, "d-1")
    assert again == first
    assert bank.balance(ACCOUNT) == 9_000
    assert bank.movements == 1


def test_a_key_reused_for_a_different_request_is_refused(bank):
    bank.debit(ACCOUNT, 1_000, "d-1")
    assert bank.debit(ACCOUNT, 1_001, "d-1").error == "bank.idempotency_conflict"
    assert bank.credit(ACCOUNT, 1_000, "d-1").error == "bank.idempotency_conflict"
    assert bank.balance(ACCOUNT) == 9_000


def test_a_timeout_after_apply_then_a_retry_moves_money_once(bank):
    bank.fail_next("timeout")
    with pytest.raises(BankTimeout) as caught:
        bank.debit(ACCOUNT, 1_000, "d-1")
    assert caught.value.code == "bank.timeout"
    assert bank.balance(ACCOUNT) == 9_000  # the bank did it; the caller did not hear back
    assert bank.status("d-1").ok
    retry = bank.debit(ACCOUNT, 1_000, "d-1")
    assert retry.ok
    assert retry == bank.status("d-1")
    assert bank.balance(ACCOUNT) == 9_000
    assert bank.movements == 1


def test_a_timeout_before_apply_moves_nothing_and_a_retry_applies_once(bank):
    bank.fail_next("timeout_before")
    with pytest.raises(BankTimeout):
        bank.credit(OTHER, 500, "c-1")
    assert bank.status("c-1") is None
    assert bank.balance(OTHER) == 0
    assert bank.credit(OTHER, 500, "c-1").ok
    assert bank.credit(OTHER, 500, "c-1").ok
    assert bank.balance(OTHER) == 500
    assert bank.movements == 1


def test_queued_failures_are_used_one_call_at_a_time(bank):
    bank.fail_next("timeout_before", "timeout")
    with pytest.raises(BankTimeout):
        bank.debit(ACCOUNT, 100, "d-1")
    with pytest.raises(BankTimeout):
        bank.debit(ACCOUNT, 100, "d-1")
    assert bank.debit(ACCOUNT, 100, "d-1").ok
    assert bank.balance(ACCOUNT) == 9_900


@pytest.mark.parametrize(
    ("state", "code"), [("closed", "bank.account_closed"), ("frozen", "bank.account_frozen")]
)
def test_a_closed_or_frozen_account_is_refused(bank, state, code):
    bank.set_account_state(OTHER, state)
    result = bank.credit(OTHER, 100, "c-1")
    assert (result.ok, result.error) == (False, code)
    assert bank.balance(OTHER) == 0
    with pytest.raises(BankError) as caught:
        result.raise_for_error()
    assert caught.value.code == code
    assert caught.value.to_domain_error().code == code


def test_an_overdraft_is_refused(bank):
    result = bank.debit(ACCOUNT, 10_001, "d-1")
    assert result.error == "bank.insufficient_funds"
    assert bank.balance(ACCOUNT) == 10_000


def test_an_unknown_account_is_refused(bank):
    assert bank.credit("6200000000000000000", 1, "c-1").error == "bank.invalid_account"


@pytest.mark.parametrize("failure", ["account_closed", "account_frozen", "insufficient_funds"])
def test_a_queued_refusal_applies_to_the_next_call_only(bank, failure):
    bank.fail_next(failure)
    assert bank.debit(ACCOUNT, 100, "d-1").error == f"bank.{failure}"
    assert bank.debit(ACCOUNT, 100, "d-2").ok
    assert bank.balance(ACCOUNT) == 9_900


def test_an_ok_result_raises_nothing():
    result = BankResult(ok=True, reference="R1")
    assert result.raise_for_error() is result


def test_the_closed_exception_has_its_own_type(bank):
    bank.set_account_state(ACCOUNT, "closed")
    with pytest.raises(BankAccountClosed):
        bank.debit(ACCOUNT, 1, "d-1").raise_for_error()


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_amounts_must_be_positive_int_fen(bank, amount):
    with pytest.raises((TypeError, ValueError)):
        bank.debit(ACCOUNT, amount, "d-1")
    assert bank.movements == 0


def test_unknown_failures_are_refused(bank):
    with pytest.raises(ValueError):
        bank.fail_next("explode")


def test_account_numbers_never_appear_in_repr_results_or_errors(bank):
    bank.set_account_state(OTHER, "frozen")
    texts = [repr(bank), repr(bank.debit(ACCOUNT, 1, "d-1")), repr(bank.credit(OTHER, 1, "c-1"))]
    bank.fail_next("timeout")
    with pytest.raises(BankTimeout) as caught:
        bank.debit(ACCOUNT, 1, "d-2")
    texts.append(str(caught.value))
    with pytest.raises(KeyError) as missing:
        bank.balance("6200000000000000001")
    texts.append(str(missing.value))
    for text in texts:
        assert ACCOUNT not in text
        assert OTHER not in text
        assert "6200000000000000001" not in text


def test_many_threads_retrying_one_key_move_money_once(bank):
    barrier = threading.Barrier(16)
    results: list[BankResult | Exception] = []

    def worker():
        barrier.wait(timeout=10)
        try:
            results.append(bank.debit(ACCOUNT, 700, "same"))
        except Exception as exc:  # pragma: no cover - surfaced by the assertion
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 16
    assert len({r.reference for r in results if isinstance(r, BankResult)}) == 1
    assert bank.balance(ACCOUNT) == 9_300
    assert bank.movements == 1


def test_many_threads_debiting_never_overdraw(bank):
    barrier = threading.Barrier(20)
    results: list[BankResult] = []
    lock = threading.Lock()

    def worker(i):
        barrier.wait(timeout=10)
        result = bank.debit(ACCOUNT, 1_000, f"d-{i}")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sum(r.ok for r in results) == 10
    assert {r.error for r in results if not r.ok} == {"bank.insufficient_funds"}
    assert bank.balance(ACCOUNT) == 0


# --- the sandbox: one bank for every process ------------------------------------------------


def test_two_processes_share_the_sandbox_accounts_and_its_keys(tmp_path):
    server, job = SandboxBank(tmp_path / "bank.json", KEY), SandboxBank(tmp_path / "bank.json", KEY)
    server.open_account(ACCOUNT, 10_000)
    assert job.debit(ACCOUNT, 300, "trip:1").ok
    assert server.balance(ACCOUNT) == 9_700
    assert server.debit(ACCOUNT, 300, "trip:1").ok  # the same key, asked by the other process
    assert job.balance(ACCOUNT) == 9_700
    job.fail_next("timeout")
    with pytest.raises(BankTimeout):
        job.debit(ACCOUNT, 500, "trip:2")
    assert server.status("trip:2") == BankResult(
        ok=True, reference=server.status("trip:2").reference
    )
    assert server.balance(ACCOUNT) == 9_200


def test_the_sandbox_file_holds_no_account_number_and_only_its_owner_reads_it(tmp_path):
    path = tmp_path / "bank.json"
    bank = SandboxBank(path, KEY)
    bank.open_account(ACCOUNT, 10_000)
    bank.debit(ACCOUNT, 100, "trip:1")
    text = path.read_text("utf-8")
    assert ACCOUNT not in text and ACCOUNT[-8:] not in text
    assert path.stat().st_mode & 0o777 == 0o600
    # another key sees other digests: a copied file does not reveal which number is which
    assert not SandboxBank(path, b"x" * 32).has_account(ACCOUNT)


def _debit_many(path: str, start: int) -> None:
    bank = SandboxBank(path, KEY)
    for i in range(start, start + 40):
        assert bank.debit(ACCOUNT, 10, f"trip:{i}").ok


def test_debits_from_two_processes_at_once_lose_nothing(tmp_path):
    import multiprocessing

    path = str(tmp_path / "bank.json")
    SandboxBank(path, KEY).open_account(ACCOUNT, 10_000)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_debit_many, args=(path, n * 100)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    bank = SandboxBank(path, KEY)
    assert bank.balance(ACCOUNT) == 10_000 - 80 * 10
    assert bank.movements == 80

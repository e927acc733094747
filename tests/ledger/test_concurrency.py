"""Real threads against PostgreSQL, each with its own app context and session."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from server.errors import DomainError
from server.extensions import db
from server.ledger.service import check_ledger, ensure_card_account, post_entry
from tests.ledger.helpers import balance, counts

pytestmark = pytest.mark.postgres_only


def run_together(app, count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at once; each commits its own transaction.
    Returns each thread's result or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(i: int) -> None:
        try:
            with app.app_context():
                try:
                    barrier.wait(timeout=10)
                    results[i] = work(i)
                    db.session.commit()
                except Exception as exc:
                    db.session.rollback()
                    results[i] = exc
                finally:
                    db.session.remove()
        except Exception as exc:  # pragma: no cover - surfaced by the assertions
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_eight_threads_posting_one_key_make_one_entry_and_move_money_once(app, session, books, now):
    before_entries, before_lines = counts(session)
    session.commit()

    def work(_i):
        entry, created = post_entry(
            db.session,
            idempotency_key="same-key",
            lines=[(books.wallet, -30), (books.merchant, 30)],
            kind="purchase",
            memo="one coffee",
            now=now,
        )
        return entry.id, created

    results = run_together(app, 8, work)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({entry_id for entry_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert counts(session) == (before_entries + 1, before_lines + 2)
    assert balance(session, books.wallet) == 70
    assert balance(session, books.merchant) == 30
    assert check_ledger(session).ok


def test_ten_threads_spending_30_from_100_leave_exactly_3_payments(app, session, books, now):
    session.commit()

    def work(i):
        post_entry(
            db.session,
            idempotency_key=f"spend-{i}",
            lines=[(books.wallet, -30), (books.merchant, 30)],
            kind="purchase",
            memo="",
            now=now,
        )
        return "paid"

    results = run_together(app, 10, work)
    paid = [r for r in results if r == "paid"]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(paid) == 3
    assert len(refused) == 7
    assert {r.code for r in refused} == {"ledger.insufficient_funds"}
    assert balance(session, books.wallet) == 10
    assert balance(session, books.merchant) == 90
    assert check_ledger(session).ok


def test_transfers_in_both_directions_at_once_do_not_deadlock(app, session, books, now):
    session.commit()

    def work(i):
        there = i % 2 == 0
        a, b = (books.wallet, books.merchant) if there else (books.merchant, books.wallet)
        post_entry(
            db.session,
            idempotency_key=f"swap-{i}",
            lines=[(a, -5), (b, 5)],
            kind="transfer",
            memo="",
            now=now,
        )
        return "ok"

    # Give the merchant money to send back first.
    post_entry(
        session,
        idempotency_key="seed",
        lines=[(books.clearing, -100), (books.merchant, 100)],
        kind="top_up",
        memo="",
        now=now,
    )
    session.commit()
    results = run_together(app, 12, work)
    assert results == ["ok"] * 12
    assert balance(session, books.wallet) == 100
    assert balance(session, books.merchant) == 100
    assert check_ledger(session).ok


def test_concurrent_requests_for_a_card_account_make_one_account(app, session, make_card, now):
    card_id = make_card()
    session.commit()

    def work(_i):
        return ensure_card_account(db.session, card_id, "440100", now).id

    results = run_together(app, 8, work)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1

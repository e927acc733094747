"""Posting, idempotency, refusals and reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.errors import DomainError
from server.ledger import service
from server.ledger.models import Account, JournalLine
from server.ledger.service import (
    ensure_card_account,
    find_card_account,
    get_account,
    movements,
    open_account,
    post_entry,
    set_account_status,
)
from server.security.models import AuditEvent
from tests.ledger.helpers import balance, counts


def spend(session, books, amount, key, now, memo="coffee"):
    return post_entry(
        session,
        idempotency_key=key,
        lines=[(books.wallet, -amount), (books.merchant, amount)],
        kind="purchase",
        memo=memo,
        now=now,
    )


def test_posting_moves_both_balances_and_writes_one_line_per_leg(session, books, now):
    entry, created = spend(session, books, 30, "buy-1", now)
    session.commit()
    assert created
    assert balance(session, books.wallet) == 70
    assert balance(session, books.merchant) == 30
    assert balance(session, books.clearing) == -100
    lines = session.execute(select(JournalLine).where(JournalLine.entry_id == entry.id)).scalars()
    assert sorted((ln.account_id, ln.amount_fen) for ln in lines) == sorted(
        [(books.wallet, -30), (books.merchant, 30)]
    )
    assert entry.created_at == now
    assert entry.actor_label == "system"


def test_a_replay_returns_the_same_entry_and_moves_money_once(session, books, now):
    first, created = spend(session, books, 30, "buy-1", now)
    session.commit()
    before = counts(session)
    again, created_again = spend(session, books, 30, "buy-1", now + timedelta(seconds=5))
    session.commit()
    assert created and not created_again
    assert again.id == first.id
    assert counts(session) == before
    assert balance(session, books.wallet) == 70


def test_a_replay_with_the_legs_in_another_order_is_the_same_request(session, books, now):
    first, _ = spend(session, books, 30, "buy-1", now)
    again, created = post_entry(
        session,
        idempotency_key="buy-1",
        lines=[(books.merchant, 30), (books.wallet, -30)],
        kind="purchase",
        memo="coffee",
        now=now,
    )
    session.commit()
    assert (again.id, created) == (first.id, False)
    assert balance(session, books.wallet) == 70


@pytest.mark.parametrize(
    "change", [{"amount": 31}, {"memo": "tea"}], ids=["different legs", "different memo"]
)
def test_the_same_key_for_a_different_entry_is_a_conflict(session, books, now, change):
    spend(session, books, 30, "buy-1", now)
    session.commit()
    before = counts(session)
    with pytest.raises(DomainError) as caught:
        spend(
            session,
            books,
            change.get("amount", 30),
            "buy-1",
            now,
            memo=change.get("memo", "coffee"),
        )
    assert caught.value.code == "ledger.idempotency_conflict"
    session.rollback()
    assert counts(session) == before
    assert balance(session, books.wallet) == 70


def test_overspending_is_refused_and_writes_nothing(session, books, now):
    before = counts(session)
    with pytest.raises(DomainError) as caught:
        spend(session, books, 101, "buy-big", now)
    assert caught.value.code == "ledger.insufficient_funds"
    session.commit()  # only the savepoint was rolled back; nothing of the entry remains
    assert counts(session) == before
    assert balance(session, books.wallet) == 100
    assert balance(session, books.merchant) == 0


def test_spending_the_whole_balance_is_allowed(session, books, now):
    spend(session, books, 100, "buy-all", now)
    session.commit()
    assert balance(session, books.wallet) == 0


@pytest.mark.parametrize(
    ("status", "code"), [("frozen", "ledger.account_frozen"), ("closed", "ledger.account_closed")]
)
@pytest.mark.parametrize("side", ["wallet", "merchant"])
def test_a_frozen_or_closed_account_refuses_movement_and_writes_nothing(
    session, books, now, status, code, side
):
    account = session.get(Account, getattr(books, side))
    account.status = status
    session.commit()
    before = counts(session)
    with pytest.raises(DomainError) as caught:
        spend(session, books, 10, "buy-1", now)
    assert caught.value.code == code
    session.commit()
    assert counts(session) == before
    assert (balance(session, books.wallet), balance(session, books.merchant)) == (100, 0)


def test_an_unknown_account_writes_nothing(session, books, now):
    before = counts(session)
    with pytest.raises(DomainError) as caught:
        post_entry(
            session,
            idempotency_key="ghost",
            lines=[(books.wallet, -10), (999_999, 10)],
            kind="purchase",
            memo="",
            now=now,
        )
    assert caught.value.code == "ledger.account_not_found"
    session.commit()
    assert counts(session) == before
    assert balance(session, books.wallet) == 100


def test_a_refusal_keeps_the_callers_earlier_work(session, books, now):
    open_account(session, kind="campaign_budget", name="spring vouchers", now=now, owner_ref="c1")
    with pytest.raises(DomainError):
        spend(session, books, 500, "too-much", now)
    session.commit()
    found = session.execute(select(Account).where(Account.owner_ref == "c1")).scalar_one()
    assert found.balance_fen == 0


def test_a_refused_key_can_be_used_again_once_funds_arrive(session, books, now):
    with pytest.raises(DomainError):
        spend(session, books, 150, "buy-1", now)
    post_entry(
        session,
        idempotency_key="top-up-2",
        lines=[(books.clearing, -50), (books.wallet, 50)],
        kind="top_up",
        memo="",
        now=now,
    )
    _, created = spend(session, books, 150, "buy-1", now)
    session.commit()
    assert created
    assert balance(session, books.wallet) == 0


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ("empty", "ledger.invalid_entry"),
        ("unbalanced", "ledger.unbalanced"),
        ("float", "ledger.invalid_amount"),
    ],
)
def test_malformed_entries_are_refused_before_touching_the_database(
    session, books, now, lines, code
):
    legs = {
        "empty": [],
        "unbalanced": [(books.wallet, -10), (books.merchant, 9)],
        "float": [(books.wallet, -0.5), (books.merchant, 0.5)],
    }[lines]
    with pytest.raises(DomainError) as caught:
        post_entry(session, idempotency_key="k", lines=legs, kind="purchase", memo="", now=now)
    assert caught.value.code == code


def test_bank_clearing_may_go_negative_but_a_funding_account_may_not(session, books, now):
    funding = open_account(
        session,
        kind="department_funding",
        name="civil affairs",
        now=now,
        department="civil_affairs",
        city_code="440100",
    )
    session.commit()
    assert funding.min_balance_fen == 0
    with pytest.raises(DomainError) as caught:
        post_entry(
            session,
            idempotency_key="pay-out",
            lines=[(funding.id, -1), (books.wallet, 1)],
            kind="subsidy",
            memo="",
            now=now,
        )
    assert caught.value.code == "ledger.insufficient_funds"
    assert balance(session, books.clearing) == -100


def test_an_account_with_a_negative_floor_can_go_into_overdraft(session, books, now):
    credit = open_account(
        session,
        kind="operator_settlement",
        name="metro",
        now=now,
        owner_ref="metro",
        min_balance_fen=-50,
    )
    post_entry(
        session,
        idempotency_key="ov-1",
        lines=[(credit.id, -50), (books.merchant, 50)],
        kind="adjustment",
        memo="",
        now=now,
    )
    with pytest.raises(DomainError) as caught:
        post_entry(
            session,
            idempotency_key="ov-2",
            lines=[(credit.id, -1), (books.merchant, 1)],
            kind="adjustment",
            memo="",
            now=now,
        )
    assert caught.value.code == "ledger.insufficient_funds"
    session.commit()
    assert balance(session, credit.id) == -50


def test_account_objects_already_loaded_see_the_new_balance(session, books, now):
    wallet = get_account(session, books.wallet)
    assert wallet.balance_fen == 100
    spend(session, books, 40, "buy-1", now)
    assert wallet.balance_fen == 60
    session.commit()
    assert wallet.balance_fen == 60


def test_an_unknown_account_id_is_not_found(session):
    with pytest.raises(DomainError) as caught:
        get_account(session, 424242)
    assert caught.value.code == "ledger.account_not_found"


def test_a_card_gets_one_account_however_often_it_is_asked(session, make_card, now):
    card_id = make_card()
    first = ensure_card_account(session, card_id, "440100", now)
    second = ensure_card_account(session, card_id, "440100", now)
    session.commit()
    assert first.id == second.id
    assert find_card_account(session, card_id).id == first.id
    assert (first.kind, first.min_balance_fen, first.balance_fen) == ("card", 0, 0)


def test_a_card_account_for_an_unknown_card_is_refused(session, now):
    with pytest.raises(DomainError) as caught:
        ensure_card_account(session, 987654, "440100", now)
    assert caught.value.code == "card.not_found"
    session.rollback()


def test_movements_come_newest_first_with_their_entry(session, books, now):
    for i in range(5):
        spend(session, books, 10, f"buy-{i}", now + timedelta(minutes=i), memo=f"item {i}")
    session.commit()
    page = movements(session, books.wallet, limit=3)
    assert [m.memo for m in page] == ["item 4", "item 3", "item 2"]
    assert all(m.amount_fen == -10 and m.kind == "purchase" for m in page)
    assert page[0].created_at == now + timedelta(minutes=4)
    rest = movements(session, books.wallet, limit=10, before_id=page[-1].line_id)
    assert [m.memo for m in rest] == ["item 1", "item 0", "opening balance"]
    assert rest[-1].amount_fen == 100


def test_movements_of_an_unknown_account_are_not_found(session):
    with pytest.raises(DomainError) as caught:
        movements(session, 777)
    assert caught.value.code == "ledger.account_not_found"


def test_freezing_and_unfreezing_an_account_is_audited(session, books, now):
    set_account_status(session, books.wallet, "frozen", now=now, actor=None, reason="court order")
    session.commit()
    with pytest.raises(DomainError) as caught:
        spend(session, books, 10, "buy-1", now)
    assert caught.value.code == "ledger.account_frozen"
    set_account_status(session, books.wallet, "open", now=now, actor=None, reason="lifted")
    spend(session, books, 10, "buy-1", now)
    session.commit()
    assert balance(session, books.wallet) == 90
    actions = session.execute(
        select(AuditEvent.action).where(AuditEvent.object_type == "ledger_account")
    ).scalars()
    assert list(actions) == ["ledger.account_status_changed"] * 2


def test_an_account_with_money_cannot_be_closed(session, books, now):
    with pytest.raises(DomainError) as caught:
        set_account_status(session, books.wallet, "closed", now=now, actor=None, reason="x")
    assert caught.value.code == "ledger.balance_not_zero"
    session.rollback()
    set_account_status(session, books.merchant, "closed", now=now, actor=None, reason="shop gone")
    session.commit()
    assert get_account(session, books.merchant).status == "closed"


@pytest.mark.parametrize("amount", [30, 31], ids=["same entry", "different entry"])
def test_a_duplicate_key_that_slips_past_the_first_look_is_caught_by_the_unique_index(
    session, books, now, monkeypatch, amount
):
    first, _ = spend(session, books, 30, "buy-1", now)
    session.commit()
    before = counts(session)
    real_find = service._find_entry
    calls = []

    def miss_once(sess, key):
        calls.append(key)
        return None if len(calls) == 1 else real_find(sess, key)

    monkeypatch.setattr(service, "_find_entry", miss_once)
    if amount == 30:
        again, created = spend(session, books, amount, "buy-1", now)
        assert (again.id, created) == (first.id, False)
    else:
        with pytest.raises(DomainError) as caught:
            spend(session, books, amount, "buy-1", now)
        assert caught.value.code == "ledger.idempotency_conflict"
    session.commit()
    assert len(calls) == 2
    assert counts(session) == before
    assert balance(session, books.wallet) == 70


def test_accounts_in_different_currencies_cannot_share_an_entry(session, books, now):
    session.get(Account, books.merchant).currency = "HKD"
    session.commit()
    before = counts(session)
    with pytest.raises(DomainError) as caught:
        spend(session, books, 10, "buy-1", now)
    assert caught.value.code == "ledger.currency_mismatch"
    session.commit()
    assert counts(session) == before
    assert balance(session, books.wallet) == 100


def test_an_entry_records_who_posted_it(session, books, now):
    entry, _ = post_entry(
        session,
        idempotency_key="fare-1",
        lines=[(books.wallet, -2), (books.merchant, 2)],
        kind="transit_fare",
        memo="bus 3",
        now=now,
        actor_label="terminal:bus-440100-0007",
    )
    session.commit()
    assert movements(session, books.merchant)[0].actor_label == "terminal:bus-440100-0007"
    assert entry.lines[0].entry_id == entry.id

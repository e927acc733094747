"""``check_ledger`` and ``flask ledger check``: clean books pass, tampering is found."""

from __future__ import annotations

import json

from sqlalchemy import text

from server.ledger.service import check_ledger, post_entry


def activity(session, books, now) -> None:
    for i in range(3):
        post_entry(
            session,
            idempotency_key=f"buy-{i}",
            lines=[(books.wallet, -10), (books.merchant, 10)],
            kind="purchase",
            memo=f"item {i}",
            now=now,
        )
    post_entry(
        session,
        idempotency_key="settle",
        lines=[(books.merchant, -30), (books.clearing, 30)],
        kind="settlement",
        memo="payout to the shop's bank",
        now=now,
    )
    session.commit()


def problems(report) -> set[tuple[str, int]]:
    return {(p["problem"], p.get("account_id") or p.get("entry_id")) for p in report.problems}


def test_the_books_check_out_after_activity(session, books, now):
    activity(session, books, now)
    report = check_ledger(session)
    assert report.ok
    assert (report.accounts, report.entries, report.problems) == (3, 5, [])


def test_an_empty_ledger_checks_out(session):
    report = check_ledger(session)
    assert report.ok
    assert (report.accounts, report.entries) == (0, 0)


def test_a_balance_edited_by_raw_sql_is_found(session, books, now):
    activity(session, books, now)
    session.execute(
        text("UPDATE ledger_account SET balance_fen = balance_fen + 500 WHERE id = :id"),
        {"id": books.wallet},
    )
    session.commit()
    report = check_ledger(session)
    assert not report.ok
    assert problems(report) == {("balance_mismatch", books.wallet)}


def test_a_balance_pushed_below_its_floor_is_found(session, books, now):
    session.execute(
        text("UPDATE ledger_account SET min_balance_fen = 1000 WHERE id = :id"),
        {"id": books.wallet},
    )
    session.commit()
    assert problems(check_ledger(session)) == {("below_minimum", books.wallet)}


def test_a_deleted_line_is_found(session, books, now):
    activity(session, books, now)
    line_id, entry_id = session.execute(
        text("SELECT id, entry_id FROM journal_line WHERE account_id = :id ORDER BY id DESC"),
        {"id": books.wallet},
    ).first()
    session.execute(text("DELETE FROM journal_line WHERE id = :id"), {"id": line_id})
    session.commit()
    found = problems(check_ledger(session))
    assert ("unbalanced", entry_id) in found
    assert ("too_few_lines", entry_id) in found
    assert ("balance_mismatch", books.wallet) in found


def test_an_entry_with_every_line_deleted_is_found(session, books, now):
    activity(session, books, now)
    entry_id = session.execute(
        text("SELECT id FROM journal_entry WHERE idempotency_key = 'settle'")
    ).scalar_one()
    session.execute(text("DELETE FROM journal_line WHERE entry_id = :id"), {"id": entry_id})
    session.commit()
    assert ("too_few_lines", entry_id) in problems(check_ledger(session))


def test_lines_rewritten_consistently_still_break_the_entry_hash(session, books, now):
    activity(session, books, now)
    entry_id = session.execute(
        text("SELECT id FROM journal_entry WHERE idempotency_key = 'buy-0'")
    ).scalar_one()
    # Move 10 fen more to the shop and adjust both balances: sums and balances still agree.
    session.execute(
        text("UPDATE journal_line SET amount_fen = amount_fen * 2 WHERE entry_id = :e"),
        {"e": entry_id},
    )
    session.execute(
        text("UPDATE ledger_account SET balance_fen = balance_fen - 10 WHERE id = :id"),
        {"id": books.wallet},
    )
    session.execute(
        text("UPDATE ledger_account SET balance_fen = balance_fen + 10 WHERE id = :id"),
        {"id": books.merchant},
    )
    session.commit()
    assert problems(check_ledger(session)) == {("hash_mismatch", entry_id)}


def test_the_check_command_prints_one_json_line_and_exits_0(runner, session, books, now):
    activity(session, books, now)
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"ok": True, "accounts": 3, "entries": 5, "problems": []}


def test_the_check_command_exits_1_on_tampering(runner, session, books, now):
    activity(session, books, now)
    session.execute(
        text("UPDATE ledger_account SET balance_fen = 7 WHERE id = :id"), {"id": books.merchant}
    )
    session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    report = json.loads(result.output.strip())
    assert report["ok"] is False
    assert report["problems"][0]["problem"] == "balance_mismatch"
    assert report["problems"][0]["account_id"] == books.merchant

"""Small read helpers for ledger tests."""

from __future__ import annotations

from sqlalchemy import func, select

from server.ledger.models import Account, JournalEntry, JournalLine


def balance(session, account_id: int) -> int:
    return session.execute(select(Account.balance_fen).where(Account.id == account_id)).scalar_one()


def counts(session) -> tuple[int, int]:
    """(entries, lines) in the journal."""
    entries = session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
    lines = session.execute(select(func.count()).select_from(JournalLine)).scalar_one()
    return entries, lines

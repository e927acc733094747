"""Ledger accounts and the double-entry journal.

An account's ``balance_fen`` is kept up to date in the same transaction as each journal line that
moves it, so reading a balance never sums history; ``flask ledger check`` proves the two agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db
from server.ledger.rules import CURRENCY, AccountKind, AccountStatus

_kinds = ", ".join(f"'{k.value}'" for k in AccountKind)
_statuses = ", ".join(f"'{s.value}'" for s in AccountStatus)


class Account(db.Model):
    """A ledger account. Owner references are optional and depend on ``kind``: ``card_id`` for a
    card, ``department`` (+ ``city_code``) for funding, ``owner_ref`` for operators, merchants and
    campaigns. ``min_balance_fen`` is the floor (None: may go negative, e.g. bank clearing)."""

    __tablename__ = "ledger_account"

    id: Mapped[IdPk]
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"), unique=True)
    department: Mapped[str | None] = mapped_column(String(32))
    city_code: Mapped[str | None] = mapped_column(ForeignKey("city.code"))
    owner_ref: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    min_balance_fen: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(f"kind IN ({_kinds})", name="kind"),
        CheckConstraint(f"status IN ({_statuses})", name="status"),
        Index("ix_ledger_account_kind_owner", "kind", "owner_ref"),
        Index("ix_ledger_account_department", "department", "city_code"),
    )


class JournalEntry(db.Model):
    """One balanced movement of money. ``idempotency_key`` makes a retried request a no-op;
    ``request_hash`` tells a genuine retry from a key reused for a different movement."""

    __tablename__ = "journal_entry"

    id: Mapped[IdPk]
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(String(200), default="")
    actor_label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", order_by="JournalLine.id"
    )


class JournalLine(db.Model):
    """One leg of an entry. ``amount_fen`` > 0 increases the account's balance, < 0 decreases it."""

    __tablename__ = "journal_line"

    id: Mapped[IdPk]
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("journal_entry.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_account.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
        # An account's movements, newest first, without a sort.
        Index("ix_journal_line_account_id_id", "account_id", "id"),
    )

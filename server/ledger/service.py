"""Ledger use cases: open accounts, post balanced entries idempotently, read movements, check.

Nothing here commits: every function runs inside the caller's transaction, so a fare, a voucher
redemption or a subsidy payment commits (or rolls back) together with its journal entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from server.errors import DomainError
from server.ledger import rules
from server.ledger.models import Account, JournalEntry, JournalLine
from server.ledger.rules import AccountKind, AccountStatus, LedgerRuleError
from server.security import audit
from server.security.rules import Actor


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
MAX_PAGE = 500


def _rule_error(exc: LedgerRuleError) -> DomainError:
    return DomainError(exc.code, exc.reason)


# --- accounts ------------------------------------------------------------------------------------


def open_account(
    session: Session,
    *,
    kind: AccountKind | str,
    name: str,
    now: datetime,
    card_id: int | None = None,
    department: str | None = None,
    city_code: str | None = None,
    owner_ref: str | None = None,
    min_balance_fen: int | _Unset | None = UNSET,
) -> Account:
    """Create an open account with a zero balance (flushed, not committed).

    ``min_balance_fen`` defaults to 0, or to None (no floor) for ``bank_clearing``.
    """
    try:
        kind = AccountKind(kind)
    except ValueError:
        raise DomainError("request.validation_failed", "unknown account kind") from None
    if isinstance(min_balance_fen, _Unset):
        min_balance_fen = rules.default_min_balance(kind)
    if min_balance_fen is not None and (
        not isinstance(min_balance_fen, int) or isinstance(min_balance_fen, bool)
    ):
        raise DomainError("ledger.invalid_amount", "min_balance_fen must be int fen or None")
    account = Account(
        kind=kind.value,
        name=name,
        card_id=card_id,
        department=department,
        city_code=city_code,
        owner_ref=owner_ref,
        currency=rules.CURRENCY,
        balance_fen=0,
        min_balance_fen=min_balance_fen,
        status=AccountStatus.OPEN.value,
        created_at=now,
    )
    session.add(account)
    session.flush()
    return account


def find_card_account(session: Session, card_id: int) -> Account | None:
    return session.execute(select(Account).where(Account.card_id == card_id)).scalar_one_or_none()


def ensure_card_account(session: Session, card_id: int, city_code: str, now: datetime) -> Account:
    """The card's account, created on first use. Safe under concurrency; does not commit."""
    account = find_card_account(session, card_id)
    if account is not None:
        return account
    try:
        with session.begin_nested():
            account = open_account(
                session,
                kind=AccountKind.CARD,
                name=f"card {card_id}",
                now=now,
                card_id=card_id,
                city_code=city_code,
            )
    except IntegrityError:
        account = find_card_account(session, card_id)  # created by a concurrent transaction
        if account is not None:
            return account
        from server.registry.models import Card

        if session.get(Card, card_id) is None:
            raise DomainError("card.not_found") from None
        raise DomainError("city.unknown") from None
    return account


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise DomainError("ledger.account_not_found")
    return account


def set_account_status(
    session: Session,
    account_id: int,
    status: AccountStatus | str,
    *,
    now: datetime,
    actor: Actor | None,
    reason: str,
) -> Account:
    """Freeze, unfreeze or close an account (closing needs a zero balance). Audited; no commit."""
    account = session.execute(
        select(Account).where(Account.id == account_id).with_for_update()
    ).scalar_one_or_none()
    if account is None:
        raise DomainError("ledger.account_not_found")
    try:
        target = rules.check_status_change(account.status, str(status), account.balance_fen)
    except LedgerRuleError as exc:
        raise _rule_error(exc) from None
    previous = account.status
    account.status = target.value
    audit.record(
        session,
        actor,
        "ledger.account_status_changed",
        object_type="ledger_account",
        object_id=account.id,
        now=now,
        city_code=account.city_code,
        from_status=previous,
        to_status=target.value,
        reason=reason,
    )
    session.flush()
    return account


# --- posting -------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    """The entry insert hit a unique index (almost surely the idempotency key)."""

    def __init__(self, original: IntegrityError) -> None:
        super().__init__("duplicate idempotency key")
        self.original = original


def _find_entry(session: Session, idempotency_key: str) -> JournalEntry | None:
    return session.execute(
        select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
    ).scalar_one_or_none()


def _replayed(entry: JournalEntry, request_hash: str) -> tuple[JournalEntry, bool]:
    if entry.request_hash != request_hash:
        raise DomainError("ledger.idempotency_conflict")
    return entry, False


def _refusal(session: Session, account_id: int) -> DomainError:
    status = session.execute(
        select(Account.__table__.c.status).where(Account.__table__.c.id == account_id)
    ).scalar_one_or_none()
    if status is None:
        return DomainError("ledger.account_not_found", account_id=account_id)
    return DomainError(rules.refusal_code(status), account_id=account_id)


def _apply_legs(session: Session, legs: list[rules.Leg]) -> dict[int, int]:
    """One conditional UPDATE per account, in ascending id order (so concurrent entries lock rows
    in the same order and cannot deadlock). Returns the new balances."""
    table = Account.__table__
    balances: dict[int, int] = {}
    currencies: set[str] = set()
    for account_id, amount in legs:
        conditions = [table.c.id == account_id, table.c.status == AccountStatus.OPEN.value]
        if rules.checks_floor(amount):
            conditions.append(
                or_(
                    table.c.min_balance_fen.is_(None),
                    table.c.balance_fen + amount >= table.c.min_balance_fen,
                )
            )
        row = session.execute(
            update(table)
            .where(*conditions)
            .values(balance_fen=table.c.balance_fen + amount)
            .returning(table.c.balance_fen, table.c.currency)
        ).first()
        if row is None:
            raise _refusal(session, account_id)
        balances[account_id] = row.balance_fen
        currencies.add(row.currency)
    if len(currencies) > 1:
        raise DomainError("ledger.currency_mismatch")
    return balances


def post_entry(
    session: Session,
    *,
    idempotency_key: str,
    lines: list[tuple[int, int]],
    kind: str,
    memo: str,
    now: datetime,
    actor_label: str = "system",
) -> tuple[JournalEntry, bool]:
    """Post a balanced entry of ``(account_id, amount_fen)`` legs and move the balances.

    Returns ``(entry, created)``. A retry under the same key and the same legs, kind and memo
    returns the first entry with ``created=False`` and moves nothing; the same key with anything
    different raises ``ledger.idempotency_conflict``. Refusals (``ledger.insufficient_funds``,
    ``ledger.account_frozen``, ``ledger.account_closed``, ``ledger.account_not_found``) leave
    nothing written: the work happens in a SAVEPOINT that is rolled back. Does not commit.
    """
    try:
        rules.validate_entry_fields(idempotency_key, kind, memo)
        legs = rules.validate_legs(lines)
    except LedgerRuleError as exc:
        raise _rule_error(exc) from None
    request_hash = rules.request_hash(legs, kind=kind, memo=memo)

    existing = _find_entry(session, idempotency_key)
    if existing is not None:
        return _replayed(existing, request_hash)

    try:
        with session.begin_nested():
            entry = JournalEntry(
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                kind=kind,
                memo=memo,
                actor_label=actor_label[:64],
                created_at=now,
            )
            session.add(entry)
            try:
                # Takes the unique key first: a concurrent twin waits here, before any balance.
                session.flush()
            except IntegrityError as exc:
                raise _DuplicateKey(exc) from exc
            balances = _apply_legs(session, legs)
            entry.lines = [JournalLine(account_id=a, amount_fen=x) for a, x in legs]
            session.flush()
    except _DuplicateKey as dup:
        existing = _find_entry(session, idempotency_key)
        if existing is None:
            raise dup.original from None
        return _replayed(existing, request_hash)

    # Keep Account objects already loaded in this session in step with the database.
    for account_id, balance in balances.items():
        loaded = session.identity_map.get(identity_key(Account, account_id))
        if loaded is not None:
            set_committed_value(loaded, "balance_fen", balance)
    return entry, True


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    line_id: int
    entry_id: int
    amount_fen: int
    kind: str
    memo: str
    created_at: datetime
    actor_label: str


def movements(
    session: Session, account_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[Movement]:
    """An account's lines, newest first; page with ``before_id`` = the last ``line_id`` seen."""
    get_account(session, account_id)
    limit = max(1, min(int(limit), MAX_PAGE))
    stmt = (
        select(
            JournalLine.id,
            JournalLine.entry_id,
            JournalLine.amount_fen,
            JournalEntry.kind,
            JournalEntry.memo,
            JournalEntry.created_at,
            JournalEntry.actor_label,
        )
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.account_id == account_id)
    )
    if before_id is not None:
        stmt = stmt.where(JournalLine.id < before_id)
    rows = session.execute(stmt.order_by(JournalLine.id.desc()).limit(limit)).all()
    return [Movement(*row) for row in rows]


# --- checking ------------------------------------------------------------------------------------


@dataclass
class LedgerReport:
    ok: bool
    accounts: int
    entries: int
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "entries": self.entries,
            "problems": self.problems,
        }


def check_ledger(session: Session, batch: int = 5000) -> LedgerReport:
    """Prove the books: every balance equals the sum of its lines and respects its floor; every
    entry has at least two lines, sums to zero and still matches its request hash.

    On PostgreSQL, when called outside a transaction, it reads one REPEATABLE READ snapshot so live
    traffic cannot produce false alarms.
    """
    plain = session() if isinstance(session, scoped_session) else session  # db.session is scoped
    started_here = not plain.in_transaction()
    if started_here and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        return _check(session, batch)
    finally:
        if started_here:
            session.rollback()  # read-only; ends the snapshot


def _check(session: Session, batch: int) -> LedgerReport:
    problems: list[dict[str, Any]] = []
    accounts = session.execute(select(func.count()).select_from(Account)).scalar_one()
    entries = session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()

    sums = (
        select(JournalLine.account_id, func.sum(JournalLine.amount_fen).label("total"))
        .group_by(JournalLine.account_id)
        .subquery()
    )
    journal = func.coalesce(sums.c.total, 0)
    rows = session.execute(
        select(Account.id, Account.balance_fen, Account.min_balance_fen, journal)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(
            or_(
                Account.balance_fen != journal,
                Account.balance_fen < Account.min_balance_fen,  # NULL floor: never true
            )
        )
        .order_by(Account.id)
    ).all()
    for account_id, balance, floor, total in rows:
        if balance != total:
            problems.append(
                {
                    "problem": "balance_mismatch",
                    "account_id": account_id,
                    "balance_fen": balance,
                    "journal_fen": int(total),
                }
            )
        if floor is not None and balance < floor:
            problems.append(
                {
                    "problem": "below_minimum",
                    "account_id": account_id,
                    "balance_fen": balance,
                    "min_balance_fen": floor,
                }
            )

    empty = session.execute(
        select(JournalEntry.id)
        .where(~select(JournalLine.id).where(JournalLine.entry_id == JournalEntry.id).exists())
        .order_by(JournalEntry.id)
    ).scalars()
    problems.extend({"problem": "too_few_lines", "entry_id": e, "lines": 0} for e in empty)

    stream = session.execute(
        select(
            JournalLine.entry_id,
            JournalLine.account_id,
            JournalLine.amount_fen,
            JournalEntry.kind,
            JournalEntry.memo,
            JournalEntry.request_hash,
        )
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .order_by(JournalLine.entry_id, JournalLine.id)
        .execution_options(yield_per=batch)
    )
    current: int | None = None
    legs: list[rules.Leg] = []
    head: tuple[str, str, str] = ("", "", "")

    def close_entry() -> None:
        if current is None:
            return
        total = sum(amount for _, amount in legs)
        if len(legs) < 2:
            problems.append({"problem": "too_few_lines", "entry_id": current, "lines": len(legs)})
        if total != 0:
            problems.append({"problem": "unbalanced", "entry_id": current, "sum_fen": total})
        kind, memo, stored_hash = head
        if rules.request_hash(legs, kind=kind, memo=memo) != stored_hash:
            problems.append({"problem": "hash_mismatch", "entry_id": current})

    for entry_id, account_id, amount, kind, memo, stored_hash in stream:
        if entry_id != current:
            close_entry()
            current, legs, head = entry_id, [], (kind, memo, stored_hash)
        legs.append((account_id, amount))
    close_entry()
    stream.close()

    return LedgerReport(ok=not problems, accounts=accounts, entries=entries, problems=problems)

"""Ledger fixtures: a card to attach accounts to, and a small set of books."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

import pytest

from server.ledger.service import open_account, post_entry
from server.registry.models import Card, Person


@pytest.fixture
def make_card(session, now):
    """Insert a person and an active card; returns the card id (not committed)."""

    def make() -> int:
        person = Person(
            id_type="resident",
            id_number_enc=b"not-a-real-ciphertext",
            id_number_bidx=os.urandom(32),
            name="测试",
            birth_date=date(1950, 1, 1),
            sex="F",
            city_code="440100",
            created_at=now,
            updated_at=now,
        )
        session.add(person)
        session.flush()
        card = Card(
            person_id=person.id,
            generation=3,
            issuing_city="440100",
            bank_code="TESTBANK",
            state="active",
            created_at=now,
            state_changed_at=now,
        )
        session.add(card)
        session.flush()
        return card.id

    return make


@dataclass
class Books:
    clearing: int  # bank clearing: no floor
    wallet: int  # a card-like account with a zero floor
    merchant: int


@pytest.fixture
def books(session, now) -> Books:
    """Three committed accounts; the wallet holds 100 fen paid in from the bank."""
    clearing = open_account(session, kind="bank_clearing", name="清算 clearing", now=now)
    wallet = open_account(session, kind="card", name="wallet", now=now, city_code="440100")
    merchant = open_account(
        session, kind="merchant_settlement", name="shop", now=now, owner_ref="m-1"
    )
    post_entry(
        session,
        idempotency_key="fund-wallet",
        lines=[(clearing.id, -100), (wallet.id, 100)],
        kind="top_up",
        memo="opening balance",
        now=now,
    )
    session.commit()
    return Books(clearing=clearing.id, wallet=wallet.id, merchant=merchant.id)

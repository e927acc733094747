"""Cities, persons, cards, card events and unseal requests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db_types import BigId, IdPk, UTCDateTime
from server.extensions import db
from server.registry.rules import USABLE_STATES


class City(db.Model):
    __tablename__ = "city"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(32))
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)


class Person(db.Model):
    """A person known to the registry. ID and phone numbers are stored only encrypted, with keyed
    blind indexes for look-ups."""

    __tablename__ = "person"

    id: Mapped[IdPk]
    id_type: Mapped[str] = mapped_column(String(32))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    died_on: Mapped[date | None] = mapped_column(Date)
    disability_level: Mapped[int | None] = mapped_column(SmallInteger)  # 1 (most severe) .. 4
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    cards: Mapped[list[Card]] = relationship(
        back_populates="person", order_by="Card.id", lazy="selectin", foreign_keys="Card.person_id"
    )


_usable = ", ".join(f"'{s}'" for s in sorted(USABLE_STATES))
USABLE_CARD_PREDICATE = text(f"state IN ({_usable})")


class Card(db.Model):
    __tablename__ = "card"

    id: Mapped[IdPk]
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("person.id"))
    serial: Mapped[str | None] = mapped_column(String(9), unique=True)
    generation: Mapped[int] = mapped_column(SmallInteger)
    issuing_city: Mapped[str] = mapped_column(ForeignKey("city.code"), index=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    bank_account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_account_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    state: Mapped[str] = mapped_column(String(16))
    sealed_from: Mapped[str | None] = mapped_column(String(16))
    seal_reason: Mapped[str | None] = mapped_column(String(16))
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    replaces_card_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("card.id"))
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_failed_tries: Mapped[int] = mapped_column(Integer, default=0)
    pin_locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Highest chip transaction counter seen (card taps): a counter that does not grow is a clone.
    chip_counter: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(back_populates="cards", foreign_keys=[person_id])

    __table_args__ = (
        # One person, one card: at most one card per person in a usable state.
        Index(
            "uq_card_one_usable_per_person",
            "person_id",
            unique=True,
            sqlite_where=USABLE_CARD_PREDICATE,
            postgresql_where=USABLE_CARD_PREDICATE,
        ),
        Index("ix_card_person_id", "person_id"),
    )


class CardEvent(db.Model):
    """Every state change of a card: who, why, from and to."""

    __tablename__ = "card_event"

    id: Mapped[IdPk]
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnsealRequest(db.Model):
    """Four eyes: one staff user asks to unseal a card, a city administrator (not the same person)
    approves."""

    __tablename__ = "unseal_request"

    id: Mapped[IdPk]
    card_id: Mapped[int] = mapped_column(BigId, ForeignKey("card.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[int] = mapped_column(BigId)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    decided_by: Mapped[int | None] = mapped_column(BigId)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

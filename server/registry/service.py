"""Registry use cases: persons, cards and their lifecycle, PINs, one person one card.

Each public use case is one transaction: it locks what it changes, checks the rules inside the
lock, records the card event and the audit event, and commits. Refusals raise ``DomainError``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import local_date
from server.errors import DomainError
from server.registry.models import Card, CardEvent, Person, UnsealRequest
from server.registry.models import City as CityRow
from server.registry.rules import (
    BANKS,
    CARD_SERIAL,
    CITY_BY_CODE,
    USABLE_STATES,
    CardAction,
    CardState,
    City,
    IdType,
    InvalidIdNumber,
    InvalidTransition,
    SealReason,
    check_digit,
    expiry_date,
    next_state,
    normalise_id_number,
    normalise_phone,
    parse_id_number,
    pin_problems,
    valid_bank_account,
)
from server.security import audit
from server.security.auth import ensure_scope
from server.security.pii import cipher
from server.security.rules import Actor

F_ID = "person.id_number"
F_PHONE = "person.phone"
F_BANK = "card.bank_account"


def city_rows(cities: tuple[City, ...]) -> list[dict]:
    return [
        {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "pilot": c.pilot}
        for c in cities
    ]


def list_cities(session: Session) -> list[CityRow]:
    return list(session.execute(select(CityRow).order_by(CityRow.code)).scalars())


def _known_city(code: str) -> None:
    if code not in CITY_BY_CODE:
        raise DomainError("city.unknown", city_code=code)


# --- persons ---------------------------------------------------------------------------------


def id_number_index(id_number: str) -> bytes:
    return cipher().blind_index(F_ID, normalise_id_number(id_number))


def find_person_by_id_number(session: Session, id_number: str) -> Person | None:
    """Exact look-up through the keyed blind index (an index seek, never a scan)."""
    return session.execute(
        select(Person).where(Person.id_number_bidx == id_number_index(id_number))
    ).scalar_one_or_none()


def decrypt_id_number(person: Person) -> str:
    return cipher().decrypt(F_ID, person.id_number_enc)


def decrypt_phone(person: Person) -> str | None:
    return None if person.phone_enc is None else cipher().decrypt(F_PHONE, person.phone_enc)


def decrypt_bank_account(card: Card) -> str | None:
    return decrypt_bank_account_value(card.bank_account_enc)


def decrypt_bank_account_value(encrypted: bytes | None) -> str | None:
    """A card's ``bank_account_enc`` column, decrypted (for a caller that read only the column)."""
    return None if encrypted is None else cipher().decrypt(F_BANK, encrypted)


def _phone_fields(phone: str | None) -> tuple[bytes | None, bytes | None]:
    if phone is None:
        return None, None
    normalised = normalise_phone(phone)
    if normalised is None:
        raise DomainError("person.invalid_phone")
    c = cipher()
    return c.encrypt(F_PHONE, normalised), c.blind_index(F_PHONE, normalised)


def register_person(
    session: Session,
    actor: Actor,
    *,
    id_number: str,
    name: str,
    city_code: str,
    now: datetime,
    phone: str | None = None,
    disability_level: int | None = None,
) -> Person:
    try:
        parsed = parse_id_number(id_number, local_date(now))
    except InvalidIdNumber as exc:
        raise DomainError("person.invalid_id_number", reason=exc.reason) from None
    _known_city(city_code)
    ensure_scope(actor, city_code)
    phone_enc, phone_bidx = _phone_fields(phone)
    c = cipher()
    bidx = c.blind_index(F_ID, parsed.number)
    if session.execute(select(Person.id).where(Person.id_number_bidx == bidx)).first():
        raise DomainError("person.already_registered")
    person = Person(
        id_type=str(parsed.id_type),
        id_number_enc=c.encrypt(F_ID, parsed.number),
        id_number_bidx=bidx,
        name=name,
        birth_date=parsed.birth_date,
        sex=parsed.sex,
        phone_enc=phone_enc,
        phone_bidx=phone_bidx,
        city_code=city_code,
        disability_level=disability_level,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    try:
        session.flush()
    except IntegrityError:  # registered concurrently by another request
        session.rollback()
        raise DomainError("person.already_registered") from None
    audit.record(
        session,
        actor,
        "person.registered",
        object_type="person",
        object_id=person.id,
        city_code=city_code,
        now=now,
        id_type=person.id_type,
    )
    session.commit()
    return person


def _person_cities(person: Person) -> list[str]:
    return [person.city_code, *(c.issuing_city for c in person.cards)]


def get_person(session: Session, actor: Actor, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise DomainError("person.not_found")
    ensure_scope(actor, *_person_cities(person))
    return person


def search_person(session: Session, actor: Actor, id_number: str, now: datetime) -> Person:
    """Find a person by ID number for staff; the search itself is audited (found or not)."""
    try:
        number = parse_id_number(id_number, local_date(now)).number
    except InvalidIdNumber as exc:
        raise DomainError("person.invalid_id_number", reason=exc.reason) from None
    person = find_person_by_id_number(session, number)
    audit.record(
        session,
        actor,
        "person.searched",
        object_type="person",
        object_id=person.id if person else "-",
        now=now,
        found=person is not None,
    )
    session.commit()
    if person is None:
        raise DomainError("person.not_found")
    ensure_scope(actor, *_person_cities(person))
    return person


def reveal_person(
    session: Session, actor: Actor, person_id: int, fields: list[str], now: datetime
) -> dict[str, str | None]:
    """Unmasked ID and phone numbers for a staff user whose scope covers the person; audited."""
    person = get_person(session, actor, person_id)
    out: dict[str, str | None] = {}
    if "id_number" in fields:
        out["id_number"] = decrypt_id_number(person)
    if "phone" in fields:
        out["phone"] = decrypt_phone(person)
    audit.record(
        session,
        actor,
        "person.pii_revealed",
        object_type="person",
        object_id=person.id,
        city_code=person.city_code,
        now=now,
        fields=sorted(out),
    )
    session.commit()
    return out


def update_person(
    session: Session, actor: Actor, person_id: int, changes: dict, now: datetime
) -> Person:
    """Change phone, city, disability level or date of death. A recorded death seals the
    person's usable cards (reason ``deceased``)."""
    person = session.execute(
        select(Person).where(Person.id == person_id).with_for_update()
    ).scalar_one_or_none()
    if person is None:
        raise DomainError("person.not_found")
    ensure_scope(actor, *_person_cities(person))
    changed = sorted(changes)
    if "phone" in changes:
        person.phone_enc, person.phone_bidx = _phone_fields(changes["phone"])
    if "city_code" in changes:
        _known_city(changes["city_code"])
        person.city_code = changes["city_code"]
    if "disability_level" in changes:
        person.disability_level = changes["disability_level"]
    if "died_on" in changes:
        died_on: date | None = changes["died_on"]
        if died_on is not None and (died_on > local_date(now) or died_on < person.birth_date):
            raise DomainError(
                "request.validation_failed",
                errors=[{"field": "body.died_on", "code": "out_of_range"}],
            )
        person.died_on = died_on
    person.updated_at = now
    audit.record(
        session,
        actor,
        "person.updated",
        object_type="person",
        object_id=person.id,
        city_code=person.city_code,
        now=now,
        fields=changed,
    )
    if changes.get("died_on") is not None:
        for card in _lock_cards_of(session, person.id):
            if CardState(card.state) in (CardState.ISSUED, CardState.ACTIVE, CardState.SUSPENDED):
                _transition(session, actor, card, CardAction.SEAL, now, "deceased")
                card.seal_reason = str(SealReason.DECEASED)
    session.commit()
    return person


def _lock_cards_of(session: Session, person_id: int) -> list[Card]:
    return list(
        session.execute(
            select(Card).where(Card.person_id == person_id).order_by(Card.id).with_for_update()
        ).scalars()
    )


# --- cards -----------------------------------------------------------------------------------


def _load_card(session: Session, actor: Actor, card_id: int, *, lock: bool = True) -> Card:
    stmt = select(Card).where(Card.id == card_id)
    if lock:
        stmt = stmt.with_for_update()
    card = session.execute(stmt).scalar_one_or_none()
    if card is None:
        raise DomainError("card.not_found")
    person = session.get(Person, card.person_id)
    ensure_scope(actor, card.issuing_city, person.city_code if person else None)
    return card


def get_card(session: Session, actor: Actor, card_id: int) -> Card:
    return _load_card(session, actor, card_id, lock=False)


def _transition(
    session: Session,
    actor: Actor,
    card: Card,
    action: CardAction,
    now: datetime,
    reason: str | None,
) -> CardState:
    current = CardState(card.state)
    sealed_from = CardState(card.sealed_from) if card.sealed_from else None
    try:
        target = next_state(action, current, sealed_from)
    except InvalidTransition:
        raise DomainError(
            "card.invalid_transition", action=str(action), state=str(current)
        ) from None
    card.state = str(target)
    card.state_changed_at = now
    from server.credentials.service import on_card_state_changed

    on_card_state_changed(session, card, current, target, now)
    if action is CardAction.SEAL:
        card.sealed_from = str(current)
    elif action is CardAction.UNSEAL:
        card.sealed_from = None
        card.seal_reason = None
    session.add(
        CardEvent(
            card_id=card.id,
            action=str(action),
            from_state=str(current),
            to_state=str(target),
            reason=reason,
            actor_kind=str(actor.kind),
            actor_id=actor.id,
            at=now,
        )
    )
    audit.record(
        session,
        actor,
        f"card.{action}",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
        from_state=str(current),
        to_state=str(target),
        reason=reason,
    )
    return target


def _ensure_one_card(session: Session, person_id: int, except_card_id: int | None = None) -> None:
    stmt = select(Card.id).where(Card.person_id == person_id, Card.state.in_(USABLE_STATES))
    if except_card_id is not None:
        stmt = stmt.where(Card.id != except_card_id)
    if session.execute(stmt).first():
        raise DomainError("card.one_person_one_card")


def _flush_card(session: Session) -> None:
    """Flush; the partial unique index turns a concurrent second usable card into a 409."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if "uq_card_one_usable_per_person" in str(exc.orig) or "card.person_id" in str(exc.orig):
            raise DomainError("card.one_person_one_card") from None
        if "serial" in str(exc.orig):
            raise DomainError("card.serial_taken") from None
        raise


def bank_account_fields(bank_code: str, account: str | None) -> tuple[bytes | None, bytes | None]:
    """A card's bank account as stored: (encrypted number, blind index), or (None, None) without
    one. Checks the bank code and the number (``bank.invalid_account``)."""
    if bank_code not in BANKS:
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.bank_code", "code": "invalid"}]
        )
    if account is None:
        return None, None
    if not valid_bank_account(account):
        raise DomainError("bank.invalid_account")
    c = cipher()
    return c.encrypt(F_BANK, account), c.blind_index(F_BANK, account)


def apply_card(
    session: Session,
    actor: Actor,
    person_id: int,
    *,
    generation: int,
    issuing_city: str,
    bank_code: str,
    now: datetime,
) -> Card:
    """Apply for a card (申领). Refused while the person has another usable card."""
    _known_city(issuing_city)
    ensure_scope(actor, issuing_city)
    person = session.execute(
        select(Person).where(Person.id == person_id).with_for_update()
    ).scalar_one_or_none()
    if person is None:
        raise DomainError("person.not_found")
    if person.died_on is not None:
        raise DomainError("person.deceased")
    bank_account_fields(bank_code, None)
    _ensure_one_card(session, person.id)
    card = Card(
        person_id=person.id,
        generation=generation,
        issuing_city=issuing_city,
        bank_code=bank_code,
        state=str(CardState.APPLIED),
        pin_failed_tries=0,
        created_at=now,
        state_changed_at=now,
    )
    session.add(card)
    _flush_card(session)
    session.add(
        CardEvent(
            card_id=card.id,
            action="apply",
            from_state=None,
            to_state=str(CardState.APPLIED),
            reason=None,
            actor_kind=str(actor.kind),
            actor_id=actor.id,
            at=now,
        )
    )
    audit.record(
        session,
        actor,
        "card.applied",
        object_type="card",
        object_id=card.id,
        city_code=issuing_city,
        now=now,
        person_id=person.id,
        generation=generation,
    )
    session.commit()
    return card


def produce_card(
    session: Session,
    actor: Actor,
    card_id: int,
    *,
    serial: str,
    bank_account_number: str,
    now: datetime,
) -> Card:
    """The card factory made the card: it now has a serial and a bank account (制卡)."""
    if not CARD_SERIAL.match(serial):
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.serial", "code": "pattern"}]
        )
    card = _load_card(session, actor, card_id)
    card.bank_account_enc, card.bank_account_bidx = bank_account_fields(
        card.bank_code, bank_account_number
    )
    _transition(session, actor, card, CardAction.PRODUCE, now, None)
    card.serial = serial
    _flush_card(session)
    _serial_assigned(session, card, now)
    session.commit()
    return card


def _serial_assigned(session: Session, card: Card, now: datetime) -> None:
    from server.credentials.service import on_card_serial_assigned

    on_card_serial_assigned(session, card, now)


def issue_card(session: Session, actor: Actor, card_id: int, now: datetime) -> Card:
    """Hand the card to its holder (发卡); validity runs from today."""
    card = _load_card(session, actor, card_id)
    _transition(session, actor, card, CardAction.ISSUE, now, None)
    card.issued_on = local_date(now)
    card.expires_on = expiry_date(card.issued_on, current_app.config["SSC_CARD_VALIDITY_YEARS"])
    session.commit()
    return card


def issue_card_on_site(
    session: Session, actor: Actor, card_id: int, *, serial: str, bank, now: datetime
) -> Card:
    """Instant issuance at a branch or a kiosk (即时制发卡): the blank card ``serial`` read from the
    reader becomes this ``applied`` card. Opens the bank account behind it with ``bank`` (a new
    Luhn-valid number at the card's bank), then produces and issues it in one transaction."""
    import secrets

    from server.registry.rules import new_bank_account_number

    if not CARD_SERIAL.match(serial):
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.serial", "code": "pattern"}]
        )
    card = _load_card(session, actor, card_id)
    if CardState(card.state) is not CardState.APPLIED:
        raise DomainError("card.invalid_transition", action="issue_on_site", state=card.state)
    if session.execute(select(Card.id).where(Card.serial == serial)).first():
        raise DomainError("card.serial_taken")
    bank_account_fields(card.bank_code, None)
    account = new_bank_account_number(card.bank_code, secrets.randbelow(10**12))
    card.bank_account_enc, card.bank_account_bidx = bank_account_fields(card.bank_code, account)
    _transition(session, actor, card, CardAction.PRODUCE, now, "on-site issuance")
    card.serial = serial
    _flush_card(session)  # a serial taken concurrently: card.serial_taken, nothing written
    _serial_assigned(session, card, now)
    _transition(session, actor, card, CardAction.ISSUE, now, "on-site issuance")
    card.issued_on = local_date(now)
    card.expires_on = expiry_date(card.issued_on, current_app.config["SSC_CARD_VALIDITY_YEARS"])
    # The bank opens the account last: a refusal above leaves no account behind.
    bank.open_account(account)
    session.commit()
    return card


def _pin_digest(card_id: int, pin: str) -> bytes:
    pepper = current_app.extensions["ssc.keyring"].pin_pepper
    return hmac.new(pepper, f"{card_id}:{pin}".encode(), hashlib.sha256).digest()


def _hash_pin(card_id: int, pin: str) -> str:
    from server.security.service import password_hasher

    return password_hasher().hash(_pin_digest(card_id, pin))


def _check_new_pin(card: Card, pin: str) -> None:
    person = card.person
    problems = pin_problems(pin, person.birth_date if person else None)
    if problems:
        raise DomainError("card.pin_weak", problems=problems)


def activate_card(session: Session, actor: Actor, card_id: int, pin: str, now: datetime) -> Card:
    """Activate an issued card with the holder's new 6-digit PIN (激活); opens its account."""
    from server.ledger.service import ensure_card_account

    card = _load_card(session, actor, card_id)
    if CardState(card.state) is not CardState.ISSUED:
        raise DomainError("card.invalid_transition", action="activate", state=card.state)
    _check_new_pin(card, pin)
    _transition(session, actor, card, CardAction.ACTIVATE, now, None)
    card.pin_hash = _hash_pin(card.id, pin)
    card.pin_failed_tries = 0
    card.pin_locked_at = None
    ensure_card_account(session, card.id, card.issuing_city, now)
    session.commit()
    return card


def activate_locked_card(
    session: Session, actor: Actor, card: Card, pin: str, now: datetime, reason: str
) -> Card:
    """Activate ``card`` (already locked by the caller, state ``issued``) with a new PIN, in the
    caller's transaction (no commit). For a self-service terminal: the caller proved possession of
    the card (chip tap) and the holder's identity instead of a staff user's city scope."""
    from server.ledger.service import ensure_card_account

    if CardState(card.state) is not CardState.ISSUED:
        raise DomainError("card.invalid_transition", action="activate", state=card.state)
    _check_new_pin(card, pin)
    _transition(session, actor, card, CardAction.ACTIVATE, now, reason)
    card.pin_hash = _hash_pin(card.id, pin)
    card.pin_failed_tries = 0
    card.pin_locked_at = None
    ensure_card_account(session, card.id, card.issuing_city, now)
    return card


def check_new_pin(card: Card, pin: str) -> None:
    """``card.pin_weak`` {problems} when ``pin`` may not be the card's new PIN."""
    _check_new_pin(card, pin)


@dataclass(frozen=True)
class PinCheck:
    ok: bool
    tries_left: int


def verify_pin(session: Session, actor: Actor, card_id: int, pin: str, now: datetime) -> PinCheck:
    """Check the PIN. A wrong PIN is counted (and committed) before the refusal; the third locks."""
    from server.security.service import password_hasher

    card = _load_card(session, actor, card_id)
    if CardState(card.state) is not CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)
    if card.pin_hash is None:
        raise DomainError("card.pin_not_set")
    if card.pin_locked_at is not None:
        raise DomainError("card.pin_locked")
    max_tries = current_app.config["SSC_PIN_MAX_TRIES"]
    try:
        password_hasher().verify(card.pin_hash, _pin_digest(card.id, pin))
    except (VerificationError, InvalidHashError):
        card.pin_failed_tries += 1
        locked = card.pin_failed_tries >= max_tries
        if locked:
            card.pin_locked_at = now
        audit.record(
            session,
            actor,
            "card.pin_failed",
            object_type="card",
            object_id=card.id,
            city_code=card.issuing_city,
            now=now,
            tries=card.pin_failed_tries,
            locked=locked,
        )
        session.commit()
        if locked:
            raise DomainError("card.pin_locked") from None
        raise DomainError(
            "card.pin_incorrect", tries_left=max_tries - card.pin_failed_tries
        ) from None
    if card.pin_failed_tries:
        card.pin_failed_tries = 0
        session.commit()
    return PinCheck(ok=True, tries_left=max_tries)


def reset_pin(session: Session, actor: Actor, card_id: int, new_pin: str, now: datetime) -> Card:
    """Staff reset (the holder types the new PIN on the counter's pad): unlocks the PIN."""
    card = _load_card(session, actor, card_id)
    if CardState(card.state) is not CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)
    _check_new_pin(card, new_pin)
    card.pin_hash = _hash_pin(card.id, new_pin)
    card.pin_failed_tries = 0
    card.pin_locked_at = None
    audit.record(
        session,
        actor,
        "card.pin_reset",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
    )
    session.commit()
    return card


def change_state(
    session: Session,
    actor: Actor,
    card_id: int,
    action: CardAction,
    now: datetime,
    reason: str | None = None,
) -> Card:
    """Report loss (挂失), report found (解挂), cancel (注销): one transition, with its reason."""
    if action not in (CardAction.REPORT_LOSS, CardAction.REPORT_FOUND, CardAction.CANCEL):
        raise ValueError(f"use the dedicated function for {action}")
    if action is CardAction.CANCEL and not reason:
        raise DomainError("card.reason_required")
    card = _load_card(session, actor, card_id)
    if action is CardAction.REPORT_FOUND:
        _ensure_one_card(session, card.person_id, except_card_id=card.id)
    _transition(session, actor, card, action, now, reason)
    _flush_card(session)
    session.commit()
    return card


def seal_card(
    session: Session,
    actor: Actor,
    card_id: int,
    reason: SealReason,
    note: str | None,
    now: datetime,
) -> Card:
    """Seal (封存) a card: deceased holder, duplicate, zombie card, or the holder's request."""
    card = _load_card(session, actor, card_id)
    _transition(session, actor, card, CardAction.SEAL, now, f"{reason}: {note}" if note else reason)
    card.seal_reason = str(reason)
    session.commit()
    return card


def request_unseal(
    session: Session, actor: Actor, card_id: int, reason: str, now: datetime
) -> UnsealRequest:
    card = _load_card(session, actor, card_id)
    if CardState(card.state) is not CardState.SEALED:
        raise DomainError("card.invalid_transition", action="unseal", state=card.state)
    request = UnsealRequest(
        card_id=card.id, reason=reason, requested_by=actor.id, requested_at=now, status="pending"
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor,
        "card.unseal_requested",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
        unseal_request_id=request.id,
    )
    session.commit()
    return request


def decide_unseal(
    session: Session, actor: Actor, request_id: int, approve: bool, now: datetime
) -> UnsealRequest:
    """A city administrator other than the requester approves or rejects; approval unseals."""
    request = session.execute(
        select(UnsealRequest).where(UnsealRequest.id == request_id).with_for_update()
    ).scalar_one_or_none()
    if request is None:
        raise DomainError("request.not_found")
    card = _load_card(session, actor, request.card_id)
    if request.status != "pending":
        raise DomainError("card.invalid_transition", action="unseal", state=card.state)
    if request.requested_by == actor.id:
        raise DomainError("card.approval_required")
    request.status = "approved" if approve else "rejected"
    request.decided_by = actor.id
    request.decided_at = now
    if approve:
        _ensure_one_card(session, card.person_id, except_card_id=card.id)
        _transition(session, actor, card, CardAction.UNSEAL, now, request.reason)
        _flush_card(session)
    else:
        audit.record(
            session,
            actor,
            "card.unseal_rejected",
            object_type="card",
            object_id=card.id,
            city_code=card.issuing_city,
            now=now,
        )
    session.commit()
    return request


def replace_card(
    session: Session,
    actor: Actor,
    card_id: int,
    *,
    reason: str,
    now: datetime,
    serial: str | None = None,
    bank_account_number: str | None = None,
) -> Card:
    """Replace (补换) a card: the old one becomes ``replaced`` and a new one is applied for, in one
    transaction. With a blank card's serial and account (instant issuance at a branch), the new
    card is produced at once and is ready to issue."""
    if not reason:
        raise DomainError("card.reason_required")
    old = _load_card(session, actor, card_id)
    ensure_scope(actor, old.issuing_city)
    _transition(session, actor, old, CardAction.REPLACE, now, reason)
    session.flush()  # the old card leaves the usable set before the new one enters it
    new = Card(
        person_id=old.person_id,
        generation=3,
        issuing_city=old.issuing_city,
        bank_code=old.bank_code,
        state=str(CardState.APPLIED),
        pin_failed_tries=0,
        replaces_card_id=old.id,
        created_at=now,
        state_changed_at=now,
    )
    session.add(new)
    _flush_card(session)
    session.add(
        CardEvent(
            card_id=new.id,
            action="apply",
            from_state=None,
            to_state=str(CardState.APPLIED),
            reason=f"replaces {old.id}",
            actor_kind=str(actor.kind),
            actor_id=actor.id,
            at=now,
        )
    )
    audit.record(
        session,
        actor,
        "card.applied",
        object_type="card",
        object_id=new.id,
        city_code=new.issuing_city,
        now=now,
        person_id=new.person_id,
        replaces=old.id,
    )
    if serial is not None:
        if not CARD_SERIAL.match(serial) or bank_account_number is None:
            raise DomainError(
                "request.validation_failed", errors=[{"field": "body.serial", "code": "pattern"}]
            )
        new.bank_account_enc, new.bank_account_bidx = bank_account_fields(
            new.bank_code, bank_account_number
        )
        _transition(session, actor, new, CardAction.PRODUCE, now, "instant issuance")
        new.serial = serial
        _flush_card(session)
    from server.credentials.service import on_card_replaced

    # Holds on the holder (e.g. transit debt over the limit) list the new card from the start.
    on_card_replaced(session, actor, old, new, now)
    session.commit()
    return new


def card_events(session: Session, actor: Actor, card_id: int) -> list[CardEvent]:
    card = get_card(session, actor, card_id)
    return list(
        session.execute(
            select(CardEvent).where(CardEvent.card_id == card.id).order_by(CardEvent.id)
        ).scalars()
    )


# --- synthetic data for benchmarks -----------------------------------------------------------

_SYNTH_REGIONS = ("440103", "440104", "440105", "440106", "440604", "440605", "441900", "440402")
_SYNTH_CITIES = ("440100", "440100", "440100", "440100", "440600", "440600", "441900", "440400")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志红玉梅"
_EPOCH = date(1940, 1, 1).toordinal()


def synthetic_id_number(index: int) -> str:
    """A valid, unique resident ID number for ``index`` (0 ≤ index < 200,000,000)."""
    seq = index % 1000
    rest = index // 1000
    birth = date.fromordinal(_EPOCH + rest % 24000)
    region = _SYNTH_REGIONS[(rest // 24000) % len(_SYNTH_REGIONS)]
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


def seed_synthetic_persons(
    session: Session, count: int, now: datetime, *, start: int = 0, batch_size: int = 2000
) -> int:
    """Insert ``count`` synthetic persons (indexes start..start+count-1) in batches; commits."""
    c = cipher()
    today = local_date(now)
    done = 0
    for offset in range(start, start + count, batch_size):
        rows = []
        for i in range(offset, min(offset + batch_size, start + count)):
            number = synthetic_id_number(i)
            parsed = parse_id_number(number, today)
            phone = f"13{i % 1_000_000_000:09d}"
            rows.append(
                {
                    "id_type": str(IdType.RESIDENT),
                    "id_number_enc": c.encrypt(F_ID, number),
                    "id_number_bidx": c.blind_index(F_ID, number),
                    "name": _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i // 7) % len(_GIVEN)],
                    "birth_date": parsed.birth_date,
                    "sex": parsed.sex,
                    "phone_enc": c.encrypt(F_PHONE, phone),
                    "phone_bidx": c.blind_index(F_PHONE, phone),
                    "city_code": _SYNTH_CITIES[(i // 1000 // 24000) % len(_SYNTH_CITIES)],
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(insert(Person), rows)
        session.commit()
        done += len(rows)
    return done

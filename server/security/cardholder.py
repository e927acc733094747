"""Cardholder sign-in by mobile number and SMS code, with real-name binding of the phone.

The flow (issue "Dynamic QR credentials", item 1):

1. :func:`request_sms_code` sends a 6-digit code to any valid mainland mobile number, known or
   not (the answer never reveals whether a number is bound). One code per phone per
   ``SSC_SMS_RESEND_SECONDS``; a new code replaces the previous one.
2. :func:`sign_in_with_sms_code` checks the code (valid ``SSC_SMS_CODE_TTL_SECONDS``, single use,
   dead after :data:`SMS_CODE_MAX_TRIES` failed tries). A phone already bound to a person signs
   that person in. An unbound phone needs the real-name check: the ID number exists in the
   registry with the same name, the person is alive and has a card in a usable state; then the
   phone is bound (one phone, one person; binding a new phone revokes the person's old binding
   and signs out the person's other sessions) and the person is signed in.

A wrong code and a failed real-name check both count as failed tries; they are written (and
committed) before the refusal is raised, since counting them is the point. Codes are stored only
as an HMAC under the blind-index key; phone numbers only encrypted or as blind indexes. Audit
events carry ids and reasons, never a number or a name.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import local_date
from server.errors import DomainError
from server.registry.models import Person
from server.registry.rules import (
    USABLE_STATES,
    InvalidIdNumber,
    normalise_phone,
    parse_id_number,
)
from server.registry.service import find_person_by_id_number, get_person, id_number_index
from server.security import audit
from server.security.models import AuthToken, PhoneBinding, SmsCode, SmsOutbox
from server.security.pii import cipher
from server.security.rules import (
    SMS_CODE_DIGITS,
    SMS_CODE_MAX_TRIES,
    Actor,
    ActorKind,
    SmsCodeState,
    names_match,
    resend_wait_seconds,
    sms_code_state,
)
from server.security.service import issue_token
from server.security.sms import F_PHONE_BIDX, SmsSender, sms_sender

PURPOSE_SIGN_IN = "sign_in"
F_BINDING_PHONE = "phone_binding.phone"
F_CODE = "sms.code"
F_RATE_KEY = "ratelimit.phone"


@dataclass(frozen=True)
class SmsCodeSent:
    expires_in: int  # seconds
    resend_after: int  # seconds


@dataclass(frozen=True)
class CardholderSession:
    token: str
    expires_in: int  # seconds
    person: Person
    newly_bound: bool


def cardholder_actor(person: Person) -> Actor:
    return Actor(kind=ActorKind.CARDHOLDER, id=person.id, label=f"cardholder:{person.id}")


def _config_int(name: str) -> int:
    return int(current_app.config[name])


def _phone(raw: str) -> str:
    phone = normalise_phone(raw)
    if phone is None:
        raise DomainError("person.invalid_phone")
    return phone


def phone_index(phone: str) -> bytes:
    """Blind index of a normalised phone number (the registry's, so the digests agree)."""
    return cipher().blind_index(F_PHONE_BIDX, phone)


def phone_rate_key(raw: str) -> str:
    """A rate-limit key for the phone in a request: keyed digest, so the limiter's store (memory
    or Redis) never holds a phone number."""
    value = normalise_phone(raw) or raw.strip()[:32]
    return cipher().blind_index(F_RATE_KEY, value).hex()[:32]


def _code_hash(phone_bidx: bytes, purpose: str, code: str) -> bytes:
    # A 6-digit code has a million values: a plain hash would be reversed at once, a keyed one
    # needs the server's key.
    return cipher().blind_index(F_CODE, f"{phone_bidx.hex()}:{purpose}:{code}")


def sms_message(code: str, ttl_seconds: int) -> str:
    minutes = max(1, ttl_seconds // 60)
    return (
        f"【社保卡一卡通】您的登录验证码为 {code}，{minutes} 分钟内有效，请勿告诉他人。"
        f" SSC One Card sign-in code: {code}, valid for {minutes} minutes. Never share it."
    )


def _lock_code(session: Session, phone_bidx: bytes, purpose: str) -> SmsCode | None:
    return session.execute(
        select(SmsCode)
        .where(SmsCode.phone_bidx == phone_bidx, SmsCode.purpose == purpose)
        .with_for_update()
    ).scalar_one_or_none()


# --- step 1: send a code ---------------------------------------------------------------------


def request_sms_code(
    session: Session, *, phone: str, now: datetime, sender: SmsSender | None = None
) -> SmsCodeSent:
    """Send a sign-in code to ``phone``. The same answer whether or not the phone is bound."""
    phone = _phone(phone)
    ttl = _config_int("SSC_SMS_CODE_TTL_SECONDS")
    resend = _config_int("SSC_SMS_RESEND_SECONDS")
    bidx = phone_index(phone)
    row = _lock_code(session, bidx, PURPOSE_SIGN_IN)
    wait = resend_wait_seconds(row.created_at if row else None, now, resend)
    if wait:
        raise DomainError("sms.too_soon", retry_after=wait)

    code = f"{secrets.randbelow(10**SMS_CODE_DIGITS):0{SMS_CODE_DIGITS}d}"
    fields = {
        "code_hash": _code_hash(bidx, PURPOSE_SIGN_IN, code),
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl),
        "used_at": None,
        "failed_tries": 0,
    }
    if row is None:
        row = SmsCode(phone_bidx=bidx, purpose=PURPOSE_SIGN_IN, **fields)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another request inserted this phone's first code at the same moment.
            raise DomainError("sms.too_soon", retry_after=resend) from None
    else:
        for name, value in fields.items():
            setattr(row, name, value)
    (sender or sms_sender()).send(
        session, phone=phone, message=sms_message(code, ttl), purpose=PURPOSE_SIGN_IN, now=now
    )
    audit.record(
        session,
        None,
        "cardholder.sms_code_sent",
        object_type="sms_code",
        object_id=row.id,
        now=now,
        purpose=PURPOSE_SIGN_IN,
    )
    session.commit()
    return SmsCodeSent(expires_in=ttl, resend_after=resend)


# --- step 2: sign in -------------------------------------------------------------------------


def _failed_try(session: Session, row: SmsCode, now: datetime, code: str, reason: str) -> NoReturn:
    """Count a failed try against the code, commit it, and refuse. The last try kills the code."""
    row.failed_tries += 1
    tries_left = max(0, SMS_CODE_MAX_TRIES - row.failed_tries)
    audit.record(
        session,
        None,
        "cardholder.sign_in_failed",
        object_type="sms_code",
        object_id=row.id,
        now=now,
        reason=reason,
        tries_left=tries_left,
    )
    session.commit()
    if tries_left == 0:
        raise DomainError("sms.code_locked")
    raise DomainError(code, tries_left=tries_left)


def _has_usable_card(person: Person) -> bool:
    return person.died_on is None and any(card.state in USABLE_STATES for card in person.cards)


def _real_name_matches(person: Person | None, id_number: str | None, name: str | None) -> bool:
    """``person`` (found by ID number, or bound to the phone) matches the details given."""
    if person is None or person.died_on is not None:
        return False
    if id_number is not None and id_number_index(id_number) != person.id_number_bidx:
        return False
    return name is None or names_match(name, person.name)


def _active_binding(session: Session, phone_bidx: bytes) -> PhoneBinding | None:
    return session.execute(
        select(PhoneBinding).where(
            PhoneBinding.phone_bidx == phone_bidx, PhoneBinding.revoked_at.is_(None)
        )
    ).scalar_one_or_none()


def _revoke_binding(session: Session, binding: PhoneBinding, now: datetime) -> None:
    """End a binding and sign the person out everywhere (their sessions came from that phone)."""
    binding.revoked_at = now
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.kind == str(ActorKind.CARDHOLDER),
            AuthToken.subject_id == binding.person_id,
            AuthToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def unbind_phone(
    session: Session, actor: Actor, person_id: int, reason: str, now: datetime
) -> bool:
    """Staff end a person's phone binding (a lost phone, or a recycled number now held by someone
    else); the person's sessions end too. Returns False when there was no active binding."""
    person = get_person(session, actor, person_id)  # scope check
    binding = session.execute(
        select(PhoneBinding)
        .where(PhoneBinding.person_id == person.id, PhoneBinding.revoked_at.is_(None))
        .with_for_update()
    ).scalar_one_or_none()
    if binding is None:
        return False
    _revoke_binding(session, binding, now)
    audit.record(
        session,
        actor,
        "cardholder.phone_unbound",
        object_type="person",
        object_id=person.id,
        city_code=person.city_code,
        now=now,
        binding_id=binding.id,
        reason=reason,
    )
    session.commit()
    return True


def purge_sms(session: Session, now: datetime, older_than: timedelta) -> dict[str, int]:
    """Delete sign-in codes that expired, and outbox messages written, before ``now - older_than``
    (they serve no purpose after that and hold phone digests)."""
    cutoff = now - older_than
    codes = session.execute(delete(SmsCode).where(SmsCode.expires_at < cutoff)).rowcount
    outbox = session.execute(delete(SmsOutbox).where(SmsOutbox.created_at < cutoff)).rowcount
    session.commit()
    return {"sms_codes": codes or 0, "outbox_messages": outbox or 0}


def _bind_phone(
    session: Session, person: Person, phone: str, phone_bidx: bytes, now: datetime
) -> None:
    """Bind ``phone`` to ``person``; the person's previous phone, and its sessions, are revoked."""
    # Serialise bindings of one person (two new phones at once).
    session.execute(select(Person.id).where(Person.id == person.id).with_for_update())
    old = session.execute(
        select(PhoneBinding).where(
            PhoneBinding.person_id == person.id, PhoneBinding.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    if old is not None:
        _revoke_binding(session, old, now)
        session.flush()  # free the partial unique index before the new row goes in
    binding = PhoneBinding(
        phone_bidx=phone_bidx,
        phone_enc=cipher().encrypt(F_BINDING_PHONE, phone),
        person_id=person.id,
        bound_at=now,
    )
    session.add(binding)
    session.flush()
    audit.record(
        session,
        cardholder_actor(person),
        "cardholder.phone_bound",
        object_type="person",
        object_id=person.id,
        city_code=person.city_code,
        now=now,
        binding_id=binding.id,
        replaced_binding_id=old.id if old is not None else None,
    )


def sign_in_with_sms_code(
    session: Session,
    *,
    phone: str,
    code: str,
    id_number: str | None,
    name: str | None,
    now: datetime,
) -> CardholderSession:
    """Sign a cardholder in with the code sent to ``phone``; bind the phone first when it is not
    bound yet (``id_number`` and ``name`` required then)."""
    phone = _phone(phone)
    if id_number is not None:
        try:
            parse_id_number(id_number, local_date(now))
        except InvalidIdNumber:
            raise DomainError("person.invalid_id_number") from None
    bidx = phone_index(phone)
    row = _lock_code(session, bidx, PURPOSE_SIGN_IN)
    state = sms_code_state(
        exists=row is not None,
        expires_at=row.expires_at if row else None,
        used_at=row.used_at if row else None,
        failed_tries=row.failed_tries if row else 0,
        now=now,
    )
    if state is SmsCodeState.LOCKED:
        raise DomainError("sms.code_locked")
    if state is not SmsCodeState.LIVE or row is None:
        raise DomainError("sms.code_expired")
    if not hmac.compare_digest(row.code_hash, _code_hash(bidx, PURPOSE_SIGN_IN, code)):
        _failed_try(session, row, now, "sms.code_incorrect", "code_incorrect")

    binding = _active_binding(session, bidx)
    if binding is not None:
        person = session.get(Person, binding.person_id)
        given = id_number is not None or name is not None
        if person is None or (given and not _real_name_matches(person, id_number, name)):
            _failed_try(session, row, now, "auth.real_name_mismatch", "real_name_mismatch")
    else:
        if id_number is None or name is None:
            raise DomainError("auth.real_name_required")
        person = find_person_by_id_number(session, id_number)
        # Unknown ID, wrong name and a deceased person get the same answer: no enumeration.
        if not _real_name_matches(person, id_number, name):
            _failed_try(session, row, now, "auth.real_name_mismatch", "real_name_mismatch")
    assert person is not None

    if not _has_usable_card(person):
        audit.record(
            session,
            None,
            "cardholder.sign_in_refused",
            object_type="person",
            object_id=person.id,
            city_code=person.city_code,
            now=now,
            reason="no_usable_card",
        )
        session.commit()
        raise DomainError("auth.no_usable_card")

    if binding is None:
        _bind_phone(session, person, phone, bidx, now)
    row.used_at = now
    ttl_minutes = _config_int("SSC_CARDHOLDER_TOKEN_TTL_MINUTES")
    token = issue_token(
        session, ActorKind.CARDHOLDER, person.id, now, timedelta(minutes=ttl_minutes)
    )
    audit.record(
        session,
        cardholder_actor(person),
        "cardholder.signed_in",
        object_type="person",
        object_id=person.id,
        city_code=person.city_code,
        now=now,
        method="sms_code",
        newly_bound=binding is None,
    )
    session.commit()
    return CardholderSession(
        token=token, expires_in=ttl_minutes * 60, person=person, newly_bound=binding is None
    )

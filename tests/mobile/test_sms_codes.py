"""SMS codes at the service level, with ``now`` passed in: expiry, resend interval, tries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.errors import DomainError
from server.security import cardholder
from server.security.models import PhoneBinding, SmsCode, SmsOutbox
from tests.mobile.conftest import PHONE, latest_code, wrong


def refused(session, call, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(session, **kwargs)
    session.rollback()
    return info.value


def send(session, now):
    return cardholder.request_sms_code(session, phone=PHONE, now=now)


def sign_in(session, now, code, holder=None, **extra):
    real_name = holder.real_name if holder else {"id_number": None, "name": None}
    return cardholder.sign_in_with_sms_code(
        session, phone=PHONE, code=code, now=now, **{**real_name, **extra}
    )


def test_a_code_is_good_until_just_before_five_minutes(app, session, holder, now):
    send(session, now)
    code = latest_code(app, PHONE)
    result = sign_in(session, now + timedelta(seconds=299), code, holder)
    assert result.person.id == holder.person_id
    assert result.newly_bound is True


def test_a_code_expires_after_five_minutes(app, session, holder, now):
    send(session, now)
    code = latest_code(app, PHONE)
    error = refused(
        session,
        cardholder.sign_in_with_sms_code,
        phone=PHONE,
        code=code,
        now=now + timedelta(seconds=300),
        **holder.real_name,
    )
    assert error.code == "sms.code_expired"


def test_a_new_code_may_be_sent_after_60_seconds_and_replaces_the_old(app, session, holder, now):
    send(session, now)
    first = latest_code(app, PHONE)
    error = refused(
        session, cardholder.request_sms_code, phone=PHONE, now=now + timedelta(seconds=59)
    )
    assert error.code == "sms.too_soon"
    assert error.extra["retry_after"] == 1
    sent = send(session, now + timedelta(seconds=60))
    assert (sent.expires_in, sent.resend_after) == (300, 60)
    second = latest_code(app, PHONE)
    assert session.execute(select(func.count()).select_from(SmsOutbox)).scalar_one() == 2
    assert session.execute(select(func.count()).select_from(SmsCode)).scalar_one() == 1
    later = now + timedelta(seconds=61)
    if first != second:
        stale = refused(
            session,
            cardholder.sign_in_with_sms_code,
            phone=PHONE,
            code=first,
            now=later,
            **holder.real_name,
        )
        assert stale.code == "sms.code_incorrect"
    assert sign_in(session, later, second, holder).person.id == holder.person_id


def test_a_new_code_gets_a_fresh_set_of_tries(app, session, holder, now):
    send(session, now)
    code = latest_code(app, PHONE)
    for _ in range(5):
        refused(
            session,
            cardholder.sign_in_with_sms_code,
            phone=PHONE,
            code=wrong(code),
            now=now,
            id_number=None,
            name=None,
        )
    send(session, now + timedelta(seconds=60))
    result = sign_in(session, now + timedelta(seconds=61), latest_code(app, PHONE), holder)
    assert result.person.id == holder.person_id


def test_a_wrong_real_name_counts_as_a_failed_try_but_leaves_the_code_usable(
    app, session, holder, now
):
    send(session, now)
    code = latest_code(app, PHONE)
    error = refused(
        session,
        cardholder.sign_in_with_sms_code,
        phone=PHONE,
        code=code,
        now=now,
        id_number=holder.id_number,
        name="王五",
    )
    assert error.code == "auth.real_name_mismatch"
    assert error.extra["tries_left"] == 4
    row = session.execute(select(SmsCode)).scalar_one()
    assert (row.failed_tries, row.used_at) == (1, None)
    assert sign_in(session, now, code, holder).person.id == holder.person_id


def test_five_wrong_real_names_kill_the_code(app, session, holder, now):
    send(session, now)
    code = latest_code(app, PHONE)
    codes = [
        refused(
            session,
            cardholder.sign_in_with_sms_code,
            phone=PHONE,
            code=code,
            now=now,
            id_number=holder.id_number,
            name="王五",
        ).code
        for _ in range(5)
    ]
    assert codes == ["auth.real_name_mismatch"] * 4 + ["sms.code_locked"]
    error = refused(
        session,
        cardholder.sign_in_with_sms_code,
        phone=PHONE,
        code=code,
        now=now,
        **holder.real_name,
    )
    assert error.code == "sms.code_locked"


def test_a_deceased_person_gets_the_mismatch_answer(app, session, holder, now):
    from server.registry.models import Person

    person = session.get(Person, holder.person_id)
    person.died_on = now.date()
    session.commit()
    send(session, now)
    error = refused(
        session,
        cardholder.sign_in_with_sms_code,
        phone=PHONE,
        code=latest_code(app, PHONE),
        now=now,
        **holder.real_name,
    )
    assert error.code == "auth.real_name_mismatch"


def test_names_are_compared_after_normalising_spaces_and_middle_dots(
    app, session, make_holder, now
):
    holder = make_holder(name="买买提·艾力")
    send(session, now)
    result = sign_in(session, now, latest_code(app, PHONE), holder, name=" 买买提 • 艾力 ")
    assert result.person.id == holder.person_id


def test_an_invalid_id_number_is_refused_before_the_code_is_checked(app, session, holder, now):
    send(session, now)
    error = refused(
        session,
        cardholder.sign_in_with_sms_code,
        phone=PHONE,
        code=latest_code(app, PHONE),
        now=now,
        id_number=holder.id_number[:17] + ("0" if holder.id_number[-1] != "0" else "1"),
        name=holder.name,
    )
    assert error.code == "person.invalid_id_number"
    assert session.execute(select(SmsCode.failed_tries)).scalar_one() == 0


def test_the_code_is_stored_only_as_a_keyed_hash(app, session, holder, now):
    import hashlib

    send(session, now)
    code = latest_code(app, PHONE)
    row = session.execute(select(SmsCode)).scalar_one()
    assert code.encode() not in row.code_hash
    assert row.code_hash != hashlib.sha256(code.encode()).digest()
    assert len(row.code_hash) == 32


def test_a_person_has_one_active_binding(app, session, holder, now):
    send(session, now)
    sign_in(session, now, latest_code(app, PHONE), holder)
    other = "13912340002"
    cardholder.request_sms_code(session, phone=other, now=now)
    cardholder.sign_in_with_sms_code(
        session, phone=other, code=latest_code(app, other), now=now, **holder.real_name
    )
    rows = session.execute(select(PhoneBinding).order_by(PhoneBinding.id)).scalars().all()
    assert [(r.person_id, r.revoked_at is None) for r in rows] == [
        (holder.person_id, False),
        (holder.person_id, True),
    ]

"""Fixtures for the cardholder (mobile) API: a person with a usable card, and the SMS outbox."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from server.extensions import db
from server.registry import service as registry
from server.security.models import SmsOutbox
from server.security.pii import cipher
from server.security.sms import F_PHONE_BIDX
from tests.conftest import valid_id

PHONE = "13912340001"
OTHER_PHONE = "13912340002"


@dataclass(frozen=True)
class Holder:
    person_id: int
    id_number: str
    name: str
    phone: str

    @property
    def real_name(self) -> dict[str, str]:
        return {"id_number": self.id_number, "name": self.name}


@pytest.fixture
def make_holder(app, branch, now):
    """Register a person (with a card in a usable state unless ``card=False``)."""

    def make(seq: str = "321", name: str = "陈小明", phone: str = PHONE, card: bool = True):
        id_number = valid_id(region="440104", birth="19850612", seq=seq)
        with app.app_context():
            person = registry.register_person(
                db.session,
                branch.actor,
                id_number=id_number,
                name=name,
                city_code="440100",
                now=now,
            )
            if card:
                registry.apply_card(
                    db.session,
                    branch.actor,
                    person.id,
                    generation=3,
                    issuing_city="440100",
                    bank_code="icbc",
                    now=now,
                )
            holder = Holder(person.id, id_number, name, phone)
            db.session.remove()
        return holder

    return make


@pytest.fixture
def holder(make_holder):
    return make_holder()


def outbox_messages(app, phone: str) -> list[str]:
    """Messages the development sender wrote for ``phone``, oldest first."""
    with app.app_context():
        bidx = cipher().blind_index(F_PHONE_BIDX, phone)
        rows = db.session.execute(
            select(SmsOutbox.message).where(SmsOutbox.phone_bidx == bidx).order_by(SmsOutbox.id)
        ).scalars()
        messages = list(rows)
        db.session.remove()
    return messages


def latest_code(app, phone: str) -> str:
    messages = outbox_messages(app, phone)
    assert messages, "no SMS in the outbox for this phone"
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", messages[-1])
    assert match is not None
    return match.group(1)


def request_code(client, phone: str):
    return client.post("/mobile/v1/auth/sms-code", json={"phone": phone})


def sign_in(client, phone: str, code: str, **real_name: str):
    return client.post("/mobile/v1/auth/sign-in", json={"phone": phone, "code": code, **real_name})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

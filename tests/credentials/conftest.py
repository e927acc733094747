"""Fixtures for the server side of credentials: an active cardholder with a token and a phone."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.clock import utcnow
from server.extensions import db
from server.registry import service as registry
from server.registry.demo import demo_bank_account
from server.security.rules import ActorKind
from server.security.service import issue_token
from tests.conftest import valid_id


@dataclass
class Holder:
    person_id: int
    card_id: int
    serial: str
    headers: dict[str, str]


@pytest.fixture
def make_holder(app, branch, city_admin):
    """An active card and a cardholder session, through the real services."""
    counter = {"n": 0}

    def make(birth: str = "19500312", city: str = "440100", disability: int | None = None):
        counter["n"] += 1
        n = counter["n"]
        now = utcnow()
        with app.app_context():
            person = registry.register_person(
                db.session,
                branch.actor,
                id_number=valid_id("440104", birth, f"{30 + n:03d}"),
                name="陈伯",
                city_code=city,
                disability_level=disability,
                now=now,
            )
            card = registry.apply_card(
                db.session,
                branch.actor,
                person.id,
                generation=3,
                issuing_city=city,
                bank_code="icbc",
                now=now,
            )
            serial = f"A{20000000 + n:08d}"
            registry.produce_card(
                db.session,
                city_admin.actor,
                card.id,
                serial=serial,
                bank_account_number=demo_bank_account(n),
                now=now,
            )
            registry.issue_card(db.session, branch.actor, card.id, now)
            registry.activate_card(db.session, branch.actor, card.id, "135790", now)
            token = issue_token(db.session, ActorKind.CARDHOLDER, person.id, now, ttl=None)
            db.session.commit()
            holder = Holder(person.id, card.id, serial, {"Authorization": f"Bearer {token}"})
            db.session.remove()
        return holder

    return make


@pytest.fixture
def holder(make_holder):
    return make_holder()


@dataclass
class Phone:
    key: Ed25519PrivateKey

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.key.public_key().public_bytes_raw()).decode()


@pytest.fixture
def phone():
    return Phone(Ed25519PrivateKey.generate())


@pytest.fixture
def signed(client, holder, phone):
    """The holder's e-card signed in one app: the response body."""
    response = client.post(
        "/mobile/v1/ecard",
        json={"public_key": phone.public_b64, "app_id": "gd-hrss", "device_label": "测试手机"},
        headers=holder.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()

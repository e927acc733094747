"""Fixtures for door-to-door issuance: request payloads, a cardholder session, an active card
issued through the real services, and future visit windows (the API reads the real clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.clock import utcnow
from server.extensions import db
from server.registry import service as registry
from server.registry.demo import demo_bank_account
from server.security.rules import ActorKind
from server.security.service import issue_token
from tests.conftest import valid_id

OLD_ID = valid_id("440104", "19360308", "802")  # 90 years old (born 1936)
OLD_NAME = "梁婆婆"
YOUNG_ID = valid_id("440106", "19900101", "731")
ADDRESS = "东风中路 318 号 3 栋 602 房"
CONTACT_PHONE = "13900001111"
REQUESTER_PHONE = "13900002222"
CERTIFICATE = "44010619900101731X42"


def payload(**overrides) -> dict:
    body = {
        "requested_by_kind": "family",
        "requester_name": "梁志坚",
        "requester_phone": REQUESTER_PHONE,
        "subject_id_number": OLD_ID,
        "subject_name": OLD_NAME,
        "contact_phone": CONTACT_PHONE,
        "city_code": "440100",
        "district": "越秀区",
        "address": ADDRESS,
        "illness_declared": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def window(days: int = 1, hours: int = 2) -> tuple[str, str]:
    start = (utcnow() + timedelta(days=days)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


def count(app, model, *where) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        db.session.remove()
    return n


@pytest.fixture
def create(client, branch):
    """POST a request as staff (the Guangzhou clerk unless ``staff`` is given); the response."""

    def make(staff=None, **overrides):
        return client.post(
            "/staff/v1/doorstep-requests",
            json=payload(**overrides),
            headers=(staff or branch).headers,
        )

    return make


@pytest.fixture
def request_id(create) -> int:
    response = create()
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def assign(client, branch):
    def do(request_id: int, staff=None, to=None, **extra):
        start, end = window()
        body = {"staff_id": (to or branch).id, "planned_from": start, "planned_to": end, **extra}
        return client.post(
            f"/staff/v1/doorstep-requests/{request_id}/assign",
            json=body,
            headers=(staff or branch).headers,
        )

    return do


@pytest.fixture
def assigned_id(request_id, assign) -> int:
    response = assign(request_id, illness_confirmed=True)
    assert response.status_code == 200, response.get_json()
    return request_id


@pytest.fixture
def visited_id(client, branch, assigned_id) -> int:
    response = client.post(
        f"/staff/v1/doorstep-requests/{assigned_id}/visits",
        json={"outcome": "completed"},
        headers=branch.headers,
    )
    assert response.status_code == 201, response.get_json()
    return assigned_id


@pytest.fixture
def make_card(app, branch, city_admin):
    """Register the person if needed and take a card to ``state`` through the real services
    (issued and activated now, as at the visit). Returns the card id."""
    serials = {"n": 0}

    def make(id_number: str = OLD_ID, name: str = OLD_NAME, state: str = "active", now=None):
        serials["n"] += 1
        n = serials["n"]
        now = now or utcnow()
        with app.app_context():
            person = registry.find_person_by_id_number(db.session, id_number)
            if person is None:
                person = registry.register_person(
                    db.session,
                    branch.actor,
                    id_number=id_number,
                    name=name,
                    city_code="440100",
                    now=now,
                )
            card = registry.apply_card(
                db.session,
                branch.actor,
                person.id,
                generation=3,
                issuing_city="440100",
                bank_code="icbc",
                now=now,
            )
            if state != "applied":
                registry.produce_card(
                    db.session,
                    city_admin.actor,
                    card.id,
                    serial=f"D{30000000 + n:08d}",
                    bank_account_number=demo_bank_account(500 + n),
                    now=now,
                )
            if state in ("issued", "active"):
                registry.issue_card(db.session, branch.actor, card.id, now)
            if state == "active":
                registry.activate_card(db.session, branch.actor, card.id, "258036", now)
            card_id = card.id
            db.session.remove()
        return card_id

    return make


@pytest.fixture
def make_cardholder(app, branch):
    """A registered person with a usable card and a cardholder bearer token: the headers."""
    counter = {"n": 0}

    def make(birth: str = "19700505", name: str = "梁志坚", city: str = "440100"):
        counter["n"] += 1
        now = utcnow()
        with app.app_context():
            person = registry.register_person(
                db.session,
                branch.actor,
                id_number=valid_id("440103", birth, f"{600 + counter['n']:03d}"),
                name=name,
                city_code=city,
                phone=f"1370000{counter['n']:04d}",
                now=now,
            )
            registry.apply_card(
                db.session,
                branch.actor,
                person.id,
                generation=3,
                issuing_city=city,
                bank_code="icbc",
                now=now,
            )
            token = issue_token(db.session, ActorKind.CARDHOLDER, person.id, now, ttl=None)
            db.session.commit()
            db.session.remove()
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def cardholder(make_cardholder):
    return make_cardholder()

"""One person, one card: held by the service and by the database's partial unique index."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.errors import DomainError
from server.extensions import db
from server.registry import service
from server.registry.models import Card


@pytest.fixture
def person_id(app, branch, person_payload, now):
    with app.app_context():
        person = service.register_person(db.session, branch.actor, now=now, **person_payload)
        pid = person.id
        db.session.remove()
    return pid


def test_the_database_refuses_a_second_usable_card_even_without_the_service(app, person_id, now):
    with app.app_context():
        for _ in range(2):
            db.session.add(
                Card(
                    person_id=person_id,
                    generation=3,
                    issuing_city="440100",
                    bank_code="icbc",
                    state="applied",
                    pin_failed_tries=0,
                    created_at=now,
                    state_changed_at=now,
                )
            )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_cards_that_are_not_usable_do_not_count(app, person_id, now):
    with app.app_context():
        for state in ("replaced", "cancelled", "sealed", "active"):
            db.session.add(
                Card(
                    person_id=person_id,
                    generation=3,
                    issuing_city="440100",
                    bank_code="icbc",
                    state=state,
                    pin_failed_tries=0,
                    created_at=now,
                    state_changed_at=now,
                )
            )
        db.session.commit()
        assert db.session.execute(select(func.count()).select_from(Card)).scalar_one() == 4


@pytest.mark.postgres_only
def test_concurrent_applications_give_exactly_one_card(app, branch, person_id, now):
    attempts = 8
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def apply() -> None:
        with app.app_context():
            barrier.wait()
            try:
                service.apply_card(
                    db.session,
                    branch.actor,
                    person_id,
                    generation=3,
                    issuing_city="440100",
                    bank_code="icbc",
                    now=now,
                )
                result = "ok"
            except DomainError as exc:
                result = exc.code
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=apply) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["card.one_person_one_card"] * (attempts - 1) + ["ok"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Card)).scalar_one() == 1


@pytest.mark.postgres_only
def test_concurrent_inserts_past_the_service_still_give_one_card(app, person_id, now):
    """The index alone (no row lock taken by the service) lets exactly one insert commit."""
    attempts = 6
    barrier = threading.Barrier(attempts)
    committed: list[bool] = []
    lock = threading.Lock()

    def insert() -> None:
        with app.app_context():
            db.session.add(
                Card(
                    person_id=person_id,
                    generation=3,
                    issuing_city="440100",
                    bank_code="icbc",
                    state="applied",
                    pin_failed_tries=0,
                    created_at=now,
                    state_changed_at=now,
                )
            )
            barrier.wait()
            try:
                db.session.commit()
                ok = True
            except IntegrityError:
                db.session.rollback()
                ok = False
            finally:
                db.session.remove()
            with lock:
                committed.append(ok)

    threads = [threading.Thread(target=insert) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(committed) == [False] * (attempts - 1) + [True]

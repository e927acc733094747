"""One open request per person, and one winner when staff assign the same request at once: races
on PostgreSQL with real threads and separate sessions; the partial unique index on both backends."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.doorstep import service
from server.doorstep.models import DoorstepRequest
from server.doorstep.rules import Channel, RequestedBy
from server.errors import DomainError
from server.extensions import db
from server.security.models import AuditEvent
from tests.doorstep.conftest import ADDRESS, CONTACT_PHONE, OLD_ID, OLD_NAME, REQUESTER_PHONE

NEW = service.NewRequest(
    requested_by_kind=RequestedBy.FAMILY,
    requester_name="梁志坚",
    requester_phone=REQUESTER_PHONE,
    subject_id_number=OLD_ID,
    subject_name=OLD_NAME,
    contact_phone=CONTACT_PHONE,
    city_code="440100",
    district="越秀区",
    address=ADDRESS,
)


def race(app, attempts: int, work) -> list[str]:
    """Run ``work(i)`` in ``attempts`` threads released together; each outcome or error code."""
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                work(i)
                result = "ok"
            except DomainError as exc:
                result = exc.code
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(outcomes)


def count_requests(app) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(DoorstepRequest)).scalar_one()
        db.session.remove()
    return n


@pytest.mark.postgres_only
def test_concurrent_requests_for_one_person_give_exactly_one(app, make_staff, now):
    staff = [make_staff("branch_staff", "440100") for _ in range(6)]

    def work(i: int) -> None:
        service.create_request(db.session, staff[i].actor, NEW, channel=Channel.STAFF, now=now)

    outcomes = race(app, len(staff), work)
    assert outcomes == ["doorstep.already_requested"] * (len(staff) - 1) + ["ok"]
    assert count_requests(app) == 1
    with app.app_context():
        requested = db.session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "doorstep.requested")
        ).scalar_one()
        db.session.remove()
    assert requested == 1


def test_the_index_alone_holds_one_open_request_per_person(app, branch, now):
    """Two inserts that skip the service's check: the partial unique index lets one commit."""
    with app.app_context():
        service.create_request(db.session, branch.actor, NEW, channel=Channel.STAFF, now=now)
        first = db.session.execute(select(DoorstepRequest)).scalar_one()
        clone = DoorstepRequest(
            **{
                c.key: getattr(first, c.key)
                for c in DoorstepRequest.__table__.columns
                if c.key != "id"
            }
        )
        db.session.add(clone)
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        first = db.session.execute(select(DoorstepRequest)).scalar_one()
        first.status = "completed"
        db.session.commit()
        again = DoorstepRequest(
            **{
                c.key: getattr(first, c.key)
                for c in DoorstepRequest.__table__.columns
                if c.key != "id"
            }
        )
        again.status = "requested"
        db.session.add(again)
        db.session.commit()  # a closed request does not count
        db.session.remove()
    assert count_requests(app) == 2


@pytest.mark.postgres_only
def test_two_staff_assigning_at_once_one_wins(app, make_staff, branch, now):
    with app.app_context():
        request = service.create_request(
            db.session, branch.actor, NEW, channel=Channel.STAFF, now=now
        )
        rid = request.id
        db.session.remove()
    clerks = [make_staff("branch_staff", "440100") for _ in range(4)]
    start = now + timedelta(days=1)

    def work(i: int) -> None:
        service.assign_request(
            db.session,
            clerks[i].actor,
            rid,
            staff_id=clerks[i].id,
            planned_from=start,
            planned_to=start + timedelta(hours=2),
            now=now,
        )

    outcomes = race(app, len(clerks), work)
    assert outcomes == ["doorstep.already_assigned"] * (len(clerks) - 1) + ["ok"]
    with app.app_context():
        row = db.session.get(DoorstepRequest, rid)
        assert row.status == "assigned"
        assert row.assigned_to_id in {c.id for c in clerks}
        assigned = db.session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "doorstep.assigned")
        ).scalar_one()
        db.session.remove()
    assert assigned == 1

"""The audit log is hash-chained: editing, deleting or re-linking a row is detected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update

from server.extensions import db
from server.security import audit
from server.security.models import AuditEvent, AuditHead


@pytest.fixture
def chain(app, branch, now):
    with app.app_context():
        for i in range(5):
            audit.record(
                db.session,
                branch.actor,
                "test.event",
                object_type="thing",
                object_id=i,
                now=now,
                n=i,
            )
            db.session.commit()
        db.session.remove()


def verify(app):
    with app.app_context():
        report = audit.verify_chain(db.session)
        db.session.remove()
        return report


def test_an_untouched_chain_verifies(app, chain):
    report = verify(app)
    assert report.ok
    assert report.events >= 5


def test_sequence_numbers_have_no_gaps(app, chain):
    with app.app_context():
        seqs = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars().all()
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_edited_row_is_detected(app, chain):
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "test.event", AuditEvent.object_id == "2")
            .values(detail=json.dumps({"n": 99}))
        )
        db.session.commit()
    report = verify(app)
    assert not report.ok
    assert {"problem": "edited"}.items() <= report.problems[0].items()


def test_a_deleted_row_is_detected(app, chain):
    with app.app_context():
        db.session.execute(
            delete(AuditEvent).where(AuditEvent.action == "test.event", AuditEvent.object_id == "3")
        )
        db.session.commit()
    problems = {p["problem"] for p in verify(app).problems}
    assert "missing" in problems


def test_deleting_the_newest_row_is_detected(app, chain):
    with app.app_context():
        last = db.session.execute(
            select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
        ).scalar_one()
        db.session.delete(last)
        db.session.commit()
    problems = {p["problem"] for p in verify(app).problems}
    assert problems == {"head_mismatch"}


def test_a_recomputed_hash_does_not_hide_an_edit(app, chain):
    """Rewriting one row and its own hash still breaks the next row's link."""
    with app.app_context():
        row = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "test.event", AuditEvent.object_id == "1")
        ).scalar_one()
        row.detail = json.dumps({"n": 42})
        row.hash = audit.event_hash(row.prev_hash, row)
        db.session.commit()
    problems = {p["problem"] for p in verify(app).problems}
    assert "broken_link" in problems


def test_flask_audit_verify_exits_1_on_tampering(app, runner, chain):
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0
    assert json.loads(ok.output)["ok"] is True
    with app.app_context():
        db.session.execute(update(AuditHead).values(last_hash="f" * 64))
        db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["ok"] is False


def test_auditors_verify_over_the_api(client, make_staff, chain):
    auditor = make_staff("auditor")
    response = client.post("/staff/v1/audit/verify", headers=auditor.headers)
    assert response.status_code == 200
    assert response.get_json()["ok"] is True
    listed = client.get("/staff/v1/audit/events?action=test.event", headers=auditor.headers)
    assert [e["object_id"] for e in listed.get_json()["items"]] == ["0", "1", "2", "3", "4"]


def test_a_city_admin_reads_only_its_city_events(client, city_admin, make_staff, now, app):
    with app.app_context():
        audit.record(
            db.session, None, "x.gz", object_type="t", object_id=1, now=now, city_code="440100"
        )
        audit.record(
            db.session, None, "x.fs", object_type="t", object_id=2, now=now, city_code="440600"
        )
        db.session.commit()
    items = client.get("/staff/v1/audit/events", headers=city_admin.headers).get_json()["items"]
    assert {"x.gz"} <= {i["action"] for i in items}
    assert "x.fs" not in {i["action"] for i in items}

"""A kiosk takes back its own call for staff while nobody has claimed it (the person found help
elsewhere); staff can then no longer claim or resolve it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from server.extensions import db
from server.security.models import AuditEvent
from tests.kiosk.conftest import code_of, get, post
from tests.kiosk.test_concurrency import at_once


def raise_help(client, kiosk) -> int:
    response = post(client, kiosk, "/help-requests", {"topic": "other"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def cancel(client, kiosk, request_id: int):
    return post(client, kiosk, f"/help-requests/{request_id}/cancel", {})


def audit_of(app, request_id: int) -> list[tuple[str, str, dict]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action, AuditEvent.actor_kind, AuditEvent.detail)
            .where(AuditEvent.object_type == "help_request")
            .where(AuditEvent.object_id == str(request_id))
            .order_by(AuditEvent.seq)
        ).all()
        db.session.remove()
    return [(a, k, json.loads(d)) for a, k, d in rows]


def test_a_kiosk_cancels_its_open_call_and_staff_can_no_longer_claim_it(app, client, kiosk, branch):
    request_id = raise_help(client, kiosk)
    response = cancel(client, kiosk, request_id)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"
    assert get(client, kiosk, f"/help-requests/{request_id}").get_json()["status"] == "cancelled"

    claim = client.post(f"/staff/v1/help-requests/{request_id}/claim", headers=branch.headers)
    assert (claim.status_code, code_of(claim)) == (409, "help.closed")
    resolve = client.post(
        f"/staff/v1/help-requests/{request_id}/resolve",
        json={"outcome": "x"},
        headers=branch.headers,
    )
    assert code_of(resolve) == "help.closed"
    listed = client.get(
        "/staff/v1/help-requests?status=cancelled", headers=branch.headers
    ).get_json()["items"]
    assert [(r["id"], r["claimed_by"]) for r in listed] == [(request_id, None)]
    assert listed[0]["cancelled_at"] is not None
    assert (
        client.get("/staff/v1/help-requests?status=open", headers=branch.headers).get_json()[
            "items"
        ]
        == []
    )
    events = audit_of(app, request_id)
    assert [(a, k) for a, k, _ in events] == [
        ("help.requested", "terminal"),
        ("help.cancelled", "terminal"),
    ]
    assert events[1][2]["ticket"] == "A001"


def test_cancelling_twice_answers_the_cancelled_request_and_audits_once(app, client, kiosk):
    request_id = raise_help(client, kiosk)
    assert cancel(client, kiosk, request_id).status_code == 200
    again = cancel(client, kiosk, request_id)
    assert again.status_code == 200
    assert again.get_json()["status"] == "cancelled"
    assert [a for a, _, _ in audit_of(app, request_id)].count("help.cancelled") == 1


def test_a_claimed_or_resolved_call_cannot_be_cancelled(app, client, kiosk, branch):
    claimed = raise_help(client, kiosk)
    client.post(f"/staff/v1/help-requests/{claimed}/claim", headers=branch.headers)
    response = cancel(client, kiosk, claimed)
    assert (response.status_code, code_of(response)) == (409, "help.already_claimed")
    assert get(client, kiosk, f"/help-requests/{claimed}").get_json()["status"] == "claimed"

    resolved = raise_help(client, kiosk)
    client.post(
        f"/staff/v1/help-requests/{resolved}/resolve",
        json={"outcome": "已处理"},
        headers=branch.headers,
    )
    response = cancel(client, kiosk, resolved)
    assert (response.status_code, code_of(response)) == (409, "help.closed")
    assert get(client, kiosk, f"/help-requests/{resolved}").get_json()["status"] == "resolved"


def test_a_kiosk_cannot_cancel_another_kiosks_call(client, kiosk, make_kiosk):
    request_id = raise_help(client, kiosk)
    other = make_kiosk()
    response = cancel(client, other, request_id)
    assert (response.status_code, code_of(response)) == (404, "help.not_found")
    assert get(client, kiosk, f"/help-requests/{request_id}").get_json()["status"] == "open"
    unknown = cancel(client, kiosk, 999999)
    assert code_of(unknown) == "help.not_found"


@pytest.mark.postgres_only
def test_a_cancel_and_a_claim_at_once_exactly_one_wins(app, client, kiosk, branch):
    for _ in range(3):
        request_id = raise_help(client, kiosk)

        def send(c, i, request_id=request_id):
            if i == 0:
                return cancel(c, kiosk, request_id)
            return c.post(f"/staff/v1/help-requests/{request_id}/claim", headers=branch.headers)

        results = at_once(app, 2, send)
        status = get(client, kiosk, f"/help-requests/{request_id}").get_json()["status"]
        if status == "cancelled":
            assert results == [(200, None), (409, "help.closed")]
        else:
            assert status == "claimed"
            assert results == [(409, "help.already_claimed"), (200, None)]
        actions = [a for a, _, _ in audit_of(app, request_id)]
        assert len(actions) == 2 and actions[0] == "help.requested"

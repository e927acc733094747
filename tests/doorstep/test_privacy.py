"""Personal data of door-to-door requests: encrypted at rest, masked in answers, never audited."""

from __future__ import annotations

import json

from sqlalchemy import select

from server.extensions import db
from server.security.models import AuditEvent
from tests.conftest import plaintext_hits
from tests.doorstep.conftest import (
    ADDRESS,
    CERTIFICATE,
    CONTACT_PHONE,
    OLD_ID,
    REQUESTER_PHONE,
)

SECRETS = [OLD_ID, CONTACT_PHONE, REQUESTER_PHONE, ADDRESS, CERTIFICATE, "318 号"]


def test_numbers_address_and_certificate_are_encrypted_at_rest(app, client, branch, create):
    response = create(requested_by_kind="community_worker", disability_certificate=CERTIFICATE)
    rid = response.get_json()["id"]
    client.post(
        f"/staff/v1/doorstep-requests/{rid}/reveal",
        json={"fields": ["id_number", "address", "disability_certificate"]},
        headers=branch.headers,
    )
    hits, scanned = plaintext_hits(app, [*SECRETS, "东风中路"])
    assert scanned > 20
    assert hits == []


def test_answers_hold_no_unmasked_personal_data(client, branch, create, assign, cardholder):
    created = create(requested_by_kind="community_worker", disability_certificate=CERTIFICATE)
    rid = created.get_json()["id"]
    answers = [
        created,
        assign(rid),
        client.get("/staff/v1/doorstep-requests", headers=branch.headers),
        client.get(f"/staff/v1/doorstep-requests/{rid}", headers=branch.headers),
        client.get("/mobile/v1/doorstep-requests", headers=cardholder),
    ]
    for response in answers:
        assert response.status_code in (200, 201)
        text = response.get_data(as_text=True)
        for secret in SECRETS:  # the street stays visible ("东风中路****"), the number does not
            assert secret not in text


def test_audit_events_carry_no_personal_data(app, client, branch, create, assign):
    rid = create(requested_by_kind="community_worker").get_json()["id"]
    assign(rid)
    client.post(
        f"/staff/v1/doorstep-requests/{rid}/reveal",
        json={"fields": ["id_number", "contact_phone", "address", "requester_phone"]},
        headers=branch.headers,
    )
    with app.app_context():
        rows = db.session.execute(select(AuditEvent)).scalars().all()
        dumped = json.dumps([(e.action, e.detail, e.object_id) for e in rows], ensure_ascii=False)
        db.session.remove()
    assert "doorstep.pii_revealed" in dumped
    for secret in [*SECRETS, "梁志坚"]:
        assert secret not in dumped

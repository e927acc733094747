"""Registering and finding persons through the staff API."""

from __future__ import annotations

from sqlalchemy import func, select

from server.extensions import db
from server.registry.models import Person
from server.security.models import AuditEvent
from tests.conftest import valid_id


def count(app, model) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
        return n


def test_registering_a_person_returns_masked_numbers(client, branch, person_payload):
    response = client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    assert response.status_code == 201
    body = response.get_json()
    assert (
        body["id_number_masked"]
        == person_payload["id_number"][:4] + "*" * 10 + person_payload["id_number"][-4:]
    )
    assert body["phone_masked"] == "138****5678"
    assert body["birth_date"] == "1990-01-01"
    assert body["id_type"] == "resident"
    assert person_payload["id_number"] not in response.get_data(as_text=True)


def test_invalid_check_digit_is_refused_and_nothing_is_written(app, client, branch, person_payload):
    number = person_payload["id_number"]
    person_payload["id_number"] = number[:17] + ("1" if number[17] != "1" else "2")
    before = count(app, AuditEvent)
    response = client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "person.invalid_id_number"
    assert count(app, Person) == 0
    assert count(app, AuditEvent) == before


def test_a_person_can_be_registered_only_once(client, branch, person_payload):
    assert (
        client.post("/staff/v1/persons", json=person_payload, headers=branch.headers).status_code
        == 201
    )
    again = client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    assert again.status_code == 409
    assert again.get_json()["code"] == "person.already_registered"


def test_unknown_and_missing_fields_are_named(client, branch, person_payload):
    person_payload["nickname"] = "三哥"
    del person_payload["name"]
    response = client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "request.validation_failed"
    fields = {e["field"]: e["code"] for e in body["errors"]}
    assert fields == {"body.nickname": "extra_forbidden", "body.name": "missing"}


def test_wrong_content_type_is_415(app, client, branch, person_payload):
    response = client.post(
        "/staff/v1/persons",
        data="id_number=1",
        headers={**branch.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.get_json()["code"] == "request.unsupported_media_type"
    assert count(app, Person) == 0


def test_malformed_json_is_400(client, branch):
    response = client.post(
        "/staff/v1/persons",
        data="{not json",
        headers={**branch.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "request.malformed_json"


def test_oversized_body_is_413(app, client, branch, person_payload):
    person_payload["name"] = "张" * (1024 * 1024)
    response = client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    assert response.status_code == 413
    assert response.get_json()["code"] == "request.too_large"
    assert count(app, Person) == 0


def test_no_token_is_401_and_a_bad_token_is_401(client, person_payload):
    missing = client.post("/staff/v1/persons", json=person_payload)
    assert missing.status_code == 401
    assert missing.get_json()["code"] == "auth.unauthenticated"
    bad = client.post(
        "/staff/v1/persons", json=person_payload, headers={"Authorization": "Bearer st_nope"}
    )
    assert bad.status_code == 401
    assert bad.get_json()["code"] == "auth.invalid_token"


def test_a_branch_cannot_register_in_another_city(app, client, make_staff, person_payload):
    zhuhai = make_staff("branch_staff", "440400")
    response = client.post("/staff/v1/persons", json=person_payload, headers=zhuhai.headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"
    assert count(app, Person) == 0


def test_an_auditor_may_not_register(client, make_staff, person_payload):
    auditor = make_staff("auditor")
    response = client.post("/staff/v1/persons", json=person_payload, headers=auditor.headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.forbidden"


def test_search_by_id_number_finds_the_person_and_is_audited(app, client, branch, person_payload):
    created = client.post(
        "/staff/v1/persons", json=person_payload, headers=branch.headers
    ).get_json()
    found = client.post(
        "/staff/v1/persons/search",
        json={"id_number": person_payload["id_number"]},
        headers=branch.headers,
    )
    assert found.status_code == 200
    assert found.get_json()["id"] == created["id"]
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
    assert "person.searched" in actions


def test_search_for_an_unknown_number_is_404(client, branch):
    response = client.post(
        "/staff/v1/persons/search", json={"id_number": valid_id(seq="999")}, headers=branch.headers
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == "person.not_found"


def test_out_of_scope_person_is_403_for_another_city(client, branch, make_staff, person_payload):
    client.post("/staff/v1/persons", json=person_payload, headers=branch.headers)
    foshan = make_staff("branch_staff", "440600")
    response = client.post(
        "/staff/v1/persons/search",
        json={"id_number": person_payload["id_number"]},
        headers=foshan.headers,
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_reveal_returns_the_full_number_and_leaves_an_audit_event(
    app, client, branch, person_payload
):
    created = client.post(
        "/staff/v1/persons", json=person_payload, headers=branch.headers
    ).get_json()
    response = client.post(
        f"/staff/v1/persons/{created['id']}/reveal",
        json={"fields": ["id_number"]},
        headers=branch.headers,
    )
    assert response.status_code == 200
    assert response.get_json()["id_number"] == person_payload["id_number"]
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "person.pii_revealed")
        ).scalar_one()
        assert event.actor_id == branch.id
        assert person_payload["id_number"] not in event.detail


def test_department_officers_see_masked_data_only(client, branch, make_staff, person_payload):
    created = client.post(
        "/staff/v1/persons", json=person_payload, headers=branch.headers
    ).get_json()
    officer = make_staff("department_officer")
    assert (
        client.get(f"/staff/v1/persons/{created['id']}", headers=officer.headers).status_code == 200
    )
    reveal = client.post(
        f"/staff/v1/persons/{created['id']}/reveal",
        json={"fields": ["id_number"]},
        headers=officer.headers,
    )
    assert reveal.status_code == 403
    assert reveal.get_json()["code"] == "auth.forbidden"


def test_english_titles_on_request(client, person_payload):
    response = client.post(
        "/staff/v1/persons", json=person_payload, headers={"Accept-Language": "en"}
    )
    assert response.get_json()["title"] == "Authentication required"
    assert response.headers["Content-Language"] == "en"
    default = client.post("/staff/v1/persons", json=person_payload)
    assert default.headers["Content-Language"] == "zh-CN"

"""Staff API for door-to-door issuance: every endpoint and every refusal, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from server.clock import utcnow
from server.doorstep.models import DoorstepRequest, DoorstepVisit
from server.extensions import db
from server.registry import service as registry
from server.registry.demo import demo_bank_account
from server.security.models import AuditEvent
from tests.conftest import valid_id
from tests.doorstep.conftest import (
    ADDRESS,
    CONTACT_PHONE,
    OLD_ID,
    OLD_NAME,
    YOUNG_ID,
    count,
    window,
)

BASE = "/staff/v1/doorstep-requests"


def audit_actions(app, object_id: int) -> list[str]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "doorstep_request")
            .where(AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.seq)
        ).scalars()
        actions = list(rows)
        db.session.remove()
    return actions


# --- create ----------------------------------------------------------------------------------


def test_staff_record_a_request_phoned_in_by_a_family_member(app, create):
    response = create()
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "requested"
    assert body["channel"] == "staff"
    assert body["requested_by_kind"] == "family"
    assert body["reasons"] == ["age_80_plus", "illness"]
    assert body["age"] >= 90
    assert body["name_masked"] == "梁*婆"
    assert body["requester_name_masked"] == "梁*坚"
    assert body["id_number_masked"] == OLD_ID[:4] + "*" * 10 + OLD_ID[-4:]
    assert body["contact_phone_masked"] == "139****1111"
    assert body["district"] == "越秀区"
    assert body["address_masked"] == "东风中路****"
    assert body["person_id"] is None
    assert body["allowed_actions"] == ["assign", "cancel"]
    assert audit_actions(app, body["id"]) == ["doorstep.requested"]


def test_a_community_worker_request_needs_the_workers_name_and_phone(app, create):
    response = create(requested_by_kind="community_worker", requester_name=None)
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"
    response = create(requested_by_kind="community_worker", requester_phone=None)
    assert response.get_json()["code"] == "request.validation_failed"
    assert create(requested_by_kind="community_worker").status_code == 201


def test_a_self_request_needs_no_requester(create):
    response = create(requested_by_kind="self", requester_name=None, requester_phone=None)
    assert response.status_code == 201
    assert response.get_json()["requester_name_masked"] is None


def test_a_person_under_80_without_disability_or_illness_is_not_eligible(app, create):
    response = create(subject_id_number=YOUNG_ID, subject_name="王五", illness_declared=False)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "doorstep.not_eligible"
    assert body["reasons"] == ["under_80", "no_disability", "no_illness_declared"]
    assert count(app, DoorstepRequest) == 0
    assert count(app, AuditEvent, AuditEvent.action == "doorstep.requested") == 0


def test_a_declared_disability_certificate_makes_a_younger_person_eligible(create):
    response = create(
        subject_id_number=YOUNG_ID,
        subject_name="王五",
        illness_declared=False,
        disability_certificate="44010619900101731X42",
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["reasons"] == ["disability"]
    assert body["has_disability_certificate"] is True


def test_a_registered_disability_level_makes_a_younger_person_eligible(app, branch, create, now):
    with app.app_context():
        registry.register_person(
            db.session,
            branch.actor,
            id_number=YOUNG_ID,
            name="王五",
            city_code="440100",
            disability_level=2,
            now=now,
        )
        db.session.remove()
    response = create(subject_id_number=YOUNG_ID, subject_name="王五", illness_declared=False)
    assert response.status_code == 201
    assert response.get_json()["reasons"] == ["disability"]
    assert response.get_json()["person_id"] is not None


def test_a_registered_persons_name_must_match(app, branch, create, now):
    with app.app_context():
        registry.register_person(
            db.session, branch.actor, id_number=OLD_ID, name=OLD_NAME, city_code="440100", now=now
        )
        db.session.remove()
    response = create(subject_name="张三")
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.name_mismatch"
    assert count(app, DoorstepRequest) == 0


def test_a_deceased_person_is_refused(app, branch, create, now):
    with app.app_context():
        person = registry.register_person(
            db.session, branch.actor, id_number=OLD_ID, name=OLD_NAME, city_code="440100", now=now
        )
        registry.update_person(
            db.session, branch.actor, person.id, {"died_on": now.date() - timedelta(days=3)}, now
        )
        db.session.remove()
    response = create()
    assert response.status_code == 409
    assert response.get_json()["code"] == "person.deceased"


def test_an_invalid_id_number_is_refused(create):
    response = create(subject_id_number=OLD_ID[:17] + ("0" if OLD_ID[17] != "0" else "1"))
    assert response.status_code == 422
    assert response.get_json()["code"] == "person.invalid_id_number"
    assert response.get_json()["reason"] == "check_digit"


def test_an_invalid_phone_is_refused(create):
    response = create(contact_phone="12345")
    assert response.status_code == 422
    assert response.get_json()["code"] == "person.invalid_phone"
    assert response.get_json()["field"] == "contact_phone"


def test_a_district_holding_numbers_is_refused(create):
    response = create(district="越秀区 318 号")
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


def test_an_unknown_city_is_refused(create):
    response = create(city_code="449900")
    assert response.status_code == 422
    assert response.get_json()["code"] == "city.unknown"


def test_a_second_open_request_for_the_same_person_is_refused(app, create, request_id):
    response = create(requested_by_kind="community_worker")
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.already_requested"
    assert count(app, DoorstepRequest) == 1


def test_after_a_cancellation_the_person_may_ask_again(client, branch, create, request_id):
    client.post(
        f"{BASE}/{request_id}/cancel",
        json={"reason": "家属已陪同到网点办理"},
        headers=branch.headers,
    )
    assert create().status_code == 201


def test_staff_of_another_city_cannot_record_a_request_for_this_city(app, create, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = create(staff=foshan)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"
    assert count(app, DoorstepRequest) == 0


# --- read ------------------------------------------------------------------------------------


def test_the_list_is_compact_and_ordered_by_planned_visit(client, branch, create, assign):
    first = create().get_json()["id"]
    second = create(
        subject_id_number=valid_id("440105", "19400101", "801"), subject_name="苏伯"
    ).get_json()["id"]
    third = create(
        subject_id_number=valid_id("440106", "19420202", "803"), subject_name="罗伯"
    ).get_json()["id"]
    late_start, late_end = window(days=3)
    soon_start, soon_end = window(days=1)
    for rid, start, end in ((first, late_start, late_end), (third, soon_start, soon_end)):
        body = {
            "staff_id": branch.id,
            "planned_from": start,
            "planned_to": end,
            "illness_confirmed": True,
        }
        assert (
            client.post(f"{BASE}/{rid}/assign", json=body, headers=branch.headers).status_code
            == 200
        )
    response = client.get(BASE, headers=branch.headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [i["id"] for i in items] == [third, first, second]
    top = items[0]
    assert set(top) == {
        "id",
        "name_masked",
        "age",
        "reasons",
        "city_code",
        "district",
        "address_masked",
        "status",
        "status_name",
        "planned_from",
        "planned_to",
        "assigned_to_id",
        "assigned_to_name",
    }
    assert top["name_masked"] == "罗*"
    assert top["planned_from"].endswith("+08:00")
    assert datetime.fromisoformat(top["planned_from"]) == datetime.fromisoformat(soon_start)
    assert top["assigned_to_name"] == "测试 branch_staff"
    assert items[2]["planned_from"] is None


def test_the_list_filters_by_status_and_by_assignee(client, branch, make_staff, create, assign):
    colleague = make_staff("branch_staff", "440100")
    mine = create().get_json()["id"]
    theirs = create(
        subject_id_number=valid_id("440105", "19400101", "801"), subject_name="苏伯"
    ).get_json()["id"]
    waiting = create(
        subject_id_number=valid_id("440106", "19420202", "803"), subject_name="罗伯"
    ).get_json()["id"]
    assert assign(mine, illness_confirmed=True).status_code == 200
    assert assign(theirs, to=colleague, illness_confirmed=True).status_code == 200

    def ids(query: str, staff=branch) -> list[int]:
        response = client.get(f"{BASE}?{query}", headers=staff.headers)
        assert response.status_code == 200, response.get_json()
        return [i["id"] for i in response.get_json()["items"]]

    assert ids("assigned_to=me") == [mine]
    assert ids("assigned_to=me", colleague) == [theirs]
    assert ids(f"assigned_to={colleague.id}") == [theirs]
    assert ids("status=requested") == [waiting]
    assert sorted(ids("status=assigned")) == sorted([mine, theirs])
    assert sorted(ids("status=open")) == sorted([mine, theirs, waiting])
    assert ids("status=completed") == []


def test_the_list_is_paginated(client, branch, create):
    for n in range(3):
        create(subject_id_number=valid_id("440106", "19400101", f"{811 + 2 * n:03d}"))
    page1 = client.get(f"{BASE}?per_page=2", headers=branch.headers).get_json()
    assert len(page1["items"]) == 2
    assert page1["next_page"] == 2
    page2 = client.get(f"{BASE}?per_page=2&page=2", headers=branch.headers).get_json()
    assert len(page2["items"]) == 1
    assert page2["next_page"] is None
    seen = [i["id"] for i in page1["items"] + page2["items"]]
    assert len(set(seen)) == 3


def test_the_list_shows_only_the_staff_users_city(client, create, request_id, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = client.get(BASE, headers=foshan.headers)
    assert response.get_json()["items"] == []
    response = client.get(f"{BASE}?city=440100", headers=foshan.headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_an_auditor_reads_every_city(client, request_id, make_staff):
    auditor = make_staff("auditor")
    items = client.get(BASE, headers=auditor.headers).get_json()["items"]
    assert [i["id"] for i in items] == [request_id]
    assert client.get(f"{BASE}/{request_id}", headers=auditor.headers).status_code == 200


def test_staff_read_one_request_masked(client, branch, request_id):
    response = client.get(f"{BASE}/{request_id}", headers=branch.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == request_id
    assert body["visits"] == []
    text = response.get_data(as_text=True)
    for secret in (OLD_ID, CONTACT_PHONE, ADDRESS, "318"):
        assert secret not in text


def test_an_unknown_request_is_not_found(client, branch):
    response = client.get(f"{BASE}/999999", headers=branch.headers)
    assert response.status_code == 404
    assert response.get_json()["code"] == "doorstep.not_found"


def test_staff_of_another_city_cannot_read_the_request(client, request_id, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = client.get(f"{BASE}/{request_id}", headers=foshan.headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_reveal_gives_the_visiting_staff_the_numbers_and_is_audited(
    app, client, branch, request_id
):
    response = client.post(
        f"{BASE}/{request_id}/reveal",
        json={"fields": ["id_number", "contact_phone", "address"]},
        headers=branch.headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["id_number"] == OLD_ID
    assert body["contact_phone"] == CONTACT_PHONE
    assert body["address"] == ADDRESS
    assert body["requester_phone"] is None  # not asked for
    assert audit_actions(app, request_id) == ["doorstep.requested", "doorstep.pii_revealed"]


def test_reveal_is_refused_outside_the_city(app, client, request_id, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = client.post(
        f"{BASE}/{request_id}/reveal", json={"fields": ["address"]}, headers=foshan.headers
    )
    assert response.get_json()["code"] == "auth.out_of_scope"
    assert audit_actions(app, request_id) == ["doorstep.requested"]


# --- assign ----------------------------------------------------------------------------------


def test_a_clerk_assigns_the_visit_to_themselves(app, branch, request_id, assign):
    response = assign(request_id, illness_confirmed=True)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "assigned"
    assert body["assigned_to_id"] == branch.id
    assert body["illness_confirmed"] is True
    assert audit_actions(app, request_id) == ["doorstep.requested", "doorstep.assigned"]


def test_a_city_admin_assigns_to_a_clerk(branch, city_admin, request_id, assign):
    response = assign(request_id, staff=city_admin, to=branch)
    assert response.status_code == 200
    assert response.get_json()["assigned_to_name"] == "测试 branch_staff"


def test_an_assigned_request_is_not_assigned_again_without_saying_so(
    app, branch, make_staff, assigned_id, assign
):
    colleague = make_staff("branch_staff", "440100")
    response = assign(assigned_id, staff=colleague, to=colleague)
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.already_assigned"
    response = assign(assigned_id, staff=colleague, to=colleague, reassign=True)
    assert response.status_code == 200
    assert response.get_json()["assigned_to_id"] == colleague.id
    assert audit_actions(app, assigned_id)[-1] == "doorstep.reassigned"


def test_reassigning_a_request_nobody_has_is_refused(request_id, assign):
    response = assign(request_id, reassign=True)
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "doorstep.invalid_transition"
    assert body["status"] == "requested"


def test_the_assignee_must_be_a_clerk_of_the_requests_city(
    app, request_id, assign, city_admin, make_staff
):
    foshan = make_staff("branch_staff", "440600")
    for to in (foshan, city_admin):
        response = assign(request_id, to=to, illness_confirmed=True)
        assert response.status_code == 422
        assert response.get_json()["code"] == "doorstep.invalid_assignee"
    assert count(app, DoorstepRequest, DoorstepRequest.status == "requested") == 1


def test_staff_of_another_city_cannot_assign(request_id, assign, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = assign(request_id, staff=foshan, to=foshan)
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_a_window_in_the_past_is_refused(client, branch, request_id):
    start = (utcnow() - timedelta(days=1)).isoformat()
    end = (utcnow() - timedelta(days=1) + timedelta(hours=2)).isoformat()
    response = client.post(
        f"{BASE}/{request_id}/assign",
        json={"staff_id": branch.id, "planned_from": start, "planned_to": end},
        headers=branch.headers,
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.invalid_window"
    assert response.get_json()["problems"] == ["in_past"]


def test_a_window_without_a_time_zone_is_refused(client, branch, request_id):
    response = client.post(
        f"{BASE}/{request_id}/assign",
        json={
            "staff_id": branch.id,
            "planned_from": "2030-01-01T09:00:00",
            "planned_to": "2030-01-01T11:00:00",
        },
        headers=branch.headers,
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


def test_an_illness_that_is_the_only_reason_must_be_confirmed(app, create, assign):
    rid = create(subject_id_number=YOUNG_ID, subject_name="王五").get_json()["id"]
    response = assign(rid)
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.illness_unconfirmed"
    assert count(app, DoorstepRequest, DoorstepRequest.status == "requested") == 1
    response = assign(rid, illness_confirmed=True)
    assert response.status_code == 200
    assert response.get_json()["illness_confirmed"] is True


def test_an_aged_persons_declared_illness_needs_no_confirmation(request_id, assign):
    response = assign(request_id)
    assert response.status_code == 200
    assert response.get_json()["illness_confirmed"] is False


# --- visits ----------------------------------------------------------------------------------


def visit(client, staff, rid, **body):
    return client.post(f"{BASE}/{rid}/visits", json=body, headers=staff.headers)


def test_a_completed_visit_waits_for_the_card(app, client, branch, assigned_id):
    response = visit(client, branch, assigned_id, outcome="completed", note="现场发卡并激活")
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "visited"
    assert body["allowed_actions"] == ["complete", "cancel"]
    assert [(v["outcome"], v["note"], v["staff_id"]) for v in body["visits"]] == [
        ("completed", "现场发卡并激活", branch.id)
    ]
    assert body["visits"][0]["visited_at"].endswith("+08:00")
    assert audit_actions(app, assigned_id)[-1] == "doorstep.visited"


def test_nobody_home_returns_the_request_to_the_queue(client, branch, assigned_id):
    body = visit(client, branch, assigned_id, outcome="not_home").get_json()
    assert body["status"] == "requested"
    assert body["assigned_to_id"] is None
    assert body["planned_from"] is None
    assert len(body["visits"]) == 1


def test_a_rescheduled_visit_keeps_the_clerk_with_a_new_window(client, branch, assigned_id):
    start, end = window(days=5)
    body = visit(
        client, branch, assigned_id, outcome="needs_reschedule", next_from=start, next_to=end
    ).get_json()
    assert body["status"] == "assigned"
    assert body["assigned_to_id"] == branch.id
    assert datetime.fromisoformat(body["planned_from"]) == datetime.fromisoformat(start)


def test_a_refusal_at_the_door_cancels_the_request(client, branch, assigned_id):
    body = visit(client, branch, assigned_id, outcome="refused").get_json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"]


def test_a_new_window_only_goes_with_a_missed_visit(app, client, branch, assigned_id):
    start, end = window(days=5)
    response = visit(client, branch, assigned_id, outcome="completed", next_from=start, next_to=end)
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"
    response = visit(client, branch, assigned_id, outcome="not_home", next_from=start)
    assert response.get_json()["code"] == "request.validation_failed"
    assert count(app, DoorstepVisit) == 0


def test_only_the_assigned_clerk_records_the_visit(app, client, make_staff, assigned_id):
    colleague = make_staff("branch_staff", "440100")
    response = visit(client, colleague, assigned_id, outcome="completed")
    assert response.status_code == 403
    assert response.get_json()["code"] == "doorstep.not_assignee"
    assert count(app, DoorstepVisit) == 0


def test_a_city_admin_may_record_the_visit(client, city_admin, assigned_id):
    response = visit(client, city_admin, assigned_id, outcome="completed")
    assert response.status_code == 201


def test_a_visit_needs_an_assignment(app, client, branch, request_id):
    response = visit(client, branch, request_id, outcome="completed")
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.invalid_transition"
    assert count(app, DoorstepVisit) == 0


def test_a_note_with_a_phone_number_is_refused(app, client, branch, assigned_id):
    response = visit(client, branch, assigned_id, outcome="not_home", note="请回电 13812345678")
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.note_rejected"
    assert response.get_json()["problems"] == ["personal_data"]
    assert count(app, DoorstepVisit) == 0


def test_a_long_note_is_refused(client, branch, assigned_id):
    response = visit(client, branch, assigned_id, outcome="not_home", note="很" * 101)
    assert response.status_code == 422


def test_staff_of_another_city_cannot_record_a_visit(client, assigned_id, make_staff):
    foshan = make_staff("city_admin", "440600")
    response = visit(client, foshan, assigned_id, outcome="completed")
    assert response.get_json()["code"] == "auth.out_of_scope"


# --- complete --------------------------------------------------------------------------------


def complete(client, staff, rid, card_id):
    return client.post(f"{BASE}/{rid}/complete", json={"card_id": card_id}, headers=staff.headers)


def test_completing_links_the_card_issued_and_activated_at_the_visit(
    app, client, branch, visited_id, make_card
):
    card_id = make_card()
    response = complete(client, branch, visited_id, card_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "completed"
    assert body["card_id"] == card_id
    assert body["person_id"] is not None
    assert body["completed_at"] is not None
    assert body["allowed_actions"] == []
    assert audit_actions(app, visited_id) == [
        "doorstep.requested",
        "doorstep.assigned",
        "doorstep.visited",
        "doorstep.completed",
    ]


def test_a_card_of_another_person_is_refused(app, client, branch, visited_id, make_card):
    card_id = make_card(id_number=YOUNG_ID, name="王五")
    response = complete(client, branch, visited_id, card_id)
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.card_of_another_person"
    assert count(app, DoorstepRequest, DoorstepRequest.status == "visited") == 1


def test_a_card_not_yet_activated_is_refused(client, branch, visited_id, make_card):
    card_id = make_card(state="issued")
    response = complete(client, branch, visited_id, card_id)
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "card.not_active"
    assert body["state"] == "issued"


def test_a_card_issued_before_the_request_is_refused(
    app, client, branch, make_card, create, assign
):
    card_id = make_card(now=utcnow() - timedelta(days=3))
    rid = create().get_json()["id"]
    assert assign(rid).status_code == 200
    assert visit(client, branch, rid, outcome="completed").status_code == 201
    response = complete(client, branch, rid, card_id)
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.card_predates_request"


def test_an_unknown_card_is_refused(client, branch, visited_id):
    response = complete(client, branch, visited_id, 999999)
    assert response.status_code == 404
    assert response.get_json()["code"] == "card.not_found"


def test_completing_before_the_visit_is_refused(client, branch, assigned_id, make_card):
    response = complete(client, branch, assigned_id, make_card())
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.invalid_transition"


def test_only_the_assigned_clerk_completes(client, make_staff, visited_id, make_card):
    colleague = make_staff("branch_staff", "440100")
    response = complete(client, colleague, visited_id, make_card())
    assert response.get_json()["code"] == "doorstep.not_assignee"


def test_a_completed_request_cannot_be_completed_or_cancelled(
    client, branch, visited_id, make_card
):
    card_id = make_card()
    assert complete(client, branch, visited_id, card_id).status_code == 200
    assert complete(client, branch, visited_id, card_id).get_json()["code"] == (
        "doorstep.invalid_transition"
    )
    response = client.post(
        f"{BASE}/{visited_id}/cancel", json={"reason": "不需要了"}, headers=branch.headers
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.invalid_transition"


# --- cancel ----------------------------------------------------------------------------------


def test_staff_cancel_with_a_reason(app, client, branch, visited_id):
    response = client.post(
        f"{BASE}/{visited_id}/cancel",
        json={"reason": "家属已带老人到网点办理"},
        headers=branch.headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "家属已带老人到网点办理"
    assert audit_actions(app, visited_id)[-1] == "doorstep.cancelled"


def test_a_cancel_reason_with_an_id_number_is_refused(app, client, branch, request_id):
    response = client.post(
        f"{BASE}/{request_id}/cancel", json={"reason": f"重复 {OLD_ID}"}, headers=branch.headers
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.note_rejected"
    assert count(app, DoorstepRequest, DoorstepRequest.status == "requested") == 1


def test_a_cancelled_request_cannot_be_cancelled_again(client, branch, request_id):
    for expected in (200, 409):
        response = client.post(
            f"{BASE}/{request_id}/cancel", json={"reason": "不需要了"}, headers=branch.headers
        )
        assert response.status_code == expected


def test_staff_of_another_city_cannot_cancel(client, request_id, make_staff):
    foshan = make_staff("branch_staff", "440600")
    response = client.post(
        f"{BASE}/{request_id}/cancel", json={"reason": "不需要了"}, headers=foshan.headers
    )
    assert response.get_json()["code"] == "auth.out_of_scope"


# --- the whole way, with the person registered at the visit -----------------------------------


def test_door_to_door_issuance_end_to_end(app, client, branch, city_admin, create):
    rid = create().get_json()["id"]
    start, end = window()
    body = {"staff_id": branch.id, "planned_from": start, "planned_to": end}
    assert client.post(f"{BASE}/{rid}/assign", json=body, headers=branch.headers).status_code == 200
    revealed = client.post(
        f"{BASE}/{rid}/reveal", json={"fields": ["id_number"]}, headers=branch.headers
    ).get_json()
    person = client.post(
        "/staff/v1/persons",
        json={"id_number": revealed["id_number"], "name": OLD_NAME, "city_code": "440100"},
        headers=branch.headers,
    ).get_json()
    card = client.post(
        f"/staff/v1/persons/{person['id']}/cards",
        json={"issuing_city": "440100", "bank_code": "icbc"},
        headers=branch.headers,
    ).get_json()
    produced = client.post(
        f"/staff/v1/cards/{card['id']}/produce",
        json={"serial": "D40000001", "bank_account_number": demo_bank_account(900)},
        headers=city_admin.headers,
    )
    assert produced.status_code == 200, produced.get_json()
    assert (
        client.post(f"/staff/v1/cards/{card['id']}/issue", headers=branch.headers).status_code
        == 200
    )
    activated = client.post(
        f"/staff/v1/cards/{card['id']}/activate", json={"pin": "258036"}, headers=branch.headers
    )
    assert activated.get_json()["state"] == "active"
    assert visit(client, branch, rid, outcome="completed").status_code == 201
    done = complete(client, branch, rid, card["id"]).get_json()
    assert done["status"] == "completed"
    assert done["person_id"] == person["id"]
    listed = client.get(f"{BASE}?status=completed", headers=branch.headers).get_json()["items"]
    assert [i["id"] for i in listed] == [rid]

"""Door-to-door requests from the phone: for myself or a family member; my list; cancelling."""

from __future__ import annotations

from server.doorstep.models import DoorstepRequest
from tests.doorstep.conftest import ADDRESS, OLD_ID, OLD_NAME, count

BASE = "/mobile/v1/doorstep-requests"


def family_body(**overrides) -> dict:
    body = {
        "for_whom": "family",
        "subject_id_number": OLD_ID,
        "subject_name": OLD_NAME,
        "contact_phone": "13900001111",
        "district": "越秀区",
        "address": ADDRESS,
        "illness_declared": True,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_a_cardholder_asks_for_a_visit_to_a_family_member(client, branch, cardholder):
    response = client.post(BASE, json=family_body(), headers=cardholder)
    assert response.status_code == 201
    body = response.get_json()
    assert body["requested_by_kind"] == "family"
    assert body["status"] == "requested"
    assert body["name_masked"] == "梁*婆"
    assert body["city_code"] == "440100"  # the requester's city when none is given
    assert body["address_masked"] == "东风中路****"
    detail = client.get(
        f"/staff/v1/doorstep-requests/{body['id']}", headers=branch.headers
    ).get_json()
    assert detail["channel"] == "mobile"
    assert detail["requester_name_masked"] == "梁*坚"


def test_an_aged_cardholder_asks_for_themselves_with_the_registered_phone(
    client, branch, make_cardholder
):
    headers = make_cardholder(birth="19400101", name="罗伯")
    response = client.post(
        BASE,
        json={"for_whom": "self", "district": "天河区", "address": "天河北路 55 号"},
        headers=headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["requested_by_kind"] == "self"
    assert body["reasons"] == ["age_80_plus"]
    detail = client.get(
        f"/staff/v1/doorstep-requests/{body['id']}", headers=branch.headers
    ).get_json()
    assert detail["contact_phone_masked"] == "137****0001"
    assert detail["person_id"] is not None


def test_a_young_cardholder_without_a_reason_is_not_eligible(app, client, cardholder):
    response = client.post(
        BASE,
        json={"for_whom": "self", "district": "天河区", "address": "天河北路 55 号"},
        headers=cardholder,
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "doorstep.not_eligible"
    assert count(app, DoorstepRequest) == 0


def test_a_family_request_needs_the_family_members_id_number_and_name(client, cardholder):
    for missing in ("subject_id_number", "subject_name"):
        body = family_body()
        body.pop(missing)
        response = client.post(BASE, json=body, headers=cardholder)
        assert response.status_code == 422
        assert response.get_json()["code"] == "request.validation_failed"


def test_a_second_open_request_from_another_family_member_is_refused(
    client, cardholder, make_cardholder
):
    assert client.post(BASE, json=family_body(), headers=cardholder).status_code == 201
    sibling = make_cardholder(name="梁志红")
    response = client.post(BASE, json=family_body(), headers=sibling)
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.already_requested"


def test_my_list_shows_only_my_requests(client, cardholder, make_cardholder):
    mine = client.post(BASE, json=family_body(), headers=cardholder).get_json()["id"]
    other = make_cardholder(name="陈小明")
    assert client.get(BASE, headers=other).get_json()["items"] == []
    assert [i["id"] for i in client.get(BASE, headers=cardholder).get_json()["items"]] == [mine]


def test_a_cardholder_cancels_their_own_request(client, cardholder):
    rid = client.post(BASE, json=family_body(), headers=cardholder).get_json()["id"]
    response = client.post(
        f"{BASE}/{rid}/cancel", json={"reason": "已到网点办理"}, headers=cardholder
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"


def test_a_cardholder_cannot_cancel_someone_elses_request(app, client, cardholder, make_cardholder):
    rid = client.post(BASE, json=family_body(), headers=cardholder).get_json()["id"]
    other = make_cardholder(name="陈小明")
    response = client.post(f"{BASE}/{rid}/cancel", json={"reason": "不要了"}, headers=other)
    assert response.status_code == 404
    assert response.get_json()["code"] == "doorstep.not_found"
    assert count(app, DoorstepRequest, DoorstepRequest.status == "requested") == 1


def test_a_staff_recorded_request_is_not_the_cardholders_to_cancel(client, cardholder, request_id):
    response = client.post(
        f"{BASE}/{request_id}/cancel", json={"reason": "不要了"}, headers=cardholder
    )
    assert response.get_json()["code"] == "doorstep.not_found"


def test_a_cardholder_may_cancel_an_assigned_request_but_not_after_the_visit(
    client, branch, cardholder, assign
):
    rid = client.post(BASE, json=family_body(), headers=cardholder).get_json()["id"]
    assert assign(rid).status_code == 200
    visited = client.post(
        f"/staff/v1/doorstep-requests/{rid}/visits",
        json={"outcome": "completed"},
        headers=branch.headers,
    )
    assert visited.status_code == 201
    response = client.post(f"{BASE}/{rid}/cancel", json={"reason": "不要了"}, headers=cardholder)
    assert response.status_code == 409
    assert response.get_json()["code"] == "doorstep.invalid_transition"


def test_my_list_shows_the_planned_window_once_assigned(client, cardholder, assign):
    rid = client.post(BASE, json=family_body(), headers=cardholder).get_json()["id"]
    assert assign(rid).status_code == 200
    item = client.get(BASE, headers=cardholder).get_json()["items"][0]
    assert item["status"] == "assigned"
    assert item["planned_from"].endswith("+08:00")

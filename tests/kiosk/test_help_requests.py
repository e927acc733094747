"""Call staff: a kiosk raises a help request with a short daily ticket; staff of the terminal's
city list, claim and resolve it."""

from __future__ import annotations

from server.kiosk.models import HelpRequest
from tests.kiosk.conftest import code_of, count, get, post


def raise_help(client, kiosk, topic="activation_locked", note=None) -> dict:
    body = {"topic": topic} if note is None else {"topic": topic, "note": note}
    response = post(client, kiosk, "/help-requests", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_help_request_goes_from_open_to_claimed_to_resolved(app, client, kiosk, branch):
    made = raise_help(client, kiosk)
    assert made["ticket"] == "A001" and made["status"] == "open"
    assert raise_help(client, kiosk, "other", "屏幕看不清")["ticket"] == "A002"

    listed = client.get("/staff/v1/help-requests?status=open", headers=branch.headers).get_json()
    assert [r["ticket"] for r in listed["items"]] == ["A001", "A002"]

    claimed = client.post(f"/staff/v1/help-requests/{made['id']}/claim", headers=branch.headers)
    assert claimed.status_code == 200, claimed.get_json()
    assert claimed.get_json()["status"] == "claimed"
    seen = get(client, kiosk, f"/help-requests/{made['id']}").get_json()
    assert seen["status"] == "claimed" and seen["claimed_by_name"] == "测试 branch_staff"

    resolved = client.post(
        f"/staff/v1/help-requests/{made['id']}/resolve",
        json={"outcome": "已在柜台激活"},
        headers=branch.headers,
    )
    assert resolved.status_code == 200
    assert resolved.get_json()["status"] == "resolved"
    assert get(client, kiosk, f"/help-requests/{made['id']}").get_json()["status"] == "resolved"

    again = client.post(
        f"/staff/v1/help-requests/{made['id']}/resolve",
        json={"outcome": "x"},
        headers=branch.headers,
    )
    assert code_of(again) == "help.closed"
    late = client.post(f"/staff/v1/help-requests/{made['id']}/claim", headers=branch.headers)
    assert code_of(late) == "help.closed"


def test_a_claimed_request_cannot_be_claimed_again(client, kiosk, branch, make_staff):
    made = raise_help(client, kiosk)
    other = make_staff("branch_staff", "440100")
    first = client.post(f"/staff/v1/help-requests/{made['id']}/claim", headers=branch.headers)
    assert first.status_code == 200
    response = client.post(f"/staff/v1/help-requests/{made['id']}/claim", headers=other.headers)
    assert response.status_code == 409
    assert code_of(response) == "help.already_claimed"


def test_staff_of_another_city_neither_see_nor_claim_it(client, kiosk, make_staff):
    made = raise_help(client, kiosk)
    foshan = make_staff("branch_staff", "440600")
    listed = client.get("/staff/v1/help-requests", headers=foshan.headers).get_json()
    assert listed["items"] == []
    response = client.post(f"/staff/v1/help-requests/{made['id']}/claim", headers=foshan.headers)
    assert response.status_code == 403
    assert code_of(response) == "auth.out_of_scope"


def test_tickets_count_per_terminal(client, kiosk, make_kiosk):
    other = make_kiosk()
    assert raise_help(client, kiosk)["ticket"] == "A001"
    assert raise_help(client, other)["ticket"] == "A001"
    assert raise_help(client, kiosk)["ticket"] == "A002"


def test_a_terminal_sees_only_its_own_requests(client, kiosk, make_kiosk):
    made = raise_help(client, kiosk)
    response = get(client, make_kiosk(), f"/help-requests/{made['id']}")
    assert response.status_code == 404
    assert code_of(response) == "help.not_found"


def test_a_note_with_a_phone_or_id_number_is_refused(app, client, kiosk):
    for note in ("电话 138 1234 5678", "身份证 44010619900101123X"):
        response = post(client, kiosk, "/help-requests", {"topic": "other", "note": note})
        assert response.status_code == 422
        assert code_of(response) == "request.validation_failed"
    assert count(app, HelpRequest) == 0


def test_an_unknown_topic_is_refused(client, kiosk):
    response = post(client, kiosk, "/help-requests", {"topic": "coffee"})
    assert code_of(response) == "request.validation_failed"

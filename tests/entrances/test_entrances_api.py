"""Staff register entrances and attach terminals."""

from __future__ import annotations

from tests.entrances.conftest import ALL_DAY
from tests.kiosk.conftest import code_of

BODY = {
    "code": "GDMUSEUM-MAIN",
    "kind": "museum",
    "name_zh": "广东省博物馆 主入口",
    "name_en": "Guangdong Museum, main entrance",
    "city_code": "440100",
    "opening_hours": {"weekly": {"tue": "09:00-17:00", "sun": "09:00-17:00"}},
}


def test_a_city_admin_registers_an_entrance_and_attaches_a_kiosk(client, city_admin, branch, kiosk):
    response = client.post("/staff/v1/entrances", json=BODY, headers=city_admin.headers)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["opening_hours"]["weekly"]["mon"] is None
    assert made["opening_hours"]["weekly"]["tue"] == "09:00-17:00"
    attached = client.post(
        f"/staff/v1/entrances/{made['id']}/terminals",
        json={"terminal_code": kiosk.code},
        headers=city_admin.headers,
    )
    assert attached.status_code == 200
    assert attached.get_json()["terminals"] == [kiosk.code]
    listed = client.get("/staff/v1/entrances", headers=branch.headers).get_json()["items"]
    assert [(e["code"], e["terminals"]) for e in listed] == [("GDMUSEUM-MAIN", [kiosk.code])]


def test_branch_staff_may_list_but_not_register(client, branch):
    response = client.post("/staff/v1/entrances", json=BODY, headers=branch.headers)
    assert code_of(response) == "auth.forbidden"


def test_a_code_is_registered_once(client, city_admin):
    client.post("/staff/v1/entrances", json=BODY, headers=city_admin.headers)
    again = client.post("/staff/v1/entrances", json=BODY, headers=city_admin.headers)
    assert again.status_code == 409
    assert code_of(again) == "entrance.code_taken"


def test_bad_opening_hours_are_refused(client, city_admin):
    for weekly in ({"mon": "17:00-09:00"}, {"mon": "25:00-26:00"}):
        body = dict(BODY, opening_hours={"weekly": weekly})
        response = client.post("/staff/v1/entrances", json=body, headers=city_admin.headers)
        assert response.status_code == 422
    body = dict(BODY, opening_hours={"weekly": ALL_DAY, "closed_dates": ["2026-02-30"]})
    response = client.post("/staff/v1/entrances", json=body, headers=city_admin.headers)
    assert code_of(response) == "request.validation_failed"
    assert client.get("/staff/v1/entrances", headers=city_admin.headers).get_json()["items"] == []


def test_another_citys_admin_cannot_register_or_attach(client, make_staff, city_admin, kiosk):
    foshan = make_staff("city_admin", "440600")
    assert code_of(client.post("/staff/v1/entrances", json=BODY, headers=foshan.headers)) == (
        "auth.out_of_scope"
    )
    made = client.post("/staff/v1/entrances", json=BODY, headers=city_admin.headers).get_json()
    response = client.post(
        f"/staff/v1/entrances/{made['id']}/terminals",
        json={"terminal_code": kiosk.code},
        headers=foshan.headers,
    )
    assert code_of(response) == "auth.out_of_scope"


def test_attaching_an_unknown_terminal_is_refused(client, city_admin):
    made = client.post("/staff/v1/entrances", json=BODY, headers=city_admin.headers).get_json()
    response = client.post(
        f"/staff/v1/entrances/{made['id']}/terminals",
        json={"terminal_code": "NOPE-1"},
        headers=city_admin.headers,
    )
    assert code_of(response) == "terminal.not_found"

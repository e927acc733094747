"""Operating an entrance: rename it, change its hours, suspend it for works (the gate says why)
and reopen it, detach a terminal; every change audited and kept within the admin's city."""

from __future__ import annotations

import json

from sqlalchemy import select

from server.extensions import db
from server.security.models import AuditEvent
from tests.entrances.conftest import ALL_DAY
from tests.entrances.test_entries import enter, records
from tests.kiosk.conftest import code_of


def audit_of(app, entrance_id: int) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.object_type == "entrance")
            .where(AuditEvent.object_id == str(entrance_id))
            .order_by(AuditEvent.seq)
        ).all()
        db.session.remove()
    return [(action, json.loads(detail)) for action, detail in rows]


def patch(client, staff, entrance_id, body):
    return client.patch(f"/staff/v1/entrances/{entrance_id}", json=body, headers=staff.headers)


def test_names_and_opening_hours_change_and_are_audited(app, client, city_admin, make_entrance):
    entrance_id = make_entrance()
    body = {
        "name_zh": "广东省博物馆 东门",
        "opening_hours": {"weekly": {"tue": "09:00-17:00"}, "closed_dates": ["2026-12-31"]},
    }
    response = patch(client, city_admin, entrance_id, body)
    assert response.status_code == 200, response.get_json()
    made = response.get_json()
    assert made["name_zh"] == "广东省博物馆 东门"
    assert made["name_en"] == "Guangdong Museum, main entrance"  # not given: unchanged
    assert made["opening_hours"]["weekly"]["mon"] is None
    assert made["opening_hours"]["weekly"]["tue"] == "09:00-17:00"
    assert made["opening_hours"]["closed_dates"] == ["2026-12-31"]
    assert made["status"] == "open" and made["updated_at"] is not None
    action, detail = audit_of(app, entrance_id)[-1]
    assert action == "entrance.updated"
    assert detail["fields"] == ["name_zh", "opening_hours"]
    # The same values again change nothing and add no audit event.
    assert patch(client, city_admin, entrance_id, body).status_code == 200
    assert [a for a, _ in audit_of(app, entrance_id)].count("entrance.updated") == 1


def test_bad_changes_are_refused_and_nothing_is_written(client, city_admin, make_entrance):
    entrance_id = make_entrance()
    cases = [
        {},
        {"opening_hours": {"weekly": {"mon": "17:00-09:00"}}},
        {"status": "closed"},
        {"status": "suspended"},  # a reason is required
        {"status": "suspended", "reason": "请联系 13800138000"},  # no personal numbers
        {"name_zh": ""},
        {"code": "OTHER-CODE"},  # the code is the gate's identity: not editable
    ]
    for body in cases:
        response = patch(client, city_admin, entrance_id, body)
        assert response.status_code == 422, (body, response.get_json())
        assert code_of(response) == "request.validation_failed"
    missing = patch(client, city_admin, entrance_id, {"status": "suspended"}).get_json()
    assert missing["errors"] == [{"field": "body.reason", "code": "missing"}]
    listed = client.get("/staff/v1/entrances", headers=city_admin.headers).get_json()["items"]
    assert [(e["status"], e["status_reason"], e["updated_at"]) for e in listed] == [
        ("open", None, None)
    ]
    assert code_of(patch(client, city_admin, 999999, {"name_zh": "x"})) == "entrance.not_found"


def test_a_suspended_entrance_denies_entry_with_its_reason_until_reopened(
    app, client, city_admin, kiosk, make_card, make_entrance
):
    entrance_id = make_entrance(terminals=[kiosk])
    holder = make_card("active")
    reason = "闭馆施工，预计 3 月 20 日恢复开放"
    response = patch(client, city_admin, entrance_id, {"status": "suspended", "reason": reason})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["status_reason"]) == ("suspended", reason)
    assert body["status_changed_at"] is not None

    denied = enter(client, kiosk, holder)
    assert denied.status_code == 409
    problem = denied.get_json()
    assert problem["code"] == "entry.closed"
    assert problem["entrance_status"] == "suspended"
    assert problem["reason"] == reason
    assert "opens_at" not in problem
    assert [(r.decision, r.code) for r in records(app)] == [("denied", "entry.closed")]

    # Renaming a suspended entrance keeps it suspended with its reason.
    kept = patch(client, city_admin, entrance_id, {"name_en": "Guangdong Museum, east gate"})
    assert (kept.get_json()["status"], kept.get_json()["status_reason"]) == ("suspended", reason)

    reopened = patch(client, city_admin, entrance_id, {"status": "open", "reason": "施工结束"})
    assert reopened.status_code == 200
    assert (reopened.get_json()["status"], reopened.get_json()["status_reason"]) == ("open", None)
    assert enter(client, kiosk, holder).status_code == 201

    changes = [d for a, d in audit_of(app, entrance_id) if a == "entrance.updated"]
    assert [(d.get("status"), d.get("reason")) for d in changes] == [
        ("suspended", reason),
        (None, None),
        ("open", "施工结束"),
    ]
    assert changes[0]["fields"] == ["status", "status_reason"]


def test_a_terminal_is_detached_and_then_refused_at_that_entrance(
    app, client, city_admin, kiosk, make_kiosk, make_card, make_entrance
):
    other = make_kiosk()
    entrance_id = make_entrance(terminals=[kiosk, other])
    holder = make_card("active")
    listed = client.get("/staff/v1/entrances", headers=city_admin.headers).get_json()["items"][0]
    assert {t["code"]: t["id"] for t in listed["attached_terminals"]} == {
        kiosk.code: kiosk.id,
        other.code: other.id,
    }

    url = f"/staff/v1/entrances/{entrance_id}/terminals/{kiosk.id}"
    response = client.delete(url, headers=city_admin.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["terminals"] == [other.code]
    refused = enter(client, kiosk, holder)
    assert code_of(refused) == "entry.terminal_not_at_entrance"
    assert enter(client, other, holder).status_code == 201

    again = client.delete(url, headers=city_admin.headers)
    assert (again.status_code, code_of(again)) == (404, "entrance.terminal_not_attached")
    unknown = client.delete(
        f"/staff/v1/entrances/{entrance_id}/terminals/999999", headers=city_admin.headers
    )
    assert code_of(unknown) == "entrance.terminal_not_attached"
    assert (
        code_of(
            client.delete(
                f"/staff/v1/entrances/999999/terminals/{other.id}", headers=city_admin.headers
            )
        )
        == "entrance.not_found"
    )
    detached = [d for a, d in audit_of(app, entrance_id) if a == "entrance.terminal_detached"]
    assert detached == [{"terminal": kiosk.code}]


def test_another_citys_admin_can_neither_change_nor_detach(
    client, make_staff, city_admin, kiosk, make_entrance
):
    entrance_id = make_entrance(terminals=[kiosk])
    foshan = make_staff("city_admin", "440600")
    response = patch(client, foshan, entrance_id, {"status": "suspended", "reason": "施工"})
    assert (response.status_code, code_of(response)) == (403, "auth.out_of_scope")
    response = client.delete(
        f"/staff/v1/entrances/{entrance_id}/terminals/{kiosk.id}", headers=foshan.headers
    )
    assert code_of(response) == "auth.out_of_scope"
    listed = client.get("/staff/v1/entrances", headers=city_admin.headers).get_json()["items"]
    assert [(e["status"], e["terminals"]) for e in listed] == [("open", [kiosk.code])]


def test_a_province_wide_admin_may_change_any_city(client, make_staff, make_entrance):
    entrance_id = make_entrance()
    admin = make_staff("system_admin")
    body = {"opening_hours": {"weekly": ALL_DAY}, "name_en": "Main entrance"}
    response = patch(client, admin, entrance_id, body)
    assert response.status_code == 200
    assert response.get_json()["name_en"] == "Main entrance"

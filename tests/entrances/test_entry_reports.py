"""Entry records of an entrance for staff: one Asia/Shanghai day, filtered by decision, paged,
the holder's masked name only for staff who may read persons; and the per-day summary by code
for the monthly pilot report."""

from __future__ import annotations

from datetime import UTC, date, datetime

from server.clock import SHANGHAI, local_date, utcnow
from server.entrances.models import EntryRecord
from server.entrances.rules import days_between, local_day_bounds, summary_range_problems
from server.extensions import db
from tests.entrances.test_entries import enter
from tests.kiosk.conftest import code_of


def add_records(app, entrance_id, terminal_id, rows) -> None:
    """``rows``: (UTC datetime, decision code or None for allowed, card id or None)."""
    with app.app_context():
        for at, code, card_id in rows:
            db.session.add(
                EntryRecord(
                    entrance_id=entrance_id,
                    terminal_id=terminal_id,
                    card_id=card_id,
                    medium="card",
                    decision="allowed" if code is None else "denied",
                    code=code,
                    at=at,
                )
            )
        db.session.commit()
        db.session.remove()


def entries(client, staff, entrance_id, **params):
    return client.get(
        f"/staff/v1/entrances/{entrance_id}/entries", query_string=params, headers=staff.headers
    )


def test_todays_entries_with_masked_names_and_no_id_numbers(
    client, branch, kiosk, make_card, make_entrance
):
    entrance_id = make_entrance(terminals=[kiosk])
    active, lost = make_card("active"), make_card("suspended", name="陈大文")
    assert enter(client, kiosk, active).status_code == 201
    assert enter(client, kiosk, lost).status_code == 409
    response = entries(client, branch, entrance_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["entrance_code"] == "GDMUSEUM-MAIN"
    assert body["date"] == local_date(utcnow()).isoformat()
    assert [
        (e["decision"], e["code"], e["medium"], e["terminal_code"], e["holder_masked_name"])
        for e in body["items"]
    ] == [
        ("allowed", None, "card", kiosk.code, "王*芳"),
        ("denied", "card.not_active", "card", kiosk.code, "陈*文"),  # a genuine card, refused
    ]
    assert body["items"][0]["local_time"].endswith("+08:00")
    assert body["has_more"] is False
    text = response.get_data(as_text=True)
    for secret in (active.id_number, lost.id_number, "王秀芳", "陈大文"):
        assert secret not in text

    denied = entries(client, branch, entrance_id, decision="denied").get_json()["items"]
    assert [e["code"] for e in denied] == ["card.not_active"]


def test_the_holder_name_only_for_staff_who_may_read_persons(
    client, make_staff, kiosk, make_card, make_entrance
):
    entrance_id = make_entrance(terminals=[kiosk])
    assert enter(client, kiosk, make_card("active")).status_code == 201
    names = {}
    for role in ("auditor", "system_admin", "city_admin"):
        items = entries(client, make_staff(role), entrance_id).get_json()["items"]
        names[role] = [e["holder_masked_name"] for e in items]
    assert names == {"auditor": ["王*芳"], "system_admin": [None], "city_admin": ["王*芳"]}


def test_a_day_is_the_shanghai_calendar_day(app, client, branch, kiosk, make_entrance):
    entrance_id = make_entrance(terminals=[kiosk])
    add_records(
        app,
        entrance_id,
        kiosk.id,
        [
            (datetime(2026, 3, 9, 15, 59, 59, tzinfo=UTC), None, None),  # 3-9 23:59:59 Shanghai
            (datetime(2026, 3, 9, 16, 0, 0, tzinfo=UTC), None, None),  # 3-10 00:00:00 Shanghai
            (datetime(2026, 3, 10, 15, 59, 0, tzinfo=UTC), "entry.closed", None),
            (datetime(2026, 3, 10, 16, 0, 0, tzinfo=UTC), None, None),  # 3-11
        ],
    )
    body = entries(client, branch, entrance_id, date="2026-03-10").get_json()
    assert [e["local_time"] for e in body["items"]] == [
        "2026-03-10T00:00:00+08:00",
        "2026-03-10T23:59:00+08:00",
    ]
    assert body["items"][1]["holder_masked_name"] is None  # no card behind the denial
    page1 = entries(client, branch, entrance_id, date="2026-03-10", per_page=1).get_json()
    page2 = entries(client, branch, entrance_id, date="2026-03-10", per_page=1, page=2).get_json()
    assert (len(page1["items"]), page1["has_more"]) == (1, True)
    assert (len(page2["items"]), page2["has_more"]) == (1, False)
    assert page1["items"][0]["id"] != page2["items"][0]["id"]
    assert entries(client, branch, entrance_id, date="2026-03-08").get_json()["items"] == []


def test_bad_queries_and_scope(client, branch, make_staff, make_entrance):
    entrance_id = make_entrance()
    for params in ({"date": "2026-02-30"}, {"decision": "maybe"}, {"page": "0"}):
        response = entries(client, branch, entrance_id, **params)
        assert (response.status_code, code_of(response)) == (422, "request.validation_failed")
    assert code_of(entries(client, branch, 999999)) == "entrance.not_found"
    foshan = make_staff("branch_staff", "440600")
    assert code_of(entries(client, foshan, entrance_id)) == "auth.out_of_scope"
    summary = client.get(
        f"/staff/v1/entrances/{entrance_id}/entries/summary?from=2026-03-01&to=2026-03-31",
        headers=foshan.headers,
    )
    assert code_of(summary) == "auth.out_of_scope"


def summary(client, staff, entrance_id, first, last):
    return client.get(
        f"/staff/v1/entrances/{entrance_id}/entries/summary",
        query_string={"from": first, "to": last},
        headers=staff.headers,
    )


def test_the_summary_counts_each_shanghai_day_with_denials_by_code(
    app, client, make_staff, kiosk, make_entrance
):
    entrance_id = make_entrance(terminals=[kiosk])
    other_entrance = make_entrance("GZLIB-MAIN", "library", terminals=[kiosk])
    add_records(
        app,
        entrance_id,
        kiosk.id,
        [
            (datetime(2026, 2, 28, 16, 0, tzinfo=UTC), None, None),  # 3-1 00:00
            (datetime(2026, 3, 1, 2, 0, tzinfo=UTC), None, None),
            (datetime(2026, 3, 1, 3, 0, tzinfo=UTC), "card.not_active", None),
            (datetime(2026, 3, 1, 4, 0, tzinfo=UTC), "card.not_active", None),
            (datetime(2026, 3, 1, 5, 0, tzinfo=UTC), "chip.bad_mac", None),
            (datetime(2026, 3, 3, 15, 59, tzinfo=UTC), "entry.closed", None),  # 3-3 23:59
            (datetime(2026, 3, 3, 16, 0, tzinfo=UTC), None, None),  # 3-4: outside the range
            (datetime(2026, 2, 28, 15, 59, tzinfo=UTC), None, None),  # 2-28: outside
        ],
    )
    add_records(
        app, other_entrance, kiosk.id, [(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), None, None)]
    )
    auditor = make_staff("auditor")
    response = summary(client, auditor, entrance_id, "2026-03-01", "2026-03-03")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["entrance_code"], body["from"], body["to"]) == (
        "GDMUSEUM-MAIN",
        "2026-03-01",
        "2026-03-03",
    )
    assert body["days"] == [
        {
            "date": "2026-03-01",
            "allowed": 2,
            "denied": 3,
            "denied_by_code": {"card.not_active": 2, "chip.bad_mac": 1},
        },
        {"date": "2026-03-02", "allowed": 0, "denied": 0, "denied_by_code": {}},
        {"date": "2026-03-03", "allowed": 0, "denied": 1, "denied_by_code": {"entry.closed": 1}},
    ]
    assert (body["allowed"], body["denied"]) == (2, 4)
    assert body["denied_by_code"] == {"card.not_active": 2, "chip.bad_mac": 1, "entry.closed": 1}


def test_a_live_entry_shows_in_todays_summary(client, branch, kiosk, make_card, make_entrance):
    entrance_id = make_entrance(terminals=[kiosk])
    assert enter(client, kiosk, make_card("active")).status_code == 201
    today = local_date(utcnow()).isoformat()
    body = summary(client, branch, entrance_id, today, today).get_json()
    assert [(d["date"], d["allowed"], d["denied"]) for d in body["days"]] == [(today, 1, 0)]


def test_summary_ranges_are_checked(client, branch, make_entrance):
    entrance_id = make_entrance()
    backwards = summary(client, branch, entrance_id, "2026-03-10", "2026-03-01")
    assert (backwards.status_code, code_of(backwards)) == (422, "request.validation_failed")
    assert backwards.get_json()["errors"] == [{"field": "query.to", "code": "to_before_from"}]
    too_long = summary(client, branch, entrance_id, "2026-01-01", "2026-04-30")
    assert too_long.get_json()["errors"] == [{"field": "query.to", "code": "too_long"}]
    missing = client.get(
        f"/staff/v1/entrances/{entrance_id}/entries/summary?to=2026-03-01", headers=branch.headers
    )
    assert code_of(missing) == "request.validation_failed"
    quarter = summary(client, branch, entrance_id, "2026-01-01", "2026-04-02")  # 92 days
    assert quarter.status_code == 200
    assert len(quarter.get_json()["days"]) == 92


def test_day_rules():
    start, end = local_day_bounds(date(2026, 3, 10), SHANGHAI)
    assert (start, end) == (
        datetime(2026, 3, 9, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
    )
    assert days_between(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert summary_range_problems(date(2026, 3, 1), date(2026, 3, 1)) == []
    assert summary_range_problems(date(2026, 3, 2), date(2026, 3, 1)) == ["to_before_from"]
    assert summary_range_problems(date(2026, 1, 1), date(2026, 4, 3)) == ["too_long"]

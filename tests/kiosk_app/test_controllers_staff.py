"""The staff controller: sign-in, on-site issuance, loss and replacement, door-to-door list."""

from __future__ import annotations

import pytest

from kiosk_app.controllers import staff as st
from kiosk_app.controllers.card import CardSession
from kiosk_app.controllers.staff import StaffController
from tests.kiosk_app._fakes import (
    UNREACHABLE,
    FakeApi,
    api_error,
    card_out,
    make_card,
    person_out,
    reader_with,
)


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def blank():
    return make_card("K00000001")


@pytest.fixture
def staff(api, blank):
    controller = StaffController(api, CardSession(reader_with(blank)), "440100")
    controller.sign_in("gz.branch", "pw", "123456")
    return controller


def test_sign_in_reaches_the_menu(staff):
    assert staff.step == st.MENU and staff.display_name == "广州网点 黄敏"


def test_wrong_totp_stays_signed_out(api):
    api.fail["staff_sign_in"] = api_error("auth.totp_incorrect", 401)
    controller = StaffController(api, CardSession(reader_with()), "440100")
    controller.sign_in("gz.branch", "pw", "000000")
    assert controller.step == st.SIGNED_OUT and controller.notice.code == "auth.totp_incorrect"


def test_a_malformed_totp_is_not_sent(api):
    controller = StaffController(api, CardSession(reader_with()), "440100")
    controller.sign_in("gz.branch", "pw", "12ab")
    assert controller.notice.code == "auth.totp_incorrect" and api.calls == []


def test_issue_on_site_find_apply_read_blank_write_pin_activate(api, staff, blank):
    api.answers["find_person"] = person_out()
    staff.begin("issue")
    staff.find("440106194001011234")
    assert staff.step == st.PERSON
    staff.apply()
    assert staff.step == st.BLANK
    staff.read_blank()
    assert ("issue_on_site", (11, "K00000001")) in api.calls
    assert blank.holder == {"name": "陈伯", "city": "440100"}
    assert staff.step == st.PIN
    for key in "258036":
        staff.press(key)
    staff.confirm()
    for key in "258036":
        staff.press(key)
    staff.confirm()
    assert staff.step == st.DONE and ("activate_card", (11, "258036")) in api.calls


def test_not_found_offers_registration(api, staff):
    api.fail["find_person"] = api_error("person.not_found", 404)
    api.answers["register_person"] = person_out()
    staff.begin("issue")
    staff.find("440106194001011234")
    assert staff.not_found and staff.step == st.FIND
    staff.register("440106194001011234", "陈伯")
    assert staff.step == st.PERSON
    assert api.calls[-1] == ("register_person", ("440106194001011234", "陈伯", "440100", None))


def test_one_person_one_card_is_refused_in_words(api, staff):
    api.answers["find_person"] = person_out([card_out(3, "active", "A10000003")])
    api.fail["apply_card"] = api_error("card.one_person_one_card")
    staff.begin("issue")
    staff.find("440106194001011234")
    staff.apply()
    assert staff.step == st.PERSON and staff.notice.code == "card.one_person_one_card"


def test_a_personalised_card_is_not_taken_for_a_blank(api):
    used = make_card("K00000002", holder={"name": "x", "city": "440100"})
    api.answers["find_person"] = person_out()
    controller = StaffController(api, CardSession(reader_with(used)), "440100")
    controller.sign_in("u", "p", "123456")
    controller.begin("issue")
    controller.find("1")
    controller.apply()
    controller.read_blank()
    assert controller.notice.code == "card.blank_not_blank" and controller.step == st.BLANK
    assert "issue_on_site" not in api.names()


def test_loss_then_replacement_goes_to_a_blank_card(api, staff):
    active = person_out([card_out(3, "active", "A10000003")])
    api.answers["find_person"] = active
    api.answers["get_person"] = person_out([card_out(3, "suspended", "A10000003")])
    staff.begin("lost")
    staff.find("440106194001011234")
    staff.report_loss()
    assert staff.reported and staff.lost_card["state"] == "suspended"
    staff.replace()
    assert staff.step == st.BLANK and staff.card_out["id"] == 12
    assert api.names()[-1] == "replace_card"


def test_doorstep_list_and_missing_endpoint(api, staff):
    api.answers["doorstep_requests"] = {"items": [{"id": 1, "status": "open"}]}
    staff.begin("doorstep")
    assert staff.doorstep_items == [{"id": 1, "status": "open"}] and staff.doorstep_available
    api.fail["doorstep_requests"] = api_error("request.not_found", 404)
    staff.begin("doorstep")
    assert not staff.doorstep_available and staff.notice is None


DOORSTEP_ITEM = {
    "id": 1,
    "name_masked": "陈*",
    "age": 86,
    "district": "越秀区",
    "status": "assigned",
    "status_name": "待上门 Assigned",
    "planned_from": "2026-11-30T09:30:00+08:00",
    "planned_to": "2026-11-30T03:30:00Z",
    "assigned_to_name": "广州网点 黄敏",
}


def test_doorstep_lines_show_the_visit_in_shanghai_time_in_one_language(api, staff):
    api.answers["doorstep_requests"] = {"items": [DOORSTEP_ITEM], "page": 1, "next_page": None}
    staff.begin("doorstep")
    [zh] = [line.replace(st.NBSP, " ") for line in staff.doorstep_lines("zh")]
    [en] = [line.replace(st.NBSP, " ") for line in staff.doorstep_lines("en")]
    assert "11月30日 09:30–11:30" in zh and "30 Nov 09:30–11:30" in en
    assert "待上门" in zh and "Assigned" not in zh
    assert "Assigned" in en and "待上门" not in en
    assert "86岁" in zh and "aged 86" in en and "岁" not in en
    assert "T09:30" not in zh + en and "+08:00" not in zh + en


def test_a_doorstep_line_keeps_each_part_whole_when_it_wraps(api, staff):
    api.answers["doorstep_requests"] = {"items": [DOORSTEP_ITEM]}
    staff.begin("doorstep")
    [zh] = staff.doorstep_lines("zh")
    parts = zh.split("  ")  # the parts are split by two plain spaces; none inside a part
    assert all(" " not in part for part in parts)
    assert f"11月30日{st.NBSP}09:30–11:30" in zh


@pytest.mark.parametrize(
    ("status", "status_name", "zh", "en"),
    [
        ("requested", "待派单 Requested", "待派单", "Requested"),
        ("visited", "已上门，待确认卡片 Visited, card to confirm", "已上门", "Visited"),
        ("paused", "暂缓 On hold", "暂缓", "On hold"),  # unknown: the server's name, split
    ],
)
def test_doorstep_status_is_named_in_the_screen_language(api, staff, status, status_name, zh, en):
    item = {"id": 2, "status": status, "status_name": status_name}
    api.answers["doorstep_requests"] = {"items": [item]}
    staff.begin("doorstep")
    [zh_line], [en_line] = staff.doorstep_lines("zh"), staff.doorstep_lines("en")
    assert zh in zh_line and en not in zh_line
    assert en.replace(" ", st.NBSP) in en_line and zh not in en_line


def test_server_down_while_finding(api, staff):
    api.fail["find_person"] = UNREACHABLE
    staff.begin("issue")
    staff.find("440106194001011234")
    assert staff.notice.code == "server.unreachable"


def test_clear_ends_the_staff_session_and_forgets_the_person(api, staff):
    api.answers["find_person"] = person_out()
    staff.begin("issue")
    staff.find("440106194001011234")
    staff.clear()
    assert staff.step == st.SIGNED_OUT and staff.person is None and staff.display_name == ""
    assert api.names()[-1] == "staff_sign_out" and not api.staff_signed_in

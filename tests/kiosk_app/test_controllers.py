"""Controllers without a window: a scripted API, the emulated reader and card."""

from __future__ import annotations

import pytest

from kiosk_app.controllers import activation as act
from kiosk_app.controllers.activation import ActivationController
from kiosk_app.controllers.card import CardSession
from kiosk_app.controllers.entry import RESULT, EntryController
from kiosk_app.controllers.help import HelpController
from kiosk_app.controllers.home import HomeController
from kiosk_app.controllers.idle import IdleController
from kiosk_app.texts import explain
from tests.kiosk_app._fakes import UNREACHABLE, FakeApi, api_error, make_card, reader_with


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def card():
    return make_card()


@pytest.fixture
def reader(card):
    return reader_with(card)


# --- entry -----------------------------------------------------------------------------------


def entry(api, reader):
    controller = EntryController(api, CardSession(reader), "GDMUSEUM-MAIN")
    controller.start()
    return controller


def test_a_placed_card_is_answered_with_the_servers_challenge_and_entry_allowed(api, reader, card):
    controller = entry(api, reader)
    controller.card_presence(True)
    assert controller.step == RESULT and controller.result.allowed
    assert controller.result.masked_name == "王*芳"
    assert controller.result.greeting("en").startswith("Good morning")
    name, (entrance, tap) = api.calls[-1]
    assert name == "enter" and entrance == "GDMUSEUM-MAIN"
    assert tap["serial"] == "A10000001" and tap["counter"] == card.counter == 1
    assert len(tap["mac"]) == 16 and tap["challenge_id"] in api.challenges


def test_a_card_left_on_the_reader_is_not_tapped_twice(api, reader):
    controller = entry(api, reader)
    controller.card_presence(True)
    controller.card_presence(True)
    assert api.names().count("enter") == 1
    controller.card_presence(False)
    controller.card_presence(True)
    assert api.names().count("enter") == 2


@pytest.mark.parametrize(
    ("code", "extra", "words"),
    [
        ("card.not_active", {"state": "sealed"}, "封存"),
        ("card.not_active", {"state": "suspended"}, "挂失"),
        ("card.not_active", {"state": "cancelled"}, "注销"),
        ("card.not_active", {"state": "replaced"}, "新卡"),
        ("chip.unknown_card", {}, "不是本系统"),
        ("chip.counter_replayed", {}, "复制"),
        ("entry.closed", {}, "开放时间"),
    ],
)
def test_a_denial_keeps_its_code_and_reads_as_plain_words(api, reader, code, extra, words):
    api.fail["enter"] = api_error(code, **extra)
    controller = entry(api, reader)
    controller.card_presence(True)
    result = controller.result
    assert not result.allowed and result.notice.code == code
    reason, todo = explain(result.notice.code, result.notice.extra, "zh")
    assert words in reason + todo
    assert code not in reason + todo and todo


def test_server_down_during_a_tap_says_so_and_offers_staff(api, reader):
    api.fail["card_challenge"] = UNREACHABLE
    controller = entry(api, reader)
    controller.card_presence(True)
    assert controller.result.notice.code == "server.unreachable"
    reason, todo = explain("server.unreachable", {}, "zh")
    assert "暂时连不上服务器" in reason and "工作人员" in todo


def test_a_card_taken_away_during_the_tap_is_a_device_notice(api):
    reader = reader_with(None)
    controller = entry(api, reader)
    controller.tap()
    assert controller.result.notice.code == "device.no_card"
    assert "enter" not in api.names()


def test_entry_clear_forgets_the_name(api, reader):
    controller = entry(api, reader)
    controller.card_presence(True)
    controller.clear()
    assert controller.result is None and controller.step == "waiting"


# --- activation --------------------------------------------------------------------------------


def activation(api, reader):
    controller = ActivationController(api, CardSession(reader))
    controller.start()
    controller.card_presence(True)
    return controller


def type_keys(controller, keys: str):
    for key in keys:
        controller.press(key)


def test_activation_goes_tap_identity_pin_twice_done(api, reader):
    controller = activation(api, reader)
    assert controller.step == act.IDENTITY and controller.masked_name == "李*华"
    type_keys(controller, "12345x")
    assert controller.entry == "12345X"
    controller.confirm()
    assert controller.step == act.PIN
    type_keys(controller, "258036")
    controller.confirm()
    assert controller.step == act.PIN_CONFIRM and controller.entry == ""
    type_keys(controller, "258036")
    controller.confirm()
    assert controller.step == act.DONE
    assert ("set_pin", ("a" * 32, "258036", "258036")) in api.calls
    assert controller._pin == "" and controller.activation_id is None


def test_keypad_takes_six_characters_and_x_only_for_identity(api, reader):
    controller = activation(api, reader)
    type_keys(controller, "1234567")
    assert controller.entry == "123456"
    controller.press("del")
    controller.press("X")
    assert controller.entry == "12345X"
    controller.confirm()
    controller.press("X")
    assert controller.entry == ""


def test_wrong_identity_shows_tries_left_and_stays(api, reader):
    api.fail["confirm_identity"] = api_error("activation.identity_mismatch", 422, tries_left=2)
    controller = activation(api, reader)
    type_keys(controller, "000000")
    controller.confirm()
    assert controller.step == act.IDENTITY and controller.tries_left == 2
    assert controller.notice.code == "activation.identity_mismatch"
    assert "2" in explain(controller.notice.code, controller.notice.extra, "zh")[1]


def test_third_wrong_identity_locks_and_says_call_staff(api, reader):
    api.fail["confirm_identity"] = api_error("card.pin_locked", 423)
    controller = activation(api, reader)
    type_keys(controller, "000000")
    controller.confirm()
    assert controller.step == act.FAILED and controller.notice.code == "card.pin_locked"
    assert "工作人员" in explain("card.pin_locked", {}, "zh")[1]


def test_pin_and_confirmation_differ_locally_nothing_sent(api, reader):
    controller = activation(api, reader)
    type_keys(controller, "12345X")
    controller.confirm()
    type_keys(controller, "258036")
    controller.confirm()
    type_keys(controller, "258037")
    controller.confirm()
    assert controller.step == act.PIN and controller.notice.code == "activation.pin_mismatch"
    assert "set_pin" not in api.names()


def test_weak_pin_is_explained_kindly_and_asked_again(api, reader):
    api.fail["set_pin"] = api_error("card.pin_weak", 422, problems=["sequence"])
    controller = activation(api, reader)
    type_keys(controller, "12345X")
    controller.confirm()
    for _ in range(2):
        type_keys(controller, "123456")
        controller.confirm()
    assert controller.step == act.PIN and controller.notice.code == "card.pin_weak"
    _reason, todo = explain("card.pin_weak", controller.notice.extra, "zh")
    assert "123456" in todo and "安全" in todo


@pytest.mark.parametrize(
    "code", ["activation.already_active", "activation.expired", "card.not_active"]
)
def test_activation_refusals_end_the_flow(api, reader, code):
    api.fail["start_activation"] = api_error(code, state="sealed")
    controller = ActivationController(api, CardSession(reader))
    controller.start()
    controller.card_presence(True)
    assert controller.step == act.FAILED and controller.notice.code == code


def test_server_down_mid_activation_is_said_plainly(api, reader):
    api.fail["set_pin"] = UNREACHABLE
    controller = activation(api, reader)
    type_keys(controller, "12345X")
    controller.confirm()
    for _ in range(2):
        type_keys(controller, "258036")
        controller.confirm()
    assert controller.step == act.FAILED and controller.notice.code == "server.unreachable"


def test_activation_clear_wipes_pin_and_id(api, reader):
    controller = activation(api, reader)
    type_keys(controller, "12345X")
    controller.confirm()
    type_keys(controller, "258036")
    controller.confirm()
    type_keys(controller, "25")
    controller.clear()
    assert (controller.entry, controller._pin, controller.masked_name) == ("", "", "")
    assert controller.activation_id is None and controller.step == act.TAP


def test_a_late_answer_after_clear_is_dropped(api, reader):
    class Deferred:
        def __init__(self):
            self.jobs = []

        def submit(self, work, done):
            self.jobs.append((work, done))

    runner = Deferred()
    controller = ActivationController(api, CardSession(reader), runner)
    controller.start()
    controller.card_presence(True)
    controller.clear()
    work, done = runner.jobs.pop()
    done(work(), None)
    assert controller.masked_name == "" and controller.step == act.TAP


# --- help --------------------------------------------------------------------------------------


def test_call_staff_raises_a_ticket_and_follows_it(api):
    controller = HelpController(api)
    controller.start("lost_or_replace")
    controller.call()
    assert controller.ticket == "A007" and ("request_help", ("lost_or_replace",)) in api.calls
    api.answers["help_status"] = {"status": "claimed", "claimed_by_name": "黄敏"}
    controller.poll()
    assert controller.status == "claimed" and controller.claimed_by == "黄敏"
    controller.call()
    assert api.names().count("request_help") == 1


def test_call_staff_with_the_server_down(api):
    api.fail["request_help"] = UNREACHABLE
    controller = HelpController(api)
    controller.start()
    controller.call()
    assert controller.notice.code == "server.unreachable" and controller.ticket == ""


def raised(api) -> HelpController:
    controller = HelpController(api)
    controller.start()
    controller.call()
    assert controller.ticket == "A007" and controller.can_cancel
    return controller


def test_no_longer_needed_cancels_the_open_request_and_offers_call_again(api):
    controller = raised(api)
    controller.cancel()
    assert ("cancel_help", (7,)) in api.calls
    assert controller.status == "cancelled" and controller.ticket == ""
    assert controller.help_id is None and not controller.can_cancel
    controller.cancel()  # nothing left to cancel: not sent again
    assert api.names().count("cancel_help") == 1
    controller.call()  # needs help after all: a new request
    assert api.names().count("request_help") == 2 and controller.ticket == "A007"


def test_no_longer_needed_after_staff_claimed_it_says_they_are_coming(api):
    controller = raised(api)
    api.fail["cancel_help"] = api_error("help.already_claimed")
    controller.cancel()
    assert controller.status == "claimed" and controller.cancel_refused
    assert controller.notice is None and controller.ticket == "A007"
    assert not controller.can_cancel


def test_a_claimed_request_offers_no_cancel(api):
    controller = raised(api)
    api.answers["help_status"] = {"status": "claimed", "claimed_by_name": "黄敏"}
    controller.poll()
    assert not controller.can_cancel
    controller.cancel()
    assert "cancel_help" not in api.names()


def test_cancel_with_the_server_down_keeps_the_ticket_and_says_so(api):
    controller = raised(api)
    api.fail["cancel_help"] = UNREACHABLE
    controller.cancel()
    assert controller.notice.code == "server.unreachable"
    assert controller.ticket == "A007" and controller.can_cancel  # may try again


def test_going_home_leaves_an_open_request_open(api):
    controller = raised(api)
    controller.clear()  # Home, or the idle timeout
    assert "cancel_help" not in api.names()
    assert controller.ticket == "" and controller.help_id is None


@pytest.mark.parametrize(
    ("extra", "lang", "wanted", "unwanted"),
    [
        ({"entrance_status": "suspended", "reason": "地面施工"}, "zh", "暂时关闭了：地面施工", ""),
        ({"entrance_status": "suspended"}, "zh", "暂时关闭", "开放时间"),
        ({"entrance_status": "suspended", "reason": "Floor works."}, "en", ": Floor works.", ""),
        ({"entrance_status": "suspended", "reason": "地面施工"}, "en", "closed for now.", "地面"),
        ({"opens_at": "2026-12-01T09:00:00+08:00"}, "zh", "12月1日 09:00", "2026"),
        ({"opens_at": "2026-12-01T01:00:00Z"}, "en", "1 Dec 09:00", "2026"),
        ({}, "zh", "请在开放时间再来", ""),
    ],
)
def test_a_closed_entrance_is_said_in_plain_words(api, reader, extra, lang, wanted, unwanted):
    api.fail["enter"] = api_error("entry.closed", **extra)
    controller = entry(api, reader)
    controller.card_presence(True)
    notice = controller.result.notice
    assert notice.code == "entry.closed" and not controller.result.allowed
    reason, todo = explain(notice.code, notice.extra, lang)
    assert wanted in reason + todo
    assert not unwanted or unwanted not in reason + todo
    assert "entry.closed" not in reason + todo and "suspended" not in reason + todo


def test_a_suspended_entrance_points_to_another_entrance_not_to_opening_hours():
    reason, todo = explain("entry.closed", {"entrance_status": "suspended"}, "zh")
    assert "其他入口" in todo and "开放时间" not in reason + todo
    reason, todo = explain("entry.closed", {"entrance_status": "suspended"}, "en")
    assert "another entrance" in todo


# --- home --------------------------------------------------------------------------------------


def test_home_prepares_the_chosen_flow(api, reader):
    controllers = {
        "entry": EntryController(api, CardSession(reader), "X"),
        "activation": ActivationController(api, CardSession(reader)),
        "help": HelpController(api),
        "staff": type("S", (), {"signed_in": False, "clear": lambda self: None})(),
    }
    home = HomeController(controllers)
    assert home.choose("tap") == "entry"
    assert home.choose("lost") == "help" and controllers["help"].topic == "lost_or_replace"
    assert home.choose("staff") == "staff_signin"


# --- idle --------------------------------------------------------------------------------------


def test_idle_warns_from_45_s_with_a_countdown_and_clears_at_60():
    fired = []
    idle = IdleController(lambda: fired.append(True))
    idle.set_enabled(True, now=0.0)
    idle.tick(44.0)
    assert not idle.warning
    idle.tick(45.0)
    assert idle.warning and idle.seconds_left == 15
    idle.tick(55.5)
    assert idle.seconds_left == 5
    idle.tick(60.0)
    assert fired == [True] and not idle.warning and not idle.enabled


def test_keep_using_resets_the_countdown():
    fired = []
    idle = IdleController(lambda: fired.append(True))
    idle.set_enabled(True, now=0.0)
    idle.tick(50.0)
    idle.activity(50.0)
    assert not idle.warning
    idle.tick(94.0)
    assert not idle.warning and fired == []
    idle.tick(110.0)
    assert fired == [True]


def test_idle_does_nothing_on_home():
    fired = []
    idle = IdleController(lambda: fired.append(True))
    idle.set_enabled(False, now=0.0)
    idle.tick(1000.0)
    assert fired == []


def test_after_a_refused_card_another_card_starts_again(api, reader):
    api.fail["start_activation"] = [api_error("activation.already_active")]
    controller = ActivationController(api, CardSession(reader))
    controller.start()
    controller.card_presence(True)
    assert controller.step == act.FAILED
    controller.card_presence(True)
    assert api.names().count("start_activation") == 1
    controller.card_presence(False)
    controller.card_presence(True)
    assert controller.step == act.IDENTITY and controller.notice is None

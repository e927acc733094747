# ruff: noqa: F811  (pytest fixtures imported from tests/kiosk and tests/entrances)
"""The kiosk UI end to end: real widgets (offscreen GL), touches, the emulated reader, and a live
test server. SQLite only: these tests are about the screens, not the database."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from kiosk_app.api_client import KioskApi
from kiosk_app.config import KioskConfig
from kiosk_app.devices import EmulatedCard, EmulatedReader
from server.extensions import db
from server.registry.chip import diversify
from tests.conftest import STAFF_PASSWORD, valid_id
from tests.entrances.conftest import make_entrance  # noqa: F401
from tests.kiosk.conftest import make_card, make_kiosk, master  # noqa: F401
from tests.kiosk_app._ui import Kiosk, open_kiosk

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def terminal(make_kiosk, make_entrance):
    kiosk = make_kiosk()
    make_entrance("GDMUSEUM-MAIN", "museum", terminals=[kiosk])
    return kiosk


@pytest.fixture
def reader():
    return EmulatedReader()


@pytest.fixture
def ui(base_url, terminal, reader):
    config = KioskConfig(
        server=base_url,
        terminal_id=terminal.code,
        secret=terminal.secret,
        entrance="GDMUSEUM-MAIN",
        city="440100",
        entrance_zh="广东省博物馆 主入口",
    )
    kiosk = open_kiosk(config, KioskApi(base_url, terminal.code, terminal.secret), reader)
    yield kiosk
    kiosk.close()


def chip_of(holder, master) -> EmulatedCard:
    return EmulatedCard(holder.serial, diversify(master, holder.serial))


def place(ui: Kiosk, reader: EmulatedReader, card: EmulatedCard) -> None:
    """Take away what lies on the reader and put ``card`` down; the reader poll picks it up."""
    reader.remove()
    ui.app.poll_reader()
    reader.place(card)
    ui.app.poll_reader()
    ui.settle()


# --- museum entry --------------------------------------------------------------------------------


def test_entry_by_tap_allowed_then_a_sealed_card_denied(ui, reader, make_card, master):
    active = make_card("active", name="王秀芳")
    sealed = make_card("sealed", name="李桂英")
    ui.tap(ui.app.tr("home.tap"))
    assert ui.app.current == "entry" and "读卡区" in ui.visible_text()

    place(ui, reader, chip_of(active, master))
    step = ui.app.screens["entry"].step_widget
    assert type(step).__name__ == "EntryAllowed"
    assert "可以进入" in ui.visible_text() and "王*芳" in ui.visible_text()
    assert any(type(w).__name__ == "ResultIcon" and w.ok for w in ui.widgets())

    place(ui, reader, chip_of(sealed, master))
    text = ui.visible_text()
    assert "暂时不能进入" in text and "封存" in text and "card." not in text
    assert any(type(w).__name__ == "ResultIcon" and not w.ok for w in ui.widgets())


def test_a_cloned_card_is_refused_in_words(ui, reader, make_card, master):
    holder = make_card("active")
    original = chip_of(holder, master)
    clone = original.clone()
    ui.tap(ui.app.tr("home.tap"))
    place(ui, reader, original)
    assert "可以进入" in ui.visible_text()
    place(ui, reader, clone)
    assert "复制" in ui.visible_text()


def test_server_down_says_so_and_offers_staff(terminal, reader, make_card, master):
    config = KioskConfig(
        server="http://127.0.0.1:9", terminal_id=terminal.code, secret="x", entrance="GDMUSEUM-MAIN"
    )
    ui = open_kiosk(config, KioskApi(config.server, terminal.code, "x", retries=0), reader)
    try:
        ui.app.lang = "en"
        ui.tap(ui.app.tr("home.tap"))
        place(ui, reader, chip_of(make_card("active"), master))
        text = ui.visible_text()
        assert "cannot reach the server" in text and "service counter" in text
        assert ui.button(ui.app.tr("common.call_staff"))
    finally:
        ui.close()


# --- activation ----------------------------------------------------------------------------------


def test_activation_end_to_end_with_wrong_identity_and_weak_pin(
    app,
    ui,
    reader,
    make_card,
    master,
):
    holder = make_card("issued", birth="19420308", name="陈桂兰")
    ui.tap(ui.app.tr("home.activate"))
    place(ui, reader, chip_of(holder, master))
    assert "陈*兰" in ui.visible_text()

    ui.keys("000000")
    ui.tap(ui.app.tr("common.confirm"))
    ui.settle()
    assert "不一致" in ui.visible_text() and "2" in ui.visible_text()

    ui.keys(holder.id_number[-6:])
    ui.tap(ui.app.tr("common.confirm"))
    ui.settle()
    assert ui.app.tr("act.pin") in ui.visible_text()

    for _ in range(2):
        ui.keys("123456")
        ui.tap(ui.app.tr("common.confirm"))
        ui.settle()
    text = ui.visible_text()
    assert "太容易" in text and "123456" in text

    ui.keys("258036")
    ui.tap(ui.app.tr("common.confirm"))
    ui.keys("258037")
    ui.tap(ui.app.tr("common.confirm"))
    assert "两次输入的密码不一样" in ui.visible_text()

    for _ in range(2):
        ui.keys("258036")
        ui.tap(ui.app.tr("common.confirm"))
        ui.settle()
    assert ui.app.tr("act.done") in ui.visible_text()
    with app.app_context():
        from server.registry.models import Card

        assert db.session.get(Card, holder.card_id).state == "active"
        db.session.remove()


def test_three_wrong_identities_lock_and_say_call_staff(ui, reader, make_card, master):
    holder = make_card("issued")
    ui.tap(ui.app.tr("home.activate"))
    place(ui, reader, chip_of(holder, master))
    for _ in range(3):
        ui.keys("000000")
        ui.tap(ui.app.tr("common.confirm"))
        ui.settle()
    text = ui.visible_text()
    assert "锁定" in text and "工作人员" in text
    ui.tap(ui.app.tr("common.call_staff"))
    ui.settle()
    assert ui.app.current == "help" and ui.app.controllers["help"].ticket


# --- call staff ----------------------------------------------------------------------------------


def test_call_staff_shows_a_ticket_that_staff_see(app, ui):
    ui.tap(ui.app.tr("home.help"))
    ui.tap(ui.app.tr("help.call"))
    ui.settle()
    ticket = ui.app.controllers["help"].ticket
    assert ticket and ticket in ui.visible_text()
    with app.app_context():
        from server.kiosk.models import HelpRequest

        rows = db.session.execute(select(HelpRequest)).scalars().all()
        assert [r.status for r in rows] == ["open"]
        db.session.remove()


def help_statuses(app) -> list[str]:
    from server.kiosk.models import HelpRequest

    with app.app_context():
        rows = db.session.execute(select(HelpRequest).order_by(HelpRequest.id)).scalars().all()
        statuses = [r.status for r in rows]
        db.session.remove()
    return statuses


def test_no_longer_needed_cancels_the_call_on_the_server(app, ui):
    ui.tap(ui.app.tr("home.help"))
    ui.tap(ui.app.tr("help.call"))
    ui.settle()
    ui.tap(ui.app.tr("help.cancel"))
    ui.settle()
    assert help_statuses(app) == ["cancelled"]
    assert ui.app.tr("help.cancelled_say") in ui.visible_text()
    assert ui.app.tr("help.cancel") not in ui.visible_text()
    ui.button(ui.app.tr("help.call"))  # can call again


def test_the_idle_timeout_leaves_an_open_call_open(app, ui):
    ui.tap(ui.app.tr("home.help"))
    ui.tap(ui.app.tr("help.call"))
    ui.settle()
    ui.advance(61)
    ui.settle()
    assert ui.app.current == "home" and ui.app.controllers["help"].ticket == ""
    assert help_statuses(app) == ["open"]  # staff may still come


# --- staff ---------------------------------------------------------------------------------------


@pytest.fixture
def staff_with_totp(app, branch, now):
    from server.security.models import StaffUser
    from server.security.service import new_totp_secret

    with app.app_context():
        user = db.session.get(StaffUser, branch.id)
        secret = new_totp_secret(db.session, user, None, now).secret
        db.session.remove()
    return branch.username, pyotp.TOTP(secret)


def sign_in(ui: Kiosk, username: str, totp: str) -> None:
    ui.type_into("username", username)
    ui.type_into("password", STAFF_PASSWORD)
    ui.type_into("totp", totp)
    ui.tap(ui.app.tr("staff.signin"))
    ui.settle()


def test_staff_sign_in_with_a_wrong_totp_then_the_right_one(ui, staff_with_totp):
    username, totp = staff_with_totp
    ui.tap(ui.app.tr("staff.corner"))
    assert ui.app.current == "staff_signin"
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    sign_in(ui, username, wrong)
    assert "动态验证码不对" in ui.visible_text() and ui.app.current == "staff_signin"
    sign_in(ui, username, totp.now())
    ui.wait(lambda: ui.app.current == "staff_menu")
    assert "测试 branch_staff" in ui.visible_text()


def test_staff_issue_a_card_on_the_spot(app, ui, reader, staff_with_totp, master):
    username, totp = staff_with_totp
    ui.tap(ui.app.tr("staff.corner"))
    sign_in(ui, username, totp.now())
    ui.wait(lambda: ui.app.current == "staff_menu")
    ui.tap(ui.app.tr("staff.issue"))
    id_number = valid_id("440104", "19380512", "077")
    ui.type_into("id_number", id_number)
    ui.tap(ui.app.tr("staff.find"))
    ui.settle()
    assert "没有找到此人" in ui.visible_text()
    ui.type_into("name", "周伯")
    ui.tap(ui.app.tr("staff.register"))
    ui.settle()
    ui.tap(ui.app.tr("staff.issue.apply"))
    ui.settle()
    blank = EmulatedCard("K00000001", diversify(master, "K00000001"))
    reader.place(blank)
    ui.tap(ui.app.tr("staff.issue.read_blank"))
    ui.settle()
    assert blank.holder == {"name": "周伯", "city": "440100"}
    for _ in range(2):
        ui.keys("258036")
        ui.tap(ui.app.tr("common.confirm"))
        ui.settle()
    assert "K00000001" in ui.visible_text() and ui.app.controllers["staff"].step == "done"
    with app.app_context():
        from server.registry.models import Card

        card = db.session.execute(select(Card).where(Card.serial == "K00000001")).scalar_one()
        assert card.state == "active"
        db.session.remove()

    # one person, one card: a second application is refused in words
    ui.tap(ui.app.tr("staff.menu.heading"))
    ui.tap(ui.app.tr("staff.issue"))
    ui.type_into("id_number", id_number)
    ui.tap(ui.app.tr("staff.find"))
    ui.settle()
    ui.tap(ui.app.tr("staff.issue.apply"))
    ui.settle()
    assert "一人只能有一张" in ui.visible_text()


# --- idle ----------------------------------------------------------------------------------------


def test_idle_warns_then_clears_everything(ui, reader, make_card, master):
    holder = make_card("issued")
    ui.tap(ui.app.tr("home.activate"))
    place(ui, reader, chip_of(holder, master))
    ui.keys("123")
    ui.advance(46)
    assert ui.app.tr("idle.keep") in ui.visible_text() and "14" in ui.visible_text()
    ui.tap(ui.app.tr("idle.keep"))
    assert ui.app.tr("idle.keep") not in ui.visible_text()
    assert ui.app.controllers["activation"].entry == "123"

    ui.advance(50)
    assert ui.app.tr("idle.keep") in ui.visible_text()
    ui.advance(11)
    assert ui.app.current == "home"
    controller = ui.app.controllers["activation"]
    assert (controller.entry, controller.masked_name, controller.activation_id) == ("", "", None)
    screen = ui.app.screens["activation"]
    assert screen.entry == "" and "陈" not in screen.who
    assert ui.app.tr("idle.keep") not in ui.visible_text()


def test_idle_ends_a_staff_session(ui, staff_with_totp):
    username, totp = staff_with_totp
    ui.tap(ui.app.tr("staff.corner"))
    sign_in(ui, username, totp.now())
    ui.wait(lambda: ui.app.current == "staff_menu")
    ui.advance(61)
    ui.settle()
    assert ui.app.current == "home" and not ui.app.api.staff_signed_in
    assert not ui.app.controllers["staff"].signed_in

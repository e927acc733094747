"""Every screen and state, at both text sizes and in both languages: every rendered label's font
size (sp) and every button's size (dp) against the elderly-friendly minimums; buttons never
overlap and keep space between them. Driven with a scripted API (no server needed)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import pytest
from kivy.metrics import Metrics
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label

from kiosk_app import theme
from kiosk_app.config import KioskConfig
from kiosk_app.controllers.base import InlineRunner
from tests.kiosk_app._fakes import (
    UNREACHABLE,
    FakeApi,
    api_error,
    card_out,
    make_card,
    person_out,
    reader_with,
)
from tests.kiosk_app._ui import Kiosk, font_sp, open_kiosk, size_dp, visible_widgets

MIN_GAP_DP = 8


def tour(ui: Kiosk, api: FakeApi) -> list[tuple[str, Callable[[], None]]]:
    """(state name, how to get there from Home) for every screen and state."""
    app = ui.app
    reader = app.reader

    def place(serial="A10000001", **kwargs):
        reader.remove()
        app.poll_reader()
        reader.place(make_card(serial, **kwargs))
        app.poll_reader()

    def entry_denied():
        api.fail["enter"] = api_error("card.not_active", state="sealed")
        app.choose("tap")
        place()

    def activation(step: str):
        def go():
            app.choose("activate")
            place("A10000002")
            c = app.controllers["activation"]
            if step == "identity_wrong":
                api.fail["confirm_identity"] = [
                    api_error("activation.identity_mismatch", 422, tries_left=2)
                ]
                for k in "000000":
                    c.press(k)
                c.confirm()
            if step in ("pin", "pin_weak", "done"):
                for k in "12345X":
                    c.press(k)
                c.confirm()
            if step == "pin_weak":
                api.fail["set_pin"] = [api_error("card.pin_weak", 422, problems=["sequence"])]
                for _ in range(2):
                    for k in "123456":
                        c.press(k)
                    c.confirm()
            if step == "done":
                for _ in range(2):
                    for k in "258036":
                        c.press(k)
                    c.confirm()
            if step == "locked":
                api.fail["confirm_identity"] = [api_error("card.pin_locked", 423)]
                for k in "000000":
                    c.press(k)
                c.confirm()

        return go

    def help_ticket():
        app.choose("help")
        app.controllers["help"].call()

    def signed_in(then: Callable[[], None] | None = None):
        def go():
            app.choose("staff")
            app.controllers["staff"].sign_in("gz.branch", "pw", "123456")
            app.show("staff_menu")
            if then is not None:
                then()

        return go

    def issue(step: str):
        def go():
            staff = app.controllers["staff"]
            staff.begin("issue")
            app.show("staff_issue")
            if step == "find":
                return
            if step == "not_found":
                api.fail["find_person"] = [api_error("person.not_found", 404)]
                staff.find("440106194001011234")
                return
            api.answers["find_person"] = person_out()
            staff.find("440106194001011234")
            if step == "person":
                return
            staff.apply()
            if step == "blank":
                return
            reader.remove()
            reader.place(make_card("K00000001"))
            staff.read_blank()
            if step == "pin":
                return
            for _ in range(2):
                for k in "258036":
                    staff.press(k)
                staff.confirm()

        return go

    def lost():
        staff = app.controllers["staff"]
        api.answers["find_person"] = person_out([card_out(3, "active", "A10000003")])
        staff.begin("lost")
        app.show("staff_lost")
        staff.find("440106194001011234")

    def doorstep():
        api.answers["doorstep_requests"] = {
            "items": [
                {
                    "id": 1,
                    "name_masked": "陈*",
                    "age": 86,
                    "district": "越秀区",
                    "status_name": "待上门",
                }
            ],
            "page": 1,
            "next_page": None,
        }
        app.screens["staff_menu"].begin("doorstep")

    def unreachable():
        api.fail["card_challenge"] = UNREACHABLE
        app.choose("tap")
        place()

    def idle():
        app.choose("activate")
        ui.advance(50)

    return [
        ("home", lambda: None),
        ("entry_waiting", lambda: app.choose("tap")),
        ("entry_allowed", lambda: (app.choose("tap"), place())),
        ("entry_denied", entry_denied),
        ("entry_unreachable", unreachable),
        ("activation_tap", activation("tap")),
        ("activation_identity_wrong", activation("identity_wrong")),
        ("activation_pin", activation("pin")),
        ("activation_pin_weak", activation("pin_weak")),
        ("activation_done", activation("done")),
        ("activation_locked", activation("locked")),
        ("help", lambda: app.choose("help")),
        ("help_ticket", help_ticket),
        ("staff_signin", lambda: app.choose("staff")),
        ("staff_menu", signed_in()),
        ("staff_issue_find", signed_in(issue("find"))),
        ("staff_issue_not_found", signed_in(issue("not_found"))),
        ("staff_issue_person", signed_in(issue("person"))),
        ("staff_issue_blank", signed_in(issue("blank"))),
        ("staff_issue_pin", signed_in(issue("pin"))),
        ("staff_issue_done", signed_in(issue("done"))),
        ("staff_lost", signed_in(lost)),
        ("staff_doorstep", signed_in(doorstep)),
        ("idle_warning", idle),
    ]


def check_screen(ui: Kiosk, size: str) -> list[str]:
    main_min = theme.MIN_MAIN_SP * (theme.XLARGE_FACTOR if size == "xlarge" else 1)
    problems = []
    buttons = []
    for widget in visible_widgets(ui.root):
        if isinstance(widget, Label) and widget.text.strip():
            points = font_sp(widget)
            main = isinstance(widget, ButtonBehavior) or getattr(widget, "role", "") == "main"
            floor = main_min if main else theme.MIN_TEXT_SP
            if points < floor - 0.01:
                problems.append(f"{widget.text[:20]!r} is {points:.1f} sp < {floor:.1f}")
        if isinstance(widget, ButtonBehavior) and not widget.disabled:
            width, height = size_dp(widget)
            if min(width, height) < theme.MIN_TOUCH_DP:
                problems.append(f"button {widget.text[:20]!r} is {width:.0f}×{height:.0f} dp")
            buttons.append(widget)
    overlay = ui.app.idle_overlay
    if overlay.parent is not None:  # the warning covers the screen: only its button can be hit
        covered = set(overlay.walk())
        buttons = [b for b in buttons if b in covered]
    for a, b in combinations(buttons, 2):
        ax, ay = a.to_window(a.x, a.y)
        bx, by = b.to_window(b.x, b.y)
        gap = MIN_GAP_DP * Metrics.dp
        apart = (
            ax + a.width + gap <= bx + 0.5
            or bx + b.width + gap <= ax + 0.5
            or ay + a.height + gap <= by + 0.5
            or by + b.height + gap <= ay + 0.5
        )
        if not apart:
            problems.append(f"buttons {a.text[:15]!r} and {b.text[:15]!r} touch or overlap")
    return problems


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["large", "xlarge"])
def test_every_screen_meets_the_minimum_sizes(lang, size):
    api = FakeApi()
    config = KioskConfig(server="x", terminal_id="T", entrance="GDMUSEUM-MAIN")
    ui = open_kiosk(
        config, api, reader_with(None), runner=InlineRunner(), lang=lang, text_size=size
    )
    problems: dict[str, list[str]] = {}
    visited = []
    try:
        for name, go in tour(ui, api):
            ui.app.reader.remove()
            ui.app.go_home()
            api.fail.clear()
            api.answers.clear()
            ui.app.keep_using()
            go()
            ui.frames(2)
            visited.append(ui.app.current)
            found = check_screen(ui, size)
            if found:
                problems[name] = found
    finally:
        ui.close()
    assert set(visited) >= {
        "home",
        "entry",
        "activation",
        "help",
        "staff_signin",
        "staff_menu",
        "staff_issue",
        "staff_lost",
        "staff_doorstep",
    }
    assert problems == {}

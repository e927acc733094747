"""Every screen and state, at both text sizes, in both languages, on a landscape (1920×1080) and a
portrait (1080×1920) screen: every rendered label's font size (sp) and every button's size (dp)
against the elderly-friendly minimums; buttons never overlap and keep space between them; no text
is cut off, shortened or drawn outside its widget, and nothing lies outside the window. Driven
with a scripted API (no server needed)."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import combinations, pairwise

import kivy.uix.label as uix_label
import pytest
from kivy.core.window import Window
from kivy.metrics import Metrics
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput

from kiosk_app import theme
from kiosk_app.config import KioskConfig
from kiosk_app.controllers.base import InlineRunner
from kiosk_app.linebreak import NO_END, NO_START
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
WINDOWS = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
SLACK_PX = 1.0  # rounding
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e]")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Data shown as it is in either language (masked names, districts, staff names; the language
# switch is written in the language it switches to). Everything else is one language only.
DATA_TEXT = ("王*芳", "李*华", "陈伯", "欧阳*", "黄埔区", "广州网点 黄敏", "黄敏", "中文")
ZH_ALLOWED_WORDS = frozenset({"English", "X"})


def tour(ui: Kiosk, api: FakeApi) -> list[tuple[str, Callable[[], None]]]:
    """(state name, how to get there from Home) for every screen and state."""
    app = ui.app
    reader = app.reader

    def place(serial="A10000001", **kwargs):
        reader.remove()
        app.poll_reader()
        reader.place(make_card(serial, **kwargs))
        app.poll_reader()

    def entry_denied(code="card.not_active", **extra):
        def go():
            api.fail["enter"] = api_error(code, **(extra or {"state": "sealed"}))
            app.choose("tap")
            place()

        return go

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

    def help_ticket(then: str = ""):
        def go():
            app.choose("help")
            app.controllers["help"].call()
            if then == "claimed":
                claimed = {"id": 7, "status": "claimed", "claimed_by_name": "黄敏"}
                api.answers["help_status"] = claimed
                app.controllers["help"].poll()
            if then == "cancel_refused":
                api.fail["cancel_help"] = api_error("help.already_claimed")
                app.controllers["help"].cancel()
            if then == "cancelled":
                app.controllers["help"].cancel()

        return go

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
        # a full page (6) of the longest kind: every request planned and assigned
        item = {
            "name_masked": "欧阳*",
            "age": 101,
            "district": "黄埔区",
            "status": "assigned",
            "status_name": "待上门 Assigned",
            "planned_from": "2026-11-30T09:30:00+08:00",
            "planned_to": "2026-11-30T11:30:00+08:00",
            "assigned_to_name": "广州网点 黄敏",
        }
        api.answers["doorstep_requests"] = {
            "items": [{**item, "id": n} for n in range(1, 7)],
            "page": 1,
            "next_page": 2,
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
        ("entry_denied", entry_denied()),
        (
            "entry_closed_suspended",
            entry_denied(
                "entry.closed",
                entrance_status="suspended",
                reason="地面施工，临时关闭东门，预计下周一恢复开放",
            ),
        ),
        ("entry_closed_hours", entry_denied("entry.closed", opens_at="2026-12-01T09:00:00+08:00")),
        ("entry_unreachable", unreachable),
        ("activation_tap", activation("tap")),
        ("activation_identity_wrong", activation("identity_wrong")),
        ("activation_pin", activation("pin")),
        ("activation_pin_weak", activation("pin_weak")),
        ("activation_done", activation("done")),
        ("activation_locked", activation("locked")),
        ("help", lambda: app.choose("help")),
        ("help_ticket", help_ticket()),
        ("help_claimed", help_ticket("claimed")),
        ("help_cancel_refused", help_ticket("cancel_refused")),
        ("help_cancelled", help_ticket("cancelled")),
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


def _label_name(widget) -> str:
    text = getattr(widget, "text", "") or type(widget).__name__
    return repr(text.replace("\n", " ")[:24])


def needed_height(label: Label) -> float:
    """The height ``label``'s text needs at its wrapping width (its text_size height unbound):
    Kivy silently drops the lines that do not fit a bound height."""
    options = {name: getattr(label, name) for name in Label._font_properties}
    options.update(text_size=(label.text_size[0], None), shorten=False, max_lines=0)
    options.pop("markup", None)
    core = uix_label.CoreLabel(**options)  # the kiosk's, with its Chinese line breaking
    core.refresh()
    return core.texture.size[1]


def check_fit(ui: Kiosk) -> list[str]:
    """No text cut off, shortened or drawn outside its widget; no text or button off-screen; no
    two texts drawn over each other."""
    win_w, win_h = Window.size
    problems = []
    boxes = []
    overlay = ui.app.idle_overlay
    covered = set(overlay.walk()) if overlay.parent is not None else None
    for widget in visible_widgets(ui.root):
        if not isinstance(widget, Label | ButtonBehavior | TextInput):
            continue
        if widget.width <= 0 or widget.height <= 0:
            continue
        name = _label_name(widget)
        x, y = widget.to_window(widget.x, widget.y)
        if (
            x < -SLACK_PX
            or y < -SLACK_PX
            or x + widget.width > win_w + SLACK_PX
            or y + widget.height > win_h + SLACK_PX
        ):
            problems.append(
                f"{name} lies outside the {win_w}×{win_h} window at "
                f"({x:.0f}, {y:.0f}) {widget.width:.0f}×{widget.height:.0f}"
            )
        if not isinstance(widget, Label) or not widget.text.strip():
            continue
        if widget.is_shortened:
            problems.append(f"{name} is shortened to fit")
        tex_w, tex_h = widget.texture_size
        if tex_w > widget.width + SLACK_PX or tex_h > widget.height + SLACK_PX:
            problems.append(
                f"{name} text {tex_w:.0f}×{tex_h:.0f} overflows its widget "
                f"{widget.width:.0f}×{widget.height:.0f}"
            )
        bound_w, bound_h = widget.text_size
        if bound_w is not None and bound_h is not None and not widget.shorten:
            needed = needed_height(widget)
            if needed > bound_h + SLACK_PX:
                problems.append(f"{name} needs {needed:.0f} px high, has {bound_h:.0f}: cut off")
        if covered is None or widget in covered:
            # where the text is drawn: the texture, centred on the widget
            cx, cy = widget.to_window(*widget.center)
            boxes.append((widget, cx - tex_w / 2, cy - tex_h / 2, tex_w, tex_h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in combinations(boxes, 2):
        across = ax + aw > bx + SLACK_PX and bx + bw > ax + SLACK_PX
        up = ay + ah > by + SLACK_PX and by + bh > ay + SLACK_PX
        if across and up:
            problems.append(f"texts {_label_name(a)} and {_label_name(b)} overlap")
    return problems


def drawn_lines(label: Label) -> list[str]:
    core = label._label
    return ["".join(word.text for word in line.words) for line in core._cached_lines or ()]


def check_line_breaks(ui: Kiosk) -> list[str]:
    """No drawn line starts with a closing mark (，。）…) or ends with an opening one (（“…)."""
    problems = []
    for widget in visible_widgets(ui.root):
        if not isinstance(widget, Label) or widget._label is None:
            continue
        lines = [line for line in drawn_lines(widget) if line.strip()]
        for before, after in pairwise(lines):
            if after.lstrip()[0] in NO_START or before.rstrip()[-1] in NO_END:
                problems.append(f"{_label_name(widget)} breaks {before!r} | {after!r}")
    return problems


def check_language(ui: Kiosk, lang: str) -> list[str]:
    """The Chinese screens carry no English words, the English ones no Chinese (data aside)."""
    problems = []
    for widget in visible_widgets(ui.root):
        if not isinstance(widget, Label) or not widget.text.strip():
            continue
        text = widget.text.replace("\u00a0", " ")
        for data in DATA_TEXT:
            text = text.replace(data, "")
        if lang == "zh":
            words = [
                w
                for w in LATIN_WORD.findall(text)
                if w not in ZH_ALLOWED_WORDS and not any(c.isdigit() for c in w)
            ]
            if words:
                problems.append(f"{_label_name(widget)} has English words {words} in Chinese")
        elif CJK.search(text):
            problems.append(f"{_label_name(widget)} has Chinese in English")
    return problems


@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["large", "xlarge"])
def test_every_screen_meets_the_minimum_sizes_and_fits(lang, size, orientation):
    api = FakeApi()
    config = KioskConfig(
        server="x",
        terminal_id="T",
        entrance="GDMUSEUM-MAIN",
        entrance_zh="广东省博物馆 主入口",
        entrance_en="Guangdong Museum, main entrance",
    )
    window_before = Window.size
    Window.size = WINDOWS[orientation]
    ui = open_kiosk(
        config,
        api,
        reader_with(None),
        runner=InlineRunner(),
        lang=lang,
        text_size=size,
        portrait=orientation == "portrait",
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
            ui.steady()
            visited.append(ui.app.current)
            found = (
                check_screen(ui, size)
                + check_fit(ui)
                + check_language(ui, lang)
                + check_line_breaks(ui)
            )
            if found:
                problems[name] = found
    finally:
        ui.close()
        Window.size = window_before
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
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())

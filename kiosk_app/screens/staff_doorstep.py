"""The door-to-door issuance requests, as the server lists them (a page at a time)."""

from __future__ import annotations

from typing import Any

from kivy.factory import Factory
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from kiosk_app.screens.base import KioskScreen


class StaffDoorstepScreen(KioskScreen):
    lines = ListProperty([])
    has_next = BooleanProperty(False)
    has_prev = BooleanProperty(False)
    reason = StringProperty("")
    todo = StringProperty("")

    def update(self) -> None:
        c = self.controller
        app = self.app
        self.reason, self.todo = app.explain(c.notice)
        if c.busy:
            self.say = app.tr("common.working")
        elif not c.doorstep_available:
            self.say = app.tr("staff.doorstep.unavailable")
        elif not c.doorstep_items:
            self.say = app.tr("staff.doorstep.empty")
        else:
            self.say = app.tr("staff.doorstep.say")
        self.lines = c.doorstep_lines(app.lang)
        self.has_next = bool(c.doorstep_next)
        self.has_prev = c.doorstep_page > 1

    def turn(self, step: int) -> None:
        c = self.controller
        c.load_doorstep(max(1, c.doorstep_page + step))

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        self.on_lines()

    def on_lines(self, *_args: Any) -> None:
        box = self.ids.get("items")
        if box is None:
            return
        box.clear_widgets()
        for line in self.lines:
            box.add_widget(Factory.DoorstepItem(text=line))

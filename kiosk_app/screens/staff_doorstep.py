"""The door-to-door issuance requests, as the server lists them (a page at a time)."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.screens.base import KioskScreen


def item_line(item: dict[str, Any], lang: str) -> str:
    age = item.get("age")
    age_text = (f"{age}岁" if lang != "en" else f"aged {age}") if age is not None else ""
    planned = item.get("planned_from") or ""
    parts = [
        str(item.get("name_masked") or item.get("id") or ""),
        age_text,
        str(item.get("district") or ""),
        str(item.get("status_name") or item.get("status") or ""),
        planned.replace("T", " ")[:16],
        str(item.get("assigned_to_name") or ""),
    ]
    return "  ".join(p for p in parts if p)


class StaffDoorstepScreen(KioskScreen):
    lines = StringProperty("")
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
        self.lines = "\n".join(item_line(i, app.lang) for i in c.doorstep_items)
        self.has_next = bool(c.doorstep_next)
        self.has_prev = c.doorstep_page > 1

    def turn(self, step: int) -> None:
        c = self.controller
        c.load_doorstep(max(1, c.doorstep_page + step))

"""Tap entry: "place your card" with a drawn card, then ✓ + greeting or ✗ + reason + what to do."""

from __future__ import annotations

from typing import ClassVar

from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.controllers.entry import RESULT
from kiosk_app.screens.base import KioskScreen, Step


class EntryWaiting(Step):
    pass


class EntryWorking(Step):
    pass


class EntryAllowed(Step):
    pass


class EntryDenied(Step):
    pass


class EntryScreen(KioskScreen):
    steps: ClassVar[dict[str, type[Step]]] = {
        "waiting": EntryWaiting,
        "working": EntryWorking,
        "allowed": EntryAllowed,
        "denied": EntryDenied,
    }
    greeting = StringProperty("")
    masked_name = StringProperty("")
    reason = StringProperty("")
    todo = StringProperty("")
    show_call = BooleanProperty(False)

    def update(self) -> None:
        c = self.controller
        app = self.app
        if c.busy:
            self.show_step("working")
            self.say = app.tr("card.reading")
            return
        if c.step == RESULT and c.result is not None and c.result.allowed:
            self.greeting = c.result.greeting(app.lang)
            self.masked_name = c.result.masked_name
            self.show_step("allowed")
            self.say = app.tr("entry.say_ok") + " " + app.tr("card.remove")
            return
        if c.step == RESULT and c.result is not None:
            self.reason, self.todo = app.explain(c.result.notice)
            self.show_call = True
            self.show_step("denied")
            self.say = self.todo
            return
        self.greeting = self.masked_name = self.reason = self.todo = ""
        self.show_step("waiting")
        self.say = app.tr("card.place")

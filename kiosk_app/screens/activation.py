"""Activation: tap the new card → last 6 characters of the ID number → a PIN twice → done."""

from __future__ import annotations

from typing import ClassVar

from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.controllers import activation as act
from kiosk_app.screens.base import KeypadStep, KioskScreen, Step
from kiosk_app.texts import offers_staff


class ActivationTap(Step):
    pass


class ActivationKeypad(KeypadStep):
    pass


class ActivationDone(Step):
    pass


class ActivationFailed(Step):
    pass


class ActivationScreen(KioskScreen):
    steps: ClassVar[dict[str, type[Step]]] = {
        "tap": ActivationTap,
        "keypad": ActivationKeypad,
        "done": ActivationDone,
        "failed": ActivationFailed,
    }
    entry = StringProperty("")
    masked = BooleanProperty(False)
    allow_x = BooleanProperty(False)
    complete = BooleanProperty(False)
    who = StringProperty("")
    reason = StringProperty("")
    todo = StringProperty("")
    show_call = BooleanProperty(False)
    can_go_back = BooleanProperty(False)

    def update(self) -> None:
        c = self.controller
        app = self.app
        self.reason, self.todo = app.explain(c.notice)
        self.show_call = bool(c.notice) and offers_staff(c.notice.code)
        self.entry = c.entry
        self.complete = c.complete and not c.busy
        self.who = app.tr("act.identity_for", name=c.masked_name) if c.masked_name else ""
        self.can_go_back = c.step == act.PIN_CONFIRM
        if c.step == act.TAP:
            self.show_step("tap")
            self.say = app.tr("card.reading" if c.busy else "act.place")
        elif c.step in (act.IDENTITY, act.PIN, act.PIN_CONFIRM):
            self.show_step("keypad")
            self.masked = c.step != act.IDENTITY
            self.allow_x = c.step == act.IDENTITY
            key = {act.IDENTITY: "act.identity", act.PIN: "act.pin"}.get(c.step, "act.pin_confirm")
            self.say = app.tr("common.working") if c.busy else app.tr(key)
        elif c.step == act.DONE:
            self.show_step("done")
            self.say = app.tr("act.done_say")
        else:
            self.show_step("failed")
            self.say = self.todo

    def on_key(self, key: str) -> None:
        self.controller.press(key)

"""Call staff: one big button raises a help request; then the ticket number, big, its status, and
"no longer needed" while nobody has claimed it."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty

from kiosk_app.screens.base import KioskScreen

POLL_S = 5.0


class CallStaffScreen(KioskScreen):
    ticket = StringProperty("")
    status_text = StringProperty("")
    reason = StringProperty("")
    todo = StringProperty("")
    can_call = BooleanProperty(True)
    can_cancel = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._poll = None

    def on_enter(self, *_args: Any) -> None:
        self._poll = Clock.schedule_interval(self._tick, POLL_S)

    def _tick(self, _dt: float) -> None:
        if self.app.current == self.name:
            self.controller.poll()

    def on_leave(self, *_args: Any) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None

    def update(self) -> None:
        c = self.controller
        app = self.app
        self.ticket = c.ticket
        self.reason, self.todo = app.explain(c.notice)
        self.can_call = not c.ticket and not c.busy
        self.can_cancel = c.can_cancel
        if c.status == "claimed":
            self.status_text = (
                app.tr("help.claimed", name=c.claimed_by)
                if c.claimed_by
                else app.tr("help.claimed_anon")
            )
        elif c.status in ("resolved", "cancelled"):
            self.status_text = app.tr(f"help.{c.status}")
        else:
            self.status_text = ""
        if c.cancel_refused:
            self.say = app.tr("help.cancel_refused")
        elif c.ticket:  # before "busy": the status polls must not make the sentence flicker
            self.say = app.tr("help.wait")
        elif c.busy:
            self.say = app.tr("common.working")
        elif c.notice is not None:
            self.say = self.todo
        elif c.status == "cancelled":
            self.say = app.tr("help.cancelled_say")
        else:
            self.say = app.tr("help.ask")

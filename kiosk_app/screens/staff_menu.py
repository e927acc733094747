"""Staff menu: on-site issuance, loss and replacement, door-to-door requests, sign out."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk_app.screens.base import KioskScreen

FLOW_SCREENS = {"issue": "staff_issue", "lost": "staff_lost", "doorstep": "staff_doorstep"}


class StaffMenuScreen(KioskScreen):
    who = StringProperty("")

    def update(self) -> None:
        c = self.controller
        self.who = self.app.tr("staff.menu.who", name=c.display_name)
        self.say = self.app.tr("staff.menu.say")

    def begin(self, flow: str) -> None:
        self.controller.begin(flow)
        self.app.show(FLOW_SCREENS[flow])

    def sign_out(self) -> None:
        self.app.go_home()

"""Staff sign-in: username, password and the 6-digit TOTP from the staff member's phone."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk_app.controllers import staff as st
from kiosk_app.screens.base import KioskScreen


class StaffSignInScreen(KioskScreen):
    reason = StringProperty("")
    todo = StringProperty("")

    def update(self) -> None:
        c = self.controller
        self.reason, self.todo = self.app.explain(c.notice)
        self.say = self.app.tr("common.working" if c.busy else "staff.signin.say")
        if c.step != st.SIGNED_OUT and self.app.current == self.name:
            self.clear_view()
            self.app.show("staff_menu")

    def submit(self) -> None:
        ids = self.ids
        self.controller.sign_in(ids.username.text, ids.password.text, ids.totp.text)
        ids.password.text = ""
        ids.totp.text = ""

    def clear_view(self) -> None:
        for name in ("username", "password", "totp"):
            self.ids[name].text = ""

"""Home: four big buttons, the language / text-size / read-aloud switches, a staff button."""

from __future__ import annotations

from kiosk_app.screens.base import KioskScreen


class HomeScreen(KioskScreen):
    def update(self) -> None:
        self.say = self.app.tr("home.say")

    def entrance_line(self, _lang: str) -> str:
        return self.app.tr(
            "home.entrance", entrance=self.app.kiosk_config.entrance_name(self.app.lang)
        )

"""Home: at most four big choices. Says which screen comes next and prepares its controller."""

from __future__ import annotations

from typing import Any

CHOICES = {
    "tap": "entry",
    "activate": "activation",
    "lost": "help",  # loss and replacement are done with staff: the kiosk calls them
    "help": "help",
    "staff": "staff_signin",
}
HELP_TOPICS = {"lost": "lost_or_replace", "help": "other"}


class HomeController:
    def __init__(self, controllers: dict[str, Any]) -> None:
        self.controllers = controllers

    def choose(self, choice: str) -> str:
        """The screen to show for a Home button; its controller is started fresh."""
        screen = CHOICES[choice]
        if screen == "entry":
            self.controllers["entry"].start()
        elif screen == "activation":
            self.controllers["activation"].start()
        elif screen == "help":
            self.controllers["help"].start(HELP_TOPICS[choice])
        elif screen == "staff_signin" and self.controllers["staff"].signed_in:
            return "staff_menu"
        return screen

    def clear(self) -> None:
        for controller in self.controllers.values():
            controller.clear()

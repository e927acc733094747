"""Tap a card at an entrance (museum, library, scenic spot): challenge → card answer → entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk_app.controllers.base import Controller, Notice, Runner
from kiosk_app.controllers.card import CardSession

WAITING = "waiting"
RESULT = "result"


@dataclass
class EntryResult:
    allowed: bool
    masked_name: str = ""
    greeting_zh: str = ""
    greeting_en: str = ""
    entrance_zh: str = ""
    entrance_en: str = ""
    notice: Notice | None = None

    def greeting(self, lang: str) -> str:
        return self.greeting_en if lang == "en" else self.greeting_zh


class EntryController(Controller):
    def __init__(self, api: Any, card: CardSession, entrance: str, runner: Runner | None = None):
        super().__init__(runner)
        self.api = api
        self.card = card
        self.entrance = entrance
        self.step = WAITING
        self.result: EntryResult | None = None
        self._armed = True  # a card must leave the reader before the next tap counts

    def start(self) -> None:
        self.step = WAITING
        self.result = None
        self.notice = None
        self._armed = True
        self.changed()

    def clear(self) -> None:
        self.step = WAITING
        self.result = None
        self._armed = True
        super().clear()

    def card_presence(self, present: bool) -> None:
        """Called by the reader poll; a newly placed card starts a tap."""
        if not present:
            self._armed = True
            return
        if self._armed and not self.busy:
            self._armed = False
            self.tap()

    def tap(self) -> None:
        def work() -> dict[str, Any]:
            challenge = self.api.card_challenge()
            answer = self.card.authenticate(bytes.fromhex(challenge["challenge"]))
            return self.api.enter(self.entrance, answer.as_json(challenge["challenge_id"]))

        self.run(work, self._allowed, self._denied)

    def _allowed(self, body: dict[str, Any]) -> None:
        holder = body.get("holder") or {}
        entrance = body.get("entrance") or {}
        self.result = EntryResult(
            allowed=True,
            masked_name=holder.get("masked_name", ""),
            greeting_zh=holder.get("greeting_zh", ""),
            greeting_en=holder.get("greeting_en", ""),
            entrance_zh=entrance.get("name_zh", ""),
            entrance_en=entrance.get("name_en", ""),
        )
        self.step = RESULT

    def _denied(self, notice: Notice) -> None:
        self.result = EntryResult(allowed=False, notice=notice)
        self.step = RESULT

"""Self-service activation: tap the new card → last 6 characters of the ID number → PIN twice."""

from __future__ import annotations

from typing import Any

from kiosk_app.controllers.base import Controller, Notice, Runner
from kiosk_app.controllers.card import CardSession

TAP = "tap"
IDENTITY = "identity"
PIN = "pin"
PIN_CONFIRM = "pin_confirm"
DONE = "done"
FAILED = "failed"  # nothing more to do here: locked, already active, server down …

ID_CHARS = frozenset("0123456789X")
# Codes after which the flow cannot go on at this kiosk.
FINAL_CODES = frozenset(
    {
        "card.pin_locked",
        "card.not_active",
        "activation.already_active",
        "activation.finished",
        "activation.expired",
        "activation.unknown",
        "activation.identity_required",
        "chip.unknown_card",
        "chip.bad_mac",
        "chip.counter_replayed",
        "server.unreachable",
    }
)


class ActivationController(Controller):
    def __init__(self, api: Any, card: CardSession, runner: Runner | None = None):
        super().__init__(runner)
        self.api = api
        self.card = card
        self._reset()

    def _reset(self) -> None:
        self.step = TAP
        self.activation_id: str | None = None
        self.masked_name = ""
        self.tries_left: int | None = None
        self.entry = ""  # what the keypad holds now (ID characters or PIN digits)
        self._pin = ""
        self._armed = True

    def start(self) -> None:
        self._reset()
        self.notice = None
        self.changed()

    def clear(self) -> None:
        self._reset()
        super().clear()

    # --- card -------------------------------------------------------------------------------

    def card_presence(self, present: bool) -> None:
        """The reader poll: a card placed at the first step starts; after a refusal (say the
        wrong card), taking it away and placing another starts again."""
        if not present:
            self._armed = True
            return
        if self.busy or not self._armed or self.step not in (TAP, FAILED):
            return
        self._armed = False
        if self.step == FAILED:
            self._reset()
            self.notice = None
        self.tap()

    def tap(self) -> None:
        def work() -> dict[str, Any]:
            challenge = self.api.card_challenge()
            answer = self.card.authenticate(bytes.fromhex(challenge["challenge"]))
            return self.api.start_activation(answer.as_json(challenge["challenge_id"]))

        self.run(work, self._started, self._fail)

    def _started(self, body: dict[str, Any]) -> None:
        self.activation_id = body["activation_id"]
        self.masked_name = body.get("masked_name", "")
        self.tries_left = body.get("tries_left")
        self.entry = ""
        self.step = IDENTITY

    def _fail(self, notice: Notice) -> None:
        self.notice = notice
        if notice.code in FINAL_CODES:
            self.step = FAILED
            self.activation_id = None
            self._pin = ""
            self.entry = ""

    # --- keypad -----------------------------------------------------------------------------

    @property
    def max_len(self) -> int:
        return 6

    def press(self, key: str) -> None:
        """One keypad key: a digit, ``X`` (identity step only) or ``del``."""
        if self.busy or self.step not in (IDENTITY, PIN, PIN_CONFIRM):
            return
        if key == "del":
            self.entry = self.entry[:-1]
        elif len(self.entry) < self.max_len:
            key = key.upper()
            allowed = ID_CHARS if self.step == IDENTITY else frozenset("0123456789")
            if key in allowed:
                self.entry += key
        self.changed()

    @property
    def complete(self) -> bool:
        return len(self.entry) == self.max_len

    def confirm(self) -> None:
        """The big “确定 Confirm” key: sends the identity, or moves through the two PINs."""
        if not self.complete or self.busy:
            return
        if self.step == IDENTITY:
            last6, self.entry = self.entry, ""
            self.run(
                lambda: self.api.confirm_identity(self.activation_id, last6),
                self._identity_ok,
                self._identity_failed,
            )
        elif self.step == PIN:
            self._pin, self.entry = self.entry, ""
            self.step = PIN_CONFIRM
            self.notice = None
            self.changed()
        elif self.step == PIN_CONFIRM:
            pin, confirm = self._pin, self.entry
            self.entry = ""
            if pin != confirm:  # checked here first; the server checks again
                self._pin = ""
                self.step = PIN
                self.notice = Notice("activation.pin_mismatch")
                self.changed()
                return
            self.run(
                lambda: self.api.set_pin(self.activation_id, pin, confirm),
                self._done,
                self._pin_failed,
            )

    def _identity_ok(self, _body: dict[str, Any]) -> None:
        self.step = PIN
        self.notice = None

    def _identity_failed(self, notice: Notice) -> None:
        if notice.code == "activation.identity_mismatch":
            self.tries_left = notice.extra.get("tries_left")
            self.notice = notice
            return
        self._fail(notice)

    def _pin_failed(self, notice: Notice) -> None:
        self._pin = ""
        if notice.code in ("card.pin_weak", "activation.pin_mismatch"):
            self.step = PIN
            self.notice = notice
            return
        self._fail(notice)

    def _done(self, body: dict[str, Any]) -> None:
        self._pin = ""
        self.activation_id = None
        self.masked_name = body.get("masked_name", self.masked_name)
        self.step = DONE

    def back(self) -> None:
        """From the confirmation back to choosing the PIN."""
        if self.step == PIN_CONFIRM:
            self._pin = ""
            self.entry = ""
            self.step = PIN
            self.changed()

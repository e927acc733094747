"""Call staff: raise a help request, show its ticket, follow its status; take it back ("no longer
needed") while nobody has claimed it."""

from __future__ import annotations

from typing import Any

from kiosk_app.controllers.base import Controller, Notice, Runner

TOPICS = frozenset({"activation_locked", "lost_or_replace", "entry_denied", "other"})


class HelpController(Controller):
    def __init__(self, api: Any, runner: Runner | None = None):
        super().__init__(runner)
        self.api = api
        self._reset()

    def _reset(self) -> None:
        self.topic = "other"
        self.help_id: int | None = None
        self.ticket = ""
        self.status = ""
        self.claimed_by = ""
        self.cancelling = False
        self.cancel_refused = False  # "no longer needed" came after staff had claimed it

    def start(self, topic: str = "other") -> None:
        self._reset()
        self.topic = topic if topic in TOPICS else "other"
        self.notice = None
        self.changed()

    def clear(self) -> None:
        # Home or the idle timeout forget the ticket on screen, but an open, unclaimed request
        # stays open on the server: the person may simply have stepped away, and staff may
        # still come to this kiosk. Only "no longer needed" (cancel) takes it back.
        self._reset()
        super().clear()

    def call(self) -> None:
        if self.busy or self.help_id is not None:
            return
        topic = self.topic
        self.run(lambda: self.api.request_help(topic), self._raised)

    def _raised(self, body: dict[str, Any]) -> None:
        self.help_id = body["id"]
        self.ticket = body.get("ticket", "")
        self.status = body.get("status", "open")
        self.cancel_refused = False

    @property
    def can_cancel(self) -> bool:
        """A raised request nobody has claimed yet can be taken back (a status poll being out
        does not grey the button: the cancel waits its turn on the runner)."""
        return self.help_id is not None and self.status == "open" and not self.cancelling

    def cancel(self) -> None:
        """The "no longer needed" button: cancel the open request (idempotent on the server)."""
        if not self.can_cancel:
            return
        help_id = self.help_id
        self.cancelling = True
        self.run(lambda: self.api.cancel_help(help_id), self._cancelled, self._cancel_failed)

    def _cancelled(self, body: dict[str, Any]) -> None:
        # The ticket is gone; the screen offers "Call" again should the person need it.
        self.help_id = None
        self.ticket = ""
        self.claimed_by = ""
        self.cancelling = False
        self.status = (body or {}).get("status", "cancelled")

    def _cancel_failed(self, notice: Notice) -> None:
        self.cancelling = False
        if notice.code == "help.already_claimed":
            self.status = "claimed"  # staff are on the way; the next poll brings the name
            self.cancel_refused = True
        elif notice.code == "help.closed":
            self.status = "resolved"
        else:
            self.notice = notice

    def poll(self) -> None:
        """Ask how the request stands (the screen calls this every few seconds)."""
        if self.help_id is None or self.busy or self.status in ("resolved", "cancelled"):
            return
        help_id = self.help_id
        self.run(lambda: self.api.help_status(help_id), self._status, self._poll_failed)

    def _status(self, body: dict[str, Any]) -> None:
        self.status = body.get("status", self.status)
        self.claimed_by = body.get("claimed_by_name") or ""

    def _poll_failed(self, notice: Notice) -> None:
        # The ticket is still valid on the counter; a failed poll only shows the reason.
        self.notice = notice

"""Call staff: raise a help request, show its ticket, follow its status."""

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

    def start(self, topic: str = "other") -> None:
        self._reset()
        self.topic = topic if topic in TOPICS else "other"
        self.notice = None
        self.changed()

    def clear(self) -> None:
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

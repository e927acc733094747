"""What every controller shares: change notification, a runner for slow work (server calls and
card reads happen off the UI thread in the app, inline in tests), and one way of turning a
failure into a :class:`Notice` (a code + extra fields; the view puts it into words).

Controllers import no Kivy: they are plain Python, unit-tested without a window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from kiosk_app.api_client import ApiError, ServerUnreachable
from kiosk_app.controllers.card import CardError, DeviceError

T = TypeVar("T")


class Runner(Protocol):
    def submit(self, work: Callable[[], Any], done: Callable[[Any, BaseException | None], None]):
        """Run ``work`` (maybe elsewhere) and then call ``done(result, error)`` on the UI side."""


class InlineRunner:
    """Runs the work at once, in the caller's thread (tests, scripts)."""

    def submit(self, work, done):
        try:
            result = work()
        except Exception as exc:
            done(None, exc)
        else:
            done(result, None)


@dataclass
class Notice:
    """Something to tell the person: a code for :func:`kiosk_app.texts.explain` plus extras."""

    code: str
    extra: dict[str, Any] = field(default_factory=dict)


def notice_for(error: BaseException) -> Notice:
    if isinstance(error, ServerUnreachable):
        return Notice("server.unreachable")
    if isinstance(error, ApiError):
        return Notice(error.code, dict(error.extra))
    if isinstance(error, CardError | DeviceError):
        return Notice(error.code)
    raise error


class Controller:
    """Base: listeners are told after every change; ``clear()`` forgets personal data."""

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or InlineRunner()
        self._listeners: list[Callable[[], None]] = []
        self.busy = False
        self.notice: Notice | None = None
        self._generation = 0  # bumped by clear(): late answers of an abandoned flow are dropped

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def clear(self) -> None:
        self._generation += 1
        self.busy = False
        self.notice = None
        self.changed()

    def run(
        self,
        work: Callable[[], T],
        on_ok: Callable[[T], None],
        on_error: Callable[[Notice], None] | None = None,
    ) -> None:
        """Run slow ``work``; then ``on_ok(result)`` or ``on_error(notice)`` (default: show it)."""
        generation = self._generation
        self.busy = True
        self.notice = None
        self.changed()

        def done(result: Any, error: BaseException | None) -> None:
            if generation != self._generation:
                return  # the flow was cleared (idle, home) while the call was out
            self.busy = False
            if error is None:
                on_ok(result)
            else:
                notice = notice_for(error)
                if on_error is not None:
                    on_error(notice)
                else:
                    self.notice = notice
            self.changed()

        self.runner.submit(work, done)
